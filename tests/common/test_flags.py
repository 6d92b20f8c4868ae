"""Flags that change what is computed, each checked for its effect through the real option parsers
(a renamed option read with a default elsewhere would silently disable it): --inclusive_box,
--color_order rgb in training and in conversion, --which_epoch, and the stage defaults --help shows."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import test as test_script
import train as train_script
from semedit.data import create_dataset
from helpers import ROOT, TINY_NETS, TINY_RUN, expect_user_error, load
from semedit.models.legacy import swap_color_order
from semedit.options.train_options import TrainOptions

#: demo sample 4 draws upstream's instance-box mask (type index % 5 == 4)
INSTANCE_BOX_SAMPLE = 4


def box_of(mask):
    rows, cols = np.nonzero(mask)
    return rows.min(), rows.max() + 1, cols.min(), cols.max() + 1


def demo_item(demo_root, phase, *flags, index=INSTANCE_BOX_SAMPLE):
    opt = TrainOptions().parse(['--dataset_name', 'demo', '--dataroot', demo_root, *flags])
    return create_dataset(opt, phase)[index]


def test_inclusive_box_grows_the_training_box_by_its_last_row_and_column(demo_root):
    upstream = demo_item(demo_root, 'train')['mask'][0].numpy()
    fixed = demo_item(demo_root, 'train', '--inclusive_box')['mask'][0].numpy()
    r0, r1, c0, c1 = box_of(upstream)
    assert box_of(fixed) == (r0, r1 + 1, c0, c1 + 1)    # the same instance, its end row and column included
    assert (fixed >= upstream).all() and fixed.sum() == upstream.sum() + (r1 - r0) + (c1 - c0) + 1
    # the seeded test-split masks keep upstream's box whatever the flag
    assert torch.equal(demo_item(demo_root, 'test')['mask'], demo_item(demo_root, 'test', '--inclusive_box')['mask'])


@pytest.fixture(scope='module')
def runs(tmp_path_factory, demo_root):
    """train(name, *flags): one-image SPM-PGAN runs on the demo; the run's folder."""
    folder = tmp_path_factory.mktemp('flags')

    def train(name, *flags):
        train_script.main(['--dataset_name', 'demo', '--dataroot', demo_root, *TINY_NETS, *TINY_RUN,
                           '--max_dataset_size', '1', '--display_freq', '1', '--checkpoints_dir', str(folder),
                           '--name', name, *flags])
        return folder / name

    return train


def test_color_order_rgb_trains_on_rgb_tensors_and_says_so(demo_root, runs):
    bgr = demo_item(demo_root, 'train', index=0)['image']
    rgb = demo_item(demo_root, 'train', '--color_order', 'rgb', index=0)['image']
    assert torch.equal(rgb, bgr.flip(0)) and not torch.equal(rgb, bgr)
    grids = []
    for order in ('bgr', 'rgb'):
        run = runs(f'order_{order}', '--color_order', order, '--max_iters', '1')
        assert load(run / 'latest.pth')['arch']['color_order'] == order
        grids.append(np.asarray(Image.open(run / 'web' / 'images' / 'iter_00000001.png')))
    # the grids show the same input picture (the visualiser turns either order back into RGB)
    assert np.array_equal(grids[0][:, :256], grids[1][:, :256])


def test_convert_checkpoint_color_order_permutes_exactly_and_back(runs, tmp_path):
    src = runs('order_bgr', '--color_order', 'bgr', '--max_iters', '1') / 'latest.pth'

    def convert(a, b, order):
        res = subprocess.run([sys.executable, 'scripts/convert_checkpoint.py', str(a), str(b), '--to', 'ours',
                              '--color_order', order], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        return load(b)

    rgb = convert(src, tmp_path / 'rgb.pth', 'rgb')
    original = load(src)
    want = swap_color_order(original['nets'])
    assert rgb['arch']['color_order'] == 'rgb' and rgb['optimizers'] == {}
    changed = [k for k, v in rgb['nets']['netG'].items() if not torch.equal(v, original['nets']['netG'][k])]
    assert changed and all(torch.equal(rgb['nets']['netG'][k], want['netG'][k]) for k in rgb['nets']['netG'])
    back = convert(tmp_path / 'rgb.pth', tmp_path / 'bgr.pth', 'bgr')
    assert all(torch.equal(v, original['nets']['netG'][k]) for k, v in back['nets']['netG'].items())


def test_which_epoch_edits_with_that_epoch(runs, demo_root, tmp_path, capsys):
    run = runs('epochs', '--niter', '2', '--save_epoch_freq', '1')
    common = ['--name', 'epochs', '--checkpoints_dir', str(run.parent), '--dataroot', demo_root, '--how_many', '1',
              '--results_dir', str(tmp_path), '--device', 'cpu']
    test_script.main(common + ['--which_epoch', '1'])
    assert os.path.join(str(run), 'epoch_001.pth') in capsys.readouterr().out
    test_script.main(common)
    capsys.readouterr()
    first, last = (np.asarray(Image.open(tmp_path / 'epochs' / f'test_{w}' / 'edited' / 'demo_00000.png'))
                   for w in ('1', 'latest'))
    assert not np.array_equal(first, last)   # one more iteration changed the weights
    expect_user_error(test_script.main, common + ['--which_epoch', '3'], capsys,
                      os.path.join(str(run), 'epoch_003.pth'), 'not found')


@pytest.mark.parametrize('stage,batch,ngf', [('background', 21, 32), ('object_inpainting', 90, 64)])
def test_help_shows_a_stage_s_own_defaults(stage, batch, ngf):
    """--help is printed after the model has set its defaults (the stage's recipe, not the shared 1 / 32)."""
    res = subprocess.run([sys.executable, 'train.py', '--model', 'siedob', '--stage', stage, '--help'], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    text = ' '.join(res.stdout.split())
    assert res.returncode == 0
    assert f'--batch_size BATCH_SIZE images per batch (upstream: 1) (default: {batch})' in text
    assert f'(default: {ngf})' in text.rsplit('--ngf NGF', 1)[1].split(' --', 1)[0]
    assert "rate = lr × this (the authors' recipes: SPM-PGAN 4, SIEDOB 1) (default: 1.0)" in text
