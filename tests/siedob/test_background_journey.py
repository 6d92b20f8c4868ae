"""SIEDOB's background stage as a user runs it: train.py on the session's demo data in real processes
(tiny widths, 64×64 crops; the data only read), the logs, grids and checkpoints it writes, a kill -9
and --continue_train giving the weights of an uninterrupted run, test.py on the result, and the
one-line errors (exit 2, nothing written)."""
import os
import signal
import subprocess
import time

import numpy as np
import pytest
import torch
from PIL import Image

import helpers
import train as train_script
from helpers import load, python, run

STAGE = ['--model', 'siedob', '--stage', 'background']
TINY = STAGE + ['--dataset_name', 'demo', *helpers.TINY_NETS, '--crop_size', '64', '--batch_size', '1',
                '--num_workers', '0', '--print_freq', '1', '--display_freq', '4', '--save_latest_freq', '2',
                '--save_epoch_freq', '0']
ITERS = 8
ENV = dict(os.environ, PYTHONPATH=helpers.ROOT, OMP_NUM_THREADS='1')


@pytest.fixture(scope='module')
def user(tmp_path_factory, demo_root):
    """A fresh working folder, the session's demo data as --dataroot (only read), and a straight run."""
    folder = tmp_path_factory.mktemp('siedob_user')
    tiny = TINY + ['--dataroot', demo_root]
    with helpers.NothingWritten(demo_root):
        out = run(folder, *python('train.py', *tiny, '--name', 'straight', '--max_iters', ITERS))
    return folder, out, tiny


def test_training_writes_progress_logs_grids_and_checkpoints(user):
    folder, out, _ = user
    assert f'Done: {ITERS} iterations.' in out and 'G_GAN_patch' in out
    exp = folder / 'checkpoints' / 'straight'
    ckpt = load(exp / 'latest.pth')
    assert (ckpt['model'], ckpt['stage'], ckpt['total_iters']) == ('siedob', 'background', ITERS)
    assert set(ckpt['nets']) == {'netG_BG', 'netD_BG', 'netD_patch'}
    assert set(ckpt['optimizers']) == {'optimizer_G_BG', 'optimizer_D_BG', 'optimizer_D_patch'}
    assert ckpt['optimizers']['optimizer_G_BG']['param_groups'][0]['lr'] == 2e-4   # upstream's rate, for G and D
    assert ckpt['optimizers']['optimizer_D_patch']['param_groups'][0]['lr'] == 2e-4
    log = open(exp / 'loss_log.txt').read()
    assert log.count('D_real_patch') >= ITERS       # every iteration (--print_freq 1), and the end
    assert any(f.startswith('events.out.tfevents') for f in os.listdir(exp / 'logs'))
    grid = Image.open(exp / 'web' / 'images' / f'iter_{ITERS:08d}.png')
    # input | masked input | label | background mask | raw output | composite
    assert grid.size == (6 * 64 + 5 * 4, 64)
    assert sorted(os.listdir(folder)) == ['checkpoints']  # no demo data generated in the working folder


def test_kill_9_then_continue_train_gives_the_uninterrupted_weights(user):
    folder, _, tiny = user
    argv = python('train.py', *tiny, '--name', 'killed')
    proc = subprocess.Popen(argv + ['--max_iters', '100000'], cwd=folder, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    latest = folder / 'checkpoints' / 'killed' / 'latest.pth'
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            if latest.exists() and load(latest)['total_iters'] >= 2:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)   # no handler, no save on the way out
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL
    at_kill = load(latest)['total_iters']
    assert 2 <= at_kill < ITERS, at_kill
    out = run(folder, *argv, '--max_iters', ITERS, '--continue_train')
    assert f'iteration {at_kill}' in out and f'Done: {ITERS} iterations.' in out
    a, b = load(folder / 'checkpoints' / 'straight' / 'latest.pth'), load(latest)
    helpers.assert_same_state(a, b)  # the same operations on the same numbers: bit-identical
    for name, state in a['optimizers'].items():
        for i, s in state['state'].items():
            assert all(torch.equal(b['optimizers'][name]['state'][i][k], s[k]) for k in ('exp_avg', 'exp_avg_sq'))


def test_test_py_edits_with_the_background_stage(user, demo_root):
    folder, _, _ = user
    with helpers.NothingWritten(demo_root):
        out = run(folder, *python('test.py', '--name', 'straight', '--how_many', '2'))
    assert f"Wrote 2 edited images to {os.path.join('results', 'straight', 'test_latest')}/edited/" in out
    demo = os.path.join(demo_root, 'demo', 'test')
    mask = np.zeros((256, 256), np.uint8)
    mask[64:192, 64:192] = 255
    Image.fromarray(mask).save(folder / 'mask.png')
    image = os.path.join(demo, 'images', 'demo_00000.jpg')
    run(folder, *python('test.py', '--name', 'straight', '--image_path', image, '--segmap_path',
                        os.path.join(demo, 'labels', 'demo_00000.png'), '--mask_path', 'mask.png',
                        '--output_path', 'out/edited.png'))
    edited = np.asarray(Image.open(folder / 'out' / 'edited.png'))
    original = np.asarray(Image.open(image))
    assert edited.shape == original.shape
    assert np.abs(edited[mask == 0].astype(int) - original[mask == 0]).max() <= 1  # known pixels kept


def test_help_and_errors(demo_root, tmp_path, monkeypatch, capsys):
    """--help lists the stage's flags; a wrong command line stops with exit 2 and one line, writing
    nothing in a fresh working folder or the data."""
    monkeypatch.chdir(tmp_path)
    code, out, _, _ = helpers.run_main(train_script.main, [*STAGE, '--help'], capsys)
    assert code == 0
    for flag in ('--lambda_patch', '--patch_num', '--symmetric_boundary', '--fg_classes', '--high_res',
                 '--object_classes', '--keep_label_0', '--lr_policy'):
        assert flag in out, flag
    tiny = TINY + ['--dataroot', demo_root, '--name', 'x', '--max_iters', '1']
    for argv, said in (([*STAGE[:2], '--dataset_name', 'demo', '--dataroot', demo_root],
                        'SIEDOB is trained stage by stage: give --stage background'),
                       (tiny + ['--crop_size', '72'], 'multiples of 16'),
                       (tiny + ['--no_instance'], 'SIEDOB needs Cityscapes-format instance maps')):
        with helpers.NothingWritten(tmp_path, demo_root):
            helpers.expect_user_error(train_script.main, argv, capsys, said)
        assert os.listdir(tmp_path) == [], argv
