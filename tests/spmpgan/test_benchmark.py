"""scripts/benchmark.py at tiny settings: its table, JSON, work counts and whole-process row run and
report what they should (no timing is asserted: speed claims come from the script itself)."""
import argparse
import os

import pytest
import torch
import torch.nn.functional as F

L = 34


def test_benchmark_script_smoke(tmp_path, capsys):
    """scripts/benchmark.py end to end at tiny settings: the table, the JSON, the profile and the
    fast path's agreement with the reference through the script's own path (no timing asserted)."""
    import json
    import engine.benchmark as bench
    out = tmp_path / 'bench.json'
    bench.main(['--ngf', '4', '--ndf', '8', '--repeats', '1', '--warmup', '0', '--throughput_batch', '1',
                '--skip_memory', '--skip_training', '--skip_process', '--profile', '--json', str(out)])
    res = json.loads(out.read_text())
    assert set(res['inference']) == {'box', 'brush', 'right_half', 'outpainting'}
    # agreement as the script reports it: far below one grey level (2/255 = 7.8e-3 in [-1, 1]); the
    # fast path's float32 accuracy itself is tested in test_fast_path.py against float64
    assert all(v['max_abs_diff'] <= 1e-3 and v['fast_s'] > 0 for v in res['inference'].values())
    # the executed work follows the mask: a 15 % box leaves far less than a 75 % frame
    assert res['inference']['box']['work_ratio'] > 1.5 > res['inference']['outpainting']['work_ratio'] >= 0.99
    assert res['gflops_per_image'] > 0 and res['params_generator'] > 0 and res['generator'] == 'netG'
    assert res['profile']['inference b1']['ops'][0]['ms'] > 0
    printed = capsys.readouterr().out
    assert 'inference b1, box mask' in printed and 'profile, fast path' in printed


@pytest.mark.parametrize('stage,generator', [('background', 'netG_BG'), ('object_inpainting', 'netG'),
                                             ('object_style', 'netG')])
def test_benchmark_rows_for_siedobs_stages(tmp_path, capsys, stage, generator):
    """The same rows for SIEDOB's generators (--model siedob --stage S): inference per mask, a
    training iteration (the generator, its discriminators, bg_G's boundary patches), reference vs
    fast; object crops at 64×64 by default."""
    import json
    import engine.benchmark as bench
    out = tmp_path / 'bg.json'
    bench.main(['--model', 'siedob', '--stage', stage, '--ngf', '4', '--ndf', '8', '--repeats', '1', '--warmup', '0',
                '--throughput_batch', '1', '--skip_memory', '--json', str(out)]
               + (['--size', '64'] if stage == 'background' else []))
    res = json.loads(out.read_text())
    assert res['model'] == f'siedob --stage {stage}' and res['generator'] == generator and res['size'] == 64
    assert all(v['max_abs_diff'] <= 1e-4 for v in res['inference'].values())   # bg_G: the SSP matmul vs the loop
    assert res['training']['reference_s'] > 0 and res['training']['fast_gflop'] > 0
    assert 'whole_process_edit' not in res                                      # the SPM-PGAN authors' example
    assert generator in capsys.readouterr().out



def test_benchmark_counts_training_work():
    """The benchmark's training-iteration FLOP count: the windows (semantic branches, D's first
    layer) make the fast iteration do less work than the reference, VGG19 being common to both."""
    import argparse
    import engine.benchmark as bench
    args = argparse.Namespace(model='spmpgan', stage=None, label_nc=L, ngf=4, ndf=8, size=256, amp='none',
                              compile=False, semantic_window='auto',
                              channels_last=False, cuda_graph=True)  # counted on an eager model anyway
    ref, fast = (bench.training_gflops(args, torch.device('cpu'), f) for f in (False, True))
    # VGG19 up to relu5_1 on the three scales (256², 128², 64²): ~61.6 GFLOP per forward; the fake's
    # and the real's forwards and the fake's backward to its input are about three of them
    assert 3 * 61.6 * 0.97 < fast < ref



def test_benchmark_counts_the_onednn_route(two_threads):
    """The work cut would be overstated if FlopCounterMode missed fast.kernels.conv2d's oneDNN convs."""
    import engine.benchmark as bench
    from models.networks.fast.kernels import conv2d
    x, w = torch.randn(1, 8, 10, 12), torch.randn(16, 8, 3, 3)
    with torch.inference_mode():
        routed = bench.executed_gflop(lambda: conv2d(x, w, None, 1, 1))
        plain = bench.executed_gflop(lambda: F.conv2d(x, w, None, 1, 1))
    assert routed == plain == 2 * 16 * 8 * 9 * 10 * 12 / 1e9



def test_benchmark_whole_process_row():
    """The whole-process edit: the authors' test.py steps, ours with --forward reference and ours by
    default, each a real process on the authors' README example; the default meets the fidelity rule
    against the reference PNG; the temporary files are gone afterwards."""
    import tempfile
    import engine.benchmark as bench
    before = set(os.listdir(tempfile.gettempdir()))
    res = bench.whole_process_edit(argparse.Namespace(model='spmpgan', stage=None, ngf=4, label_nc=L, size=256,
                                                      process_repeats=1))
    assert list(res['processes']) == ["authors' test.py steps", 'test.py --forward reference', 'test.py (default)']
    assert all(v['median_s'] > 0 and v['peak_rss_mib'] > 0 for v in res['processes'].values())
    f = res['fidelity']
    assert f['edited_share_over_1_level'] <= 1e-3 and f['edited_mean_levels'] < 0.05 and f['known_max_levels'] <= 1
    assert not [d for d in set(os.listdir(tempfile.gettempdir())) - before if d.startswith('semedit_bench_')]


def test_benchmark_rows_for_the_siedob_editor(tmp_path, capsys):
    """--model siedob: the end-to-end edit (four parts from a folder in the authors' layout, three
    objects edited in part) per mask, reference vs fast; the fusion stage's training iteration; the
    whole-process edit against upstream's steps and test.py --forward reference."""
    import json
    import tempfile
    import engine.benchmark as bench
    before = set(os.listdir(tempfile.gettempdir()))
    out = tmp_path / 'siedob.json'
    bench.main(['--model', 'siedob', '--ngf', '4', '--ndf', '8', '--repeats', '1', '--warmup', '0',
                '--throughput_batch', '2', '--skip_memory', '--process_repeats', '1', '--json', str(out)])
    res = json.loads(out.read_text())
    assert res['model'] == 'siedob' and res['generator'] == 'netG_inp + netG_sty + netG_BG + netG_F'
    assert all(v['max_abs_diff'] <= 1e-3 for v in res['inference'].values())
    assert res['training']['reference_s'] > 0
    rows = res['whole_process_edit']['processes']
    assert list(rows) == ["upstream's steps (reference)", 'test.py --forward reference', 'test.py (default)']
    f = res['whole_process_edit']['fidelity']
    assert f['edited_mean_levels'] < 0.5 and f['known_max_levels'] <= 1
    assert 'whole-process edit' in capsys.readouterr().out
    from engine import benchmark_siedob
    benchmark_siedob.cleanup()  # also at exit
    assert not [d for d in set(os.listdir(tempfile.gettempdir())) - before if d.startswith('semedit_')]
