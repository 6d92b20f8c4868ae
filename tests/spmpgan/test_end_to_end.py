"""train.py and test.py as a user runs them, on the demo dataset, tiny nets, a few iterations (resuming
exactly: tests/common/test_resume.py)."""
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

import test as test_script
import train as train_script
from helpers import NothingWritten, TINY_NETS, expect_user_error

TINY = ['--dataset_name', 'demo', *TINY_NETS, '--num_workers', '0', '--print_freq', '1', '--display_freq', '2',
        '--save_latest_freq', '0']


@pytest.fixture(scope='module')
def workdir(tmp_path_factory, demo_root):
    root = tmp_path_factory.mktemp('e2e')
    return {'data': demo_root, 'ckpt': str(root / 'checkpoints'), 'root': root}


def run_train(w, name, *extra):
    train_script.main(TINY + ['--dataroot', w['data'], '--checkpoints_dir', w['ckpt'], '--name', name, *extra])
    return os.path.join(w['ckpt'], name)


@pytest.fixture(scope='module')
def straight_run(workdir):
    """Four iterations in one go."""
    return run_train(workdir, 'straight', '--max_iters', '4')


def test_training_writes_checkpoint_options_logs_and_grids(straight_run):
    ckpt = torch.load(os.path.join(straight_run, 'latest.pth'), map_location='cpu', weights_only=True)
    assert ckpt['format'] == 'semedit' and ckpt['model'] == 'spmpgan'
    assert ckpt['arch'] == {'label_nc': 34, 'ngf': 4, 'hidden': 8, 'ndf': 8, 'color_order': 'bgr',
                            'spectral_norm': True}
    assert (ckpt['epoch'], ckpt['epoch_iter'], ckpt['total_iters']) == (0, 4, 4)
    assert set(ckpt['nets']) == {'netG', 'netD_1', 'netD_2', 'netD_3'}
    assert set(ckpt['optimizers']) == {'optimizer_G', 'optimizer_D_1', 'optimizer_D_2', 'optimizer_D_3'}
    opt = json.load(open(os.path.join(straight_run, 'opt.json')))
    assert opt['ngf'] == 4 and opt['label_nc'] == 34 and opt['dataset_name'] == 'demo'
    assert 'ngf: 4' in open(os.path.join(straight_run, 'opt.txt')).read().replace('  ', ' ').replace('ngf:  ', 'ngf: ')
    log = open(os.path.join(straight_run, 'loss_log.txt')).read()
    assert log.count('G_L1_3') >= 4
    assert any(f.startswith('events.out.tfevents') for f in os.listdir(os.path.join(straight_run, 'logs')))
    grids = sorted(os.listdir(os.path.join(straight_run, 'web', 'images')))
    assert 'iter_00000002.png' in grids and 'iter_00000004.png' in grids
    grid = Image.open(os.path.join(straight_run, 'web', 'images', grids[-1]))
    # input | masked | label | stage1 | stage2 | stage3, 256 high with 4-pixel gaps
    assert grid.size == (6 * 256 + 5 * 4, 256)
    assert not [f for f in os.listdir(straight_run) if f.endswith('.tmp')]


def test_continue_train_with_other_architecture_is_refused(workdir, straight_run, capsys):
    with NothingWritten(straight_run):
        expect_user_error(train_script.main, TINY[:2] + ['--ngf', '8', '--lambda_vgg', '0',
                                                         '--dataroot', workdir['data'], '--checkpoints_dir', workdir['ckpt'], '--name', 'straight', '--continue_train'], capsys,
                          'opt.json records --ngf 4 but this command has --ngf 8')


def test_epoch_checkpoint_and_epoch_boundary(workdir):
    """--max_dataset_size 2 makes an epoch two iterations: epoch files follow --save_epoch_freq."""
    exp = run_train(workdir, 'epochs', '--max_dataset_size', '2', '--niter', '2', '--save_epoch_freq', '1')
    assert os.path.isfile(os.path.join(exp, 'epoch_001.pth')) and os.path.isfile(os.path.join(exp, 'epoch_002.pth'))
    latest = torch.load(os.path.join(exp, 'latest.pth'), map_location='cpu', weights_only=True)
    assert (latest['epoch'], latest['epoch_iter'], latest['total_iters']) == (2, 0, 4)


