"""scripts/benchmark.py at tiny settings, run as a user runs it: its table (rows and columns), JSON,
ratios, work counts and profile report what they should (no timing is asserted: speed claims come
from the script itself). Kept small, side by side on two cores: ngf 4, one repeat, no VGG19 term (a
training iteration's work is then G's and the D's, where the windows act), two of SIEDOB's three
stages, training iterations where a test reads them (SPM-PGAN's, object_style's profile), and no
whole-process edit (six processes in turn, longer than all the rest): its launcher, fidelity and
table are checked in-process on a stand-in (test_whole_process_rows)."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ('--ngf', '4', '--ndf', '8', '--lambda_vgg', '0', '--repeats', '1', '--warmup', '0', '--skip_memory')
STAGES = ('background', 'object_style')  # object_inpainting's rows come from the same code as object_style's
#: the runs the tests read, by name: the script's arguments after TINY
RUNS = {
    'spmpgan': ('--throughput_batch', '1', '--skip_process'),
    **{stage: ('--model', 'siedob', '--stage', stage, '--throughput_batch', '1') for stage in STAGES},
    'siedob': ('--model', 'siedob', '--throughput_batch', '2', '--skip_process', '--skip_training'),
}
RUNS['background'] += ('--size', '64', '--skip_training')
RUNS['object_style'] += ('--profile',)
#: SPM-PGAN's batch-1 edits take fast.kernels.conv2d's oneDNN route only with two threads (checked); the others
#: run on one, side by side
TWO_THREADS = ('spmpgan',)
FAMILIES = ['box', 'brush', 'right_half', 'outpainting']
HEADER = ['measurement', 'reference', 'fast', 'speed-up', 'max |diff|', 'work cut']


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


def table(printed):
    """The printed table: {measurement: [its cells]}, after checking the header's columns."""
    lines = printed.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('measurement'))
    assert re.split(r'\s{2,}', lines[start].strip()) == HEADER
    rows = {}
    for line in lines[start + 1:]:
        if not line.strip():
            break
        name, cells = line[:34].strip(), line[34:].split()
        rows[name] = cells
    return rows


def assert_ratios_and_rows(res, printed):
    """Every speed-up is reference / fast and every work cut the reference's GFLOP over the fast
    path's, in the JSON and as printed in the table's columns (one row per measurement)."""
    rows = table(printed)
    names = [f'inference b1, {f} mask (s)' for f in FAMILIES]
    t = res['throughput']
    names.append(f"throughput b{t['batch']}, box (img/s)")
    if 'training' in res:
        names.append('training iteration b1 (s)')
    assert list(rows) == names
    for family, name in zip(FAMILIES, names):
        v = res['inference'][family]
        assert v['speedup'] == pytest.approx(v['reference_s'] / v['fast_s'], rel=1e-12)
        assert v['work_ratio'] == pytest.approx(res['gflops_per_image'] / v['fast_gflop'], rel=1e-12)
        assert rows[name] == [f"{v['reference_s']:.3f}", f"{v['fast_s']:.3f}", f"{v['speedup']:.2f}×",
                              f"{v['max_abs_diff']:.2e}", f"{v['work_ratio']:.2f}×"]
    assert t['speedup'] == pytest.approx(t['fast_img_s'] / t['reference_img_s'], rel=1e-12)
    assert rows[names[4]][:3] == [f"{t['reference_img_s']:.2f}", f"{t['fast_img_s']:.2f}", f"{t['speedup']:.2f}×"]
    if 'training' in res:
        tr = res['training']
        assert tr['speedup'] == pytest.approx(tr['reference_s'] / tr['fast_s'], rel=1e-12)
        assert rows[names[5]] == [f"{tr['reference_s']:.3f}", f"{tr['fast_s']:.3f}", f"{tr['speedup']:.2f}×",
                                  f"{tr['reference_gflop'] / tr['fast_gflop']:.2f}×"]


def test_benchmark_script(runs):
    """SPM-PGAN: the table's rows and columns and its ratios, the JSON, the fast path's agreement with
    the reference through the script's own path, and the work it executes."""
    res, printed = runs['spmpgan'].result()
    assert set(res['inference']) == set(FAMILIES)
    assert_ratios_and_rows(res, printed)
    # agreement as the script reports it: far below one grey level (2/255 = 7.8e-3 in [-1, 1]); the
    # fast path's float32 accuracy itself is tested in test_fast_path.py against float64
    assert all(v['max_abs_diff'] <= 1e-3 and v['fast_s'] > 0 for v in res['inference'].values())
    # the executed work follows the mask: a 15 % box leaves far less than a 75 % frame, which spans
    # the whole image and so leaves all of it: there the two counts agree, the oneDNN convs of
    # fast.kernels.conv2d included (FlopCounterMode would miss them unless the benchmark registers them)
    assert res['threads'] == 2 and res['inference']['box']['work_ratio'] > 1.5
    assert 0.99 <= res['inference']['outpainting']['work_ratio'] <= 1.01
    assert res['gflops_per_image'] > 0 and res['params_generator'] > 0 and res['generator'] == 'netG'
    assert 'whole_process_edit' not in res  # --skip_process
    assert_warm_edit(res, printed, [1])


