"""scripts/benchmark.py at tiny settings, run as a user runs it: its table, JSON, work counts, profile
and whole-process rows report what they should (no timing is asserted: speed claims come from the
script itself)."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ('--ngf', '4', '--ndf', '8', '--repeats', '1', '--warmup', '0', '--skip_memory')
STAGES = ('background', 'object_inpainting', 'object_style')
#: the runs the tests read, by name: the script's arguments after TINY
RUNS = {
    'spmpgan': ('--throughput_batch', '1', '--process_repeats', '1'),
    **{stage: ('--model', 'siedob', '--stage', stage, '--throughput_batch', '1') for stage in STAGES},
    'siedob': ('--model', 'siedob', '--throughput_batch', '2', '--process_repeats', '1'),
}
RUNS['background'] += ('--size', '64')
RUNS['object_style'] += ('--profile',)
#: the long runs keep two threads (SPM-PGAN's batch-1 edits take fast.kernels.conv2d's oneDNN route
#: only then); the others run on one
TWO_THREADS = ('spmpgan', 'siedob')


class Run:
    """One run of the script in the background; its output, JSON and temporary folders (the examples,
    SIEDOB's parts) in ``folder``."""

    def __init__(self, folder, args, threads):
        self.folder = folder
        (folder / 'tmp').mkdir()
        # passive: a thread waiting for work sleeps instead of spinning on a core another run needs
        env = dict(os.environ, TMPDIR=str(folder / 'tmp'), OMP_NUM_THREADS=str(threads), OMP_WAIT_POLICY='PASSIVE')
        with open(folder / 'stdout', 'w') as out, open(folder / 'stderr', 'w') as err:
            self.process = subprocess.Popen([sys.executable, 'scripts/benchmark.py', *TINY, *args, '--json',
                                             str(folder / 'bench.json')], cwd=ROOT, env=env, stdout=out, stderr=err)

    def result(self):
        """(its JSON, what it printed) once it has finished; its temporary folders must be gone."""
        code = self.process.wait(timeout=900)
        assert code == 0, (self.folder / 'stderr').read_text()[-3000:]
        assert not [name for name in os.listdir(self.folder / 'tmp') if name.startswith('semedit_')]
        return json.loads((self.folder / 'bench.json').read_text()), (self.folder / 'stdout').read_text()


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """Every run, started together: much of a run is single-threaded (starting processes, building
    nets, VGG19's initialisation), so side by side they keep both cores busy."""
    started = {name: Run(tmp_path_factory.mktemp('benchmark'), args, 2 if name in TWO_THREADS else 1)
               for name, args in RUNS.items()}
    yield started
    for run in started.values():
        run.process.kill()
        run.process.wait()


def test_benchmark_script(runs):
    """SPM-PGAN: the table, the JSON, the fast path's agreement with the reference through the
    script's own path, the work it executes, and the whole-process rows."""
    res, printed = runs['spmpgan'].result()
    assert set(res['inference']) == {'box', 'brush', 'right_half', 'outpainting'}
    # agreement as the script reports it: far below one grey level (2/255 = 7.8e-3 in [-1, 1]); the
    # fast path's float32 accuracy itself is tested in test_fast_path.py against float64
    assert all(v['max_abs_diff'] <= 1e-3 and v['fast_s'] > 0 for v in res['inference'].values())
    # the executed work follows the mask: a 15 % box leaves far less than a 75 % frame, which spans
    # the whole image and so leaves all of it: there the two counts agree, the oneDNN convs of
    # fast.kernels.conv2d included (FlopCounterMode would miss them unless the benchmark registers them)
    assert res['threads'] == 2 and res['inference']['box']['work_ratio'] > 1.5
    assert 0.99 <= res['inference']['outpainting']['work_ratio'] <= 1.01
    assert res['gflops_per_image'] > 0 and res['params_generator'] > 0 and res['generator'] == 'netG'
    assert 'inference b1, box mask' in printed
    # the whole-process edit: the authors' test.py steps, ours with --forward reference and ours by
    # default, each a real process on the authors' README example; the default meets the fidelity
    # rule against the reference PNG
    rows = res['whole_process_edit']['processes']
    assert list(rows) == ["authors' test.py steps", 'test.py --forward reference', 'test.py (default)']
    assert all(v['median_s'] > 0 and v['peak_rss_mib'] > 0 for v in rows.values())
    f = res['whole_process_edit']['fidelity']
    assert f['edited_share_over_1_level'] <= 1e-3 and f['edited_mean_levels'] < 0.05 and f['known_max_levels'] <= 1


def test_benchmark_counts_training_work(runs):
    """SPM-PGAN's training-iteration FLOP count: the windows (semantic branches, D's first layer)
    make the fast iteration do less work than the reference, VGG19 being common to both."""
    training = runs['spmpgan'].result()[0]['training']
    # VGG19 up to relu5_1 on the three scales (256², 128², 64²): ~61.6 GFLOP per forward; the fake's
    # and the real's forwards and the fake's backward to its input are about three of them
    assert 3 * 61.6 * 0.97 < training['fast_gflop'] < training['reference_gflop']


@pytest.mark.parametrize('stage,generator', [('background', 'netG_BG'), ('object_inpainting', 'netG'),
                                             ('object_style', 'netG')])
def test_benchmark_rows_for_siedobs_stages(runs, stage, generator):
    """The same rows for SIEDOB's generators (--model siedob --stage S): inference per mask, a
    training iteration (the generator, its discriminators, bg_G's boundary patches), reference vs
    fast; object crops at 64×64 by default."""
    res, printed = runs[stage].result()
    assert res['model'] == f'siedob --stage {stage}' and res['generator'] == generator and res['size'] == 64
    assert all(v['max_abs_diff'] <= 1e-4 for v in res['inference'].values())   # bg_G: the SSP matmul vs the loop
    assert res['training']['reference_s'] > 0 and res['training']['fast_gflop'] > 0
    assert 'whole_process_edit' not in res                                      # the SPM-PGAN authors' example
    assert generator in printed


def test_benchmark_profile(runs):
    """--profile: the fast path's top operators for an edit and a training iteration, printed too."""
    res, printed = runs['object_style'].result()
    assert set(res['profile']) == {'inference b1', 'training iteration b1'}
    assert all(rows['ops'][0]['ms'] > 0 for rows in res['profile'].values())
    assert 'profile, fast path' in printed


def test_benchmark_rows_for_the_siedob_editor(runs):
    """--model siedob: the end-to-end edit (four parts from a folder in the authors' layout, three
    objects edited in part) per mask, reference vs fast; the fusion stage's training iteration; the
    whole-process edit against upstream's steps and test.py --forward reference."""
    res, printed = runs['siedob'].result()
    assert res['model'] == 'siedob' and res['generator'] == 'netG_inp + netG_sty + netG_BG + netG_F'
    assert all(v['max_abs_diff'] <= 1e-3 for v in res['inference'].values())
    assert res['training']['reference_s'] > 0
    rows = res['whole_process_edit']['processes']
    assert list(rows) == ["upstream's steps (reference)", 'test.py --forward reference', 'test.py (default)']
    f = res['whole_process_edit']['fidelity']
    assert f['edited_mean_levels'] < 0.5 and f['known_max_levels'] <= 1
    assert 'whole-process edit' in printed