def test_single_image_edit_on_demo_files(workdir, straight_run, tmp_path, capsys):
    test_dir = os.path.join(workdir['data'], 'demo', 'test')
    image = os.path.join(test_dir, 'images', 'demo_00000.jpg')
    label = os.path.join(test_dir, 'labels', 'demo_00000.png')
    mask = np.zeros((256, 256), np.uint8)
    mask[40:120, 60:200] = 255
    mask_path = tmp_path / 'mask.png'
    Image.fromarray(mask).save(mask_path)
    out = tmp_path / 'new' / 'folder' / 'edited.png'
    test_script.main(['--checkpoint', os.path.join(straight_run, 'latest.pth'), '--image_path', image,
                      '--segmap_path', label, '--mask_path', str(mask_path), '--output_path', str(out),
                      '--save_panel', '--device', 'cpu'])
    assert 'Wrote' in capsys.readouterr().out
    edited = np.asarray(Image.open(out)).astype(int)
    src = np.asarray(Image.open(image).convert('RGB')).astype(int)
    assert edited.shape == (256, 256, 3)
    known = mask == 0
    # known pixels are the input's (up to the one grey level upstream's truncating tensor2im may lose)
    diff = src[known] - edited[known]
    assert diff.min() >= 0 and diff.max() <= 1
    assert np.abs(src[~known] - edited[~known]).mean() > 1  # the hole was repainted
    assert os.path.isfile(tmp_path / 'new' / 'folder' / 'edited_masked.png')
    assert Image.open(tmp_path / 'new' / 'folder' / 'edited_panel.png').size == (4 * 256 + 3 * 4, 256)
    # the edge map from an instance map is accepted too
    inst = os.path.join(test_dir, 'inst_map', 'demo_00000.png')
    out2 = tmp_path / 'with_inst.png'
    test_script.main(['--checkpoint', os.path.join(straight_run, 'latest.pth'), '--image_path', image,
                      '--segmap_path', label, '--mask_path', str(mask_path), '--output_path', str(out2),
                      '--instance_path', inst])
    assert out2.exists()


def test_dataset_mode_writes_results(workdir, straight_run):
    results = os.path.join(str(workdir['root']), 'results')
    test_script.main(['--name', 'straight', '--checkpoints_dir', workdir['ckpt'], '--dataroot', workdir['data'],
                      '--results_dir', results, '--how_many', '2', '--save_panel'])
    out = os.path.join(results, 'straight', 'test_latest')
    for sub in ('edited', 'masked', 'masks', 'panels'):
        assert sorted(os.listdir(os.path.join(out, sub))) == ['demo_00000.png', 'demo_00001.png']
    # seeded masks: a second run gives the same masks
    first = np.asarray(Image.open(os.path.join(out, 'masks', 'demo_00001.png')))
    test_script.main(['--name', 'straight', '--checkpoints_dir', workdir['ckpt'], '--dataroot', workdir['data'],
                      '--results_dir', results, '--how_many', '2'])
    assert np.array_equal(first, np.asarray(Image.open(os.path.join(out, 'masks', 'demo_00001.png'))))
    assert first.max() == 255  # index 1 is the right-half family: columns 128..255
    assert (first[:, 128:] == 255).all() and (first[:, :128] == 0).all()


def test_nonsquare_training_crop_and_load_size(workdir):
    """Whole 512×256 demo frames: the stages run at 128×64, 256×128, 512×256, masks scale with the crop."""
    from semedit.data.scene_dataset import DemoDataset
    from semedit.options import default_options
    opt = default_options(True, dataroot=workdir['data'], dataset_name='demo', crop_size='512x256')
    ds = DemoDataset(opt, 'train')
    item = ds[1]  # index 1 -> right-half mask: columns 256..511 of the 512-wide crop
    assert item['image'].shape == (3, 256, 512)
    m = item['mask'][0]
    assert m[:, 256:].min() == 1 and m[:, :256].max() == 0
    opt.load_size, opt.crop_size = 512, '256'  # frames resized to 1024×512, then 256×256 crops
    ds = DemoDataset(opt, 'train')
    assert ds[0]['image'].shape == (3, 256, 256)
    assert ds.load_sample(0)['label'].shape == (256, 256)
    exp = run_train(workdir, 'wide', '--crop_size', '512x256', '--max_iters', '1')
    ckpt = torch.load(os.path.join(exp, 'latest.pth'), map_location='cpu', weights_only=True)
    assert ckpt['total_iters'] == 1


def test_bad_crop_size_is_a_clear_error(workdir, capsys):
    argv = TINY + ['--dataroot', workdir['data'], '--checkpoints_dir', workdir['ckpt'], '--name', 'badcrop',
                   '--crop_size', '300', '--max_iters', '1']
    with NothingWritten(workdir['ckpt']):
        expect_user_error(train_script.main, argv, capsys, '--crop_size 300', 'multiples of 128')