def assert_warm_edit(res, printed, batches):
    """The warm-edit rows: editor.edit beside its model's bare forward, the overhead their ratio, as printed."""
    rows = res['warm_edit']
    assert list(rows) == [f'b{n}' for n in batches]
    lines = printed.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('warm edit'))
    for line, (name, v) in zip(lines[start + 1:], rows.items()):
        assert v['forward_s'] > 0 and v['overhead'] == pytest.approx(v['edit_s'] / v['forward_s'] - 1, rel=1e-12)
        assert line.split() == [name, f"{v['forward_s']:.3f}", f"{v['edit_s']:.3f}", f"{100 * v['overhead']:.1f}%"]


def test_benchmark_counts_training_work(runs):
    """SPM-PGAN's training-iteration FLOP count: the reference's counts G's forward and backward (at
    least three times the edit's work, plus the D's); the windows (semantic branches, D's first
    layer) cut the fast iteration's, on the box mask about as much as the edit's (measured 2.2×)."""
    res = runs['spmpgan'].result()[0]
    training = res['training']
    assert 3 * res['gflops_per_image'] < training['reference_gflop']
    assert training['reference_gflop'] / training['fast_gflop'] > 1.5


@pytest.mark.parametrize('stage,generator', [('background', 'netG_BG'), ('object_style', 'netG')])
def test_benchmark_rows_for_siedobs_stages(runs, stage, generator):
    """The same rows for SIEDOB's generators (--model siedob --stage S): inference per mask, a
    training iteration (object_style's: the generator and its discriminators), reference vs fast;
    object crops at 64×64 by default."""
    res, printed = runs[stage].result()
    assert res['model'] == f'siedob --stage {stage}' and res['generator'] == generator and res['size'] == 64
    assert_ratios_and_rows(res, printed)
    assert all(v['max_abs_diff'] <= 1e-4 for v in res['inference'].values())   # bg_G: the SSP matmul vs the loop
    if stage == 'object_style':
        assert res['training']['reference_s'] > 0 and res['training']['fast_gflop'] > 0
    else:
        assert 'training' not in res                                            # --skip_training
    assert 'whole_process_edit' not in res and 'warm_edit' not in res  # a stage: no editor of its own
    assert generator in printed


def test_benchmark_profile(runs):
    """--profile: the fast path's top operators for an edit and a training iteration, printed too."""
    res, printed = runs['object_style'].result()
    assert set(res['profile']) == {'inference b1', 'training iteration b1'}
    assert all(rows['ops'][0]['ms'] > 0 for rows in res['profile'].values())
    assert 'profile, fast path' in printed


def test_benchmark_rows_for_the_siedob_editor(runs):
    """--model siedob: the end-to-end edit (four parts from a folder in the authors' layout, three
    objects edited in part) per mask and at batch 2, reference vs fast."""
    res, printed = runs['siedob'].result()
    assert res['model'] == 'siedob' and res['generator'] == 'netG_inp + netG_sty + netG_BG + netG_F'
    assert_ratios_and_rows(res, printed)
    assert res['throughput']['batch'] == 2
    assert all(v['max_abs_diff'] <= 1e-3 for v in res['inference'].values())
    assert 'training' not in res and 'whole_process_edit' not in res
    assert_warm_edit(res, printed, [1, 2])


def test_whole_process_rows(runs, tmp_path, capsys):
    """The whole-process edit's parts without its six processes: the launcher reports a process's
    own peak memory (a child writing 200 MiB, not this large process's), the fidelity counts, and
    the table's process rows and columns, each ratio first / this."""
    from scripts.benchmarking.table import print_table
    from scripts.benchmarking.whole_process import fidelity, run_timed
    seconds, peak = run_timed([sys.executable, '-c', "b = b'x' * (200 * 2 ** 20)"])
    assert seconds > 0 and 200 <= peak < 300, peak
    reference = np.zeros((10, 10, 3), np.uint8)
    default = reference.copy()
    default[0, 0] = 3          # in the hole: 3 levels off
    default[1, 1, 2] = 1       # in the hole: 1 level off
    default[9, 9] = 1          # known region: 1 level off
    mask = np.zeros((10, 10), np.uint8)
    mask[:5, :5] = 255
    for name, array in (('reference.png', reference), ('default.png', default), ('mask.png', mask)):
        Image.fromarray(array).save(tmp_path / name)
    f = fidelity(str(tmp_path), str(tmp_path / 'mask.png'))
    assert f == {'edited_share_over_1_level': 1 / 25, 'edited_mean_levels': pytest.approx((3 * 3 + 1) / 75),
                 'known_max_levels': 1}
    processes = {"authors' test.py steps": (6.43, 1771), 'test.py --forward reference': (2.27, 619),
                 'test.py (default)': (3.21, 605)}
    res = dict(runs['spmpgan'].result()[0])  # a real run's numbers, with whole-process rows added
    res['whole_process_edit'] = {'checkpoint_mb': 5.0, 'repeats': 1, 'fidelity': f, 'processes': {
        name: {'median_s': s, 'min_s': s, 'max_s': s, 'peak_rss_mib': m} for name, (s, m) in processes.items()}}
    print_table(res)
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('process'))
    assert lines[start].split() == ['process', 'median', 's', 'min', 'max', 'vs', 'first', 'peak', 'MiB']
    for line, (name, (s, m)) in zip(lines[start + 1:start + 4], processes.items()):
        assert line.startswith(name) and line[34:].split() == [f'{s:.2f}'] * 3 + [f'{6.43 / s:.2f}×', str(m)]
    assert lines[start + 4].startswith('default vs --forward reference PNG: edited region 4.000 % of pixels')
