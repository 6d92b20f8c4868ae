"""The machinery around a model (options, registry, train.py, checkpoints, resume, test.py, editing
of any size) with a model that is not SPM-PGAN: models/template_model.py. If anything around the
model assumed SPM-PGAN, these would fail."""
import os
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image

from semedit import models
import test as test_script
import train as train_script
from semedit.models.base_model import GANModel
from semedit.util.errors import UserError

TINY = ['--model', 'template', '--dataset_name', 'demo', '--ngf', '4', '--num_workers', '0', '--print_freq', '1',
        '--display_freq', '2', '--save_latest_freq', '0', '--no_tensorboard']


@pytest.fixture(scope='module')
def workdir(tmp_path_factory, demo_root):
    root = tmp_path_factory.mktemp('template')
    return {'data': demo_root, 'ckpt': str(root / 'checkpoints'), 'root': root}


def train(w, name, *extra):
    train_script.main(TINY + ['--dataroot', w['data'], '--checkpoints_dir', w['ckpt'], '--name', name, *extra])
    return os.path.join(w['ckpt'], name)


def load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def test_template_trains_and_edits(workdir, tmp_path, capsys):
    """Training writes the template's own checkpoint and summary (resuming it exactly:
    tests/common/test_resume.py); test.py builds it from the checkpoint alone."""
    straight = train(workdir, 'straight', '--max_iters', '4')
    ckpt = load(os.path.join(straight, 'latest.pth'))
    assert ckpt['model'] == 'template' and ckpt['stage'] is None
    assert ckpt['arch'] == {'label_nc': 34, 'ngf': 4, 'color_order': 'bgr'}
    assert set(ckpt['nets']) == {'netG', 'netD'} and set(ckpt['optimizers']) == {'optimizer_G', 'optimizer_D'}
    out = capsys.readouterr().out
    assert 'Final losses: G ' in out and ', D ' in out  # the model's summary_losses, not SPM-PGAN's names
    # test.py builds the template from the checkpoint alone and edits an image of another size
    rng = np.random.RandomState(0)
    image = rng.randint(0, 256, (100, 150, 3)).astype(np.uint8)
    label = rng.randint(0, 34, (100, 150)).astype(np.uint8)
    mask = np.zeros((100, 150), np.uint8)
    mask[20:60, 40:120] = 255
    paths = {k: str(tmp_path / f'{k}.png') for k in ('image', 'label', 'mask')}
    for k, a in (('image', image), ('label', label), ('mask', mask)):
        Image.fromarray(a).save(paths[k])
    target = tmp_path / 'new' / 'edited.png'
    test_script.main(['--checkpoint', os.path.join(straight, 'latest.pth'), '--image_path', paths['image'],
                      '--segmap_path', paths['label'], '--mask_path', paths['mask'], '--output_path', str(target),
                      '--device', 'cpu'])
    edited = np.asarray(Image.open(target).convert('RGB'))
    assert edited.shape == image.shape
    assert np.array_equal(edited[mask == 0], image[mask == 0])  # pasted back inside the mask only
    assert 'template' in capsys.readouterr().out


def test_template_sets_its_own_defaults_and_refuses_a_stage():
    from semedit.options import default_options
    from semedit.options.train_options import TrainOptions
    assert TrainOptions().parse(['--model', 'template']).ngf == 16  # parser.set_defaults in the model
    assert default_options(True, model='template').ngf == 16
    assert default_options(True).ngf == 32 and not hasattr(default_options(True, model='template'), 'lambda_vgg')
    with pytest.raises(UserError, match='no --stage'):
        TrainOptions().parse(['--model', 'template', '--stage', 'background'])


class _Stage(GANModel):
    model_name = 'staged'


@pytest.fixture
def staged_model(monkeypatch):
    """A model trained in parts, registered as models/staged_model.py would be."""
    module = types.ModuleType('semedit.models.staged_model')

    class StagedModel(GANModel):
        model_name = 'staged'
        stages = {'first': f'{__name__}:_Stage'}
    module.StagedModel = StagedModel
    monkeypatch.setitem(sys.modules, 'semedit.models.staged_model', module)
    return StagedModel


def test_stage_resolves_to_its_class(staged_model):
    assert models.find_model_using_name('staged') is staged_model
    assert models.find_model_using_name('staged', 'first') is _Stage
    with pytest.raises(ValueError, match=r"no --stage 'second': its stages are first"):
        models.find_model_using_name('staged', 'second')
    with pytest.raises(ValueError, match='unknown --model .nope.*choose one of: siedob, spmpgan'):
        models.find_model_using_name('nope')
