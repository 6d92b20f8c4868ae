"""SIEDOB's background stage as a user runs it: train.py on the demo data in real processes (tiny
widths, 64×64 crops), the logs, grids and checkpoints it writes, a kill -9 and --continue_train giving
the weights of an uninterrupted run, test.py on the result, and the one-line errors."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN, TEST = os.path.join(ROOT, 'train.py'), os.path.join(ROOT, 'test.py')
STAGE = ['--model', 'siedob', '--stage', 'background']
TINY = STAGE + ['--dataset_name', 'demo', '--ngf', '4', '--ndf', '8', '--lambda_vgg', '0', '--crop_size', '64', '--batch_size', '1',
                '--num_workers', '0', '--print_freq', '1', '--display_freq', '4', '--save_latest_freq', '2',
                '--save_epoch_freq', '0']
ITERS = 12
ENV = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')


def run(cwd, *argv, expect=0, timeout=600):
    res = subprocess.run([str(a) for a in argv], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout,
                         stdin=subprocess.DEVNULL)
    out = res.stdout + res.stderr
    assert 'Traceback' not in out, out[-3000:]
    assert res.returncode == expect, f'exit {res.returncode}, expected {expect}:\n{out[-3000:]}'
    return out


def load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


@pytest.fixture(scope='module')
def user(tmp_path_factory):
    """A fresh folder; the first run generates the demo data in ./datasets."""
    folder = tmp_path_factory.mktemp('siedob_user')
    out = run(folder, sys.executable, TRAIN, *TINY, '--name', 'straight', '--max_iters', ITERS)
    return folder, out


def test_training_writes_progress_logs_grids_and_checkpoints(user):
    folder, out = user
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
    assert sorted(os.listdir(folder / 'datasets' / 'demo' / 'train')) == ['images', 'images2048', 'inst_map', 'labels']


def test_kill_9_then_continue_train_gives_the_uninterrupted_weights(user):
    folder, _ = user
    argv = [sys.executable, TRAIN, *TINY, '--name', 'killed']
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
    for net in a['nets']:  # the same operations on the same numbers: bit-identical
        for k, v in a['nets'][net].items():
            assert torch.equal(b['nets'][net][k], v), f'{net}.{k}'
    for name, state in a['optimizers'].items():
        for i, s in state['state'].items():
            assert all(torch.equal(b['optimizers'][name]['state'][i][k], s[k]) for k in ('exp_avg', 'exp_avg_sq'))


def test_test_py_edits_with_the_background_stage(user):
    folder, _ = user
    out = run(folder, sys.executable, TEST, '--name', 'straight', '--how_many', '2')
    assert f"Wrote 2 edited images to {os.path.join('results', 'straight', 'test_latest')}/edited/" in out
    demo = folder / 'datasets' / 'demo' / 'test'
    mask = np.zeros((256, 256), np.uint8)
    mask[64:192, 64:192] = 255
    Image.fromarray(mask).save(folder / 'mask.png')
    out = run(folder, sys.executable, TEST, '--name', 'straight', '--image_path', demo / 'images' / 'demo_00000.jpg',
              '--segmap_path', demo / 'labels' / 'demo_00000.png', '--mask_path', 'mask.png',
              '--output_path', 'out/edited.png')
    edited = np.asarray(Image.open(folder / 'out' / 'edited.png'))
    original = np.asarray(Image.open(demo / 'images' / 'demo_00000.jpg'))
    assert edited.shape == original.shape
    assert np.abs(edited[mask == 0].astype(int) - original[mask == 0]).max() <= 1  # known pixels kept


def error_line(out):
    lines = [x for x in out.splitlines() if x.startswith('error: ')]
    assert len(lines) == 1, out[-3000:]
    return lines[0]


def test_help_and_errors(user):
    folder, _ = user
    out = run(folder, sys.executable, TRAIN, *STAGE, '--help')
    for flag in ('--lambda_patch', '--patch_num', '--symmetric_boundary', '--fg_classes', '--high_res',
                 '--object_classes', '--keep_label_0', '--lr_policy'):
        assert flag in out, flag
    out = run(folder, sys.executable, TRAIN, '--model', 'siedob', '--dataset_name', 'demo', expect=2)
    assert error_line(out).startswith('error: SIEDOB is trained stage by stage: give --stage background')
    out = run(folder, sys.executable, TRAIN, *TINY, '--name', 'x', '--crop_size', '72', expect=2)
    assert 'multiples of 16' in error_line(out)
    out = run(folder, sys.executable, TRAIN, *TINY, '--name', 'x', '--no_instance', expect=2)
    assert 'SIEDOB needs Cityscapes-format instance maps' in error_line(out)
