"""SIEDOB's object-inpainting stage as a model (models/siedob/objects.py, upstream
instance_inpainting/trainer.py): the tensors, the composite and losses (the VGG term included, with
a stand-in VGG), PyTorch's default initialisation, a tiny overfit, a file in the authors' layout
(written here from our generator) loading and converting both ways, train.py cutting the demo's
object crops on first use, and test.py editing one crop with its one-line errors."""
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import helpers
import test as test_script
import train as train_script
from semedit.models import find_model_using_name, legacy
from semedit.models.networks.discriminators import SNPatchDiscriminator
from semedit.models.networks.siedob_objects import ObjectInpaintingGenerator, class_map
from semedit.models.siedob.objects import SIEDOBObjectInpaintingModel
from semedit.options import default_options
from siedob.functional import assert_total_is_the_sum, assert_vgg_logged, stage_with_vgg
from semedit.util.checkpoint import save_checkpoint
from semedit.util.errors import UserError

CPU = torch.device('cpu')


def make_model(is_train=True, **kw):
    return helpers.make_model('siedob', 'object_inpainting', is_train, **kw)


def toy_batch(n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    k = torch.zeros(n, 1, 64, 64)
    k[..., 8:56, 12:52] = 1
    hole = torch.zeros(n, 1, 64, 64)
    hole[..., :, 32:] = 1
    colour = torch.rand(n, 3, 1, 1, generator=g) * 1.6 - 0.8
    image = colour * k + 0.3 * (1 - k) + 0.02 * torch.randn(n, 3, 64, 64, generator=g)
    return {'image': image, 'inst_mask': k, 'mask': hole * k, 'class_map': class_map(k, ([26, 24] * n)[:n]),
            'path': 'toy'}


def test_stage_defaults_and_default_initialisation():
    assert find_model_using_name('siedob', 'object_inpainting') is SIEDOBObjectInpaintingModel
    opt = default_options(True, model='siedob', stage='object_inpainting')
    assert (opt.ngf, opt.lr, opt.D_lr_mult, opt.lambda_l1, opt.lambda_vgg) == (64, 2e-4, 1.0, 10.0, 10.0)
    torch.manual_seed(0)
    m = make_model(ngf=8)
    w = m.netG.enc2.conv2d.weight.detach()   # PyTorch's default: U(±1/√fan_in), std 1/√(3·fan_in), not N(0, 0.02)
    fan_in = w[0].numel()
    assert abs(float(w.std()) - (3 * fan_in) ** -0.5) < 0.1 * (3 * fan_in) ** -0.5
    assert float(w.abs().max()) <= fan_in ** -0.5
    assert sum(p.numel() for p in m.netD_inp.parameters()) == sum(
        p.numel() for p in SNPatchDiscriminator(7, 6, 8, pad_type='zero', sparse_labels=False).parameters())


def test_tensors_composite_and_losses():
    m = make_model()
    b = toy_batch()
    m.set_input(b)
    m.forward()
    k, hole = b['inst_mask'], b['mask']
    assert torch.equal(m.target, b['image'] * k) and torch.equal(m.visible, b['image'] * k * (1 - hole))
    fake = m.fake.detach()
    assert torch.equal(m.composite.detach(), fake * hole + m.visible * (1 - hole))
    seen = {}
    hook = m.netD_inp.register_forward_hook(lambda mod, inp, out: seen.update(x=inp[0], scores=out))
    m.compute_D_loss()
    assert seen['x'].shape == (2, 7, 64, 64) and torch.equal(seen['x'][:, 3:4], hole)   # [image, M, C]
    assert torch.equal(seen['x'][:, 4:], b['class_map']) and seen['scores'].shape == (2, 3, 1, 1)
    m.compute_G_loss()
    hook.remove()
    assert torch.allclose(m.losses['G_L1'], 10 * (fake - b['image'] * k).abs().mean())
    assert torch.allclose(m.losses['G_GAN'], -seen['scores'].detach().mean())
    with pytest.raises(UserError, match='cannot run on 48×48 crops'):
        m.set_input({k2: v[..., :48, :48] for k2, v in b.items() if k2 != 'path'})


@pytest.mark.numerics
def test_vgg_term_is_the_raw_output_against_the_object(vgg_standin):
    """G's VGG term, as a training step logs and optimises it: λ_VGG · VGG(out, X·K), the raw output
    (not the composite) against the object alone."""
    m = stage_with_vgg('object_inpainting', vgg_standin)
    b = toy_batch()
    m.set_input(b)
    m.optimize_parameters()
    assert_vgg_logged(m, vgg_standin, m.fake, b['image'] * b['inst_mask'])
    assert_total_is_the_sum(m.get_current_losses(), ('G_L1', 'G_GAN', 'G_VGG'))


def test_tiny_overfit_l1_falls():
    torch.manual_seed(0)
    m = make_model(ngf=8, lr=1e-3)
    b = toy_batch(n=1)
    losses = []
    for _ in range(10):
        m.set_input(b)
        m.optimize_parameters()
        losses.append(m.get_current_losses()['G_L1'])
    assert losses[-1] < 0.5 * losses[0], losses


def authors_file(path, ngf=4, ndf=8):
    """object_inpainting.pth as the authors' trainer saves it ({'epoch', 'netG' with the 'fg_inpainting.'
    prefix, 'netD_inp', 'optimizer_G', 'optimizer_D_inp'}), our generator's random weights."""
    torch.manual_seed(2)
    g = ObjectInpaintingGenerator(ngf).eval()
    d = SNPatchDiscriminator(7, 6, ndf, pad_type='zero', sparse_labels=False)
    torch.save({'epoch': 19, 'netG': {'fg_inpainting.' + k: v for k, v in g.state_dict().items()},
                'netD_inp': d.state_dict(), 'optimizer_G': torch.optim.Adam(g.parameters()).state_dict(),
                'optimizer_D_inp': torch.optim.Adam(d.parameters()).state_dict()}, path)
    return g


@pytest.mark.numerics
def test_a_file_in_the_authors_layout_loads_into_the_right_modules_and_converts_back(tmp_path):
    """What this shows: the layout the authors' trainer saves (the 'fg_inpainting.' prefix, epoch,
    optimiser names) is recognised, every weight lands in its module (the stage edits as the
    generator the weights came from) and converting to ours and back gives the same keys and
    tensors. The file is written from our own generator: that its forward is the authors' is
    test_object_networks.py's comparison with the layer list, not this test's."""
    path = str(tmp_path / 'object_inpainting.pth')
    g = authors_file(path)
    ckpt = legacy.load_checkpoint(path)
    assert (ckpt['model'], ckpt['stage'], ckpt['epoch'], ckpt['arch']['ngf']) == ('siedob', 'object_inpainting', 19, 4)
    assert set(ckpt['nets']) == {'netG', 'netD_inp'} and set(ckpt['optimizers']) == {'optimizer_G', 'optimizer_D_inp'}
    opt = default_options(False, model='siedob', stage='object_inpainting', dataset_name='cityscapes')
    model = SIEDOBObjectInpaintingModel.from_checkpoint(opt, CPU, ckpt, path)
    b = toy_batch()
    out = model.edit(b)
    k, hole = b['inst_mask'], b['mask']
    visible = b['image'] * k * (1 - hole)
    with torch.no_grad():
        want = g(visible, k, hole, b['class_map']) * hole + visible * (1 - hole)
    assert torch.equal(out, want)
    save_checkpoint(legacy.convert_checkpoint(legacy.load_checkpoint(path), 'ours')[0], str(tmp_path / 'ours.pth'))
    save_checkpoint(legacy.convert_checkpoint(legacy.load_checkpoint(str(tmp_path / 'ours.pth')), 'upstream')[0],
                    str(tmp_path / 'back.pth'))
    a, b2 = helpers.load(path), helpers.load(tmp_path / 'back.pth')
    assert set(a) == set(b2) and list(a['netG']) == list(b2['netG'])
    assert all(torch.equal(a['netG'][key], b2['netG'][key]) for key in a['netG'])
    del a['netG']['fg_inpainting.dec4.gated_conv2d.mask_conv2d.weight_u']
    torch.save(a, tmp_path / 'broken.pth')
    broken = legacy.load_checkpoint(str(tmp_path / 'broken.pth'))
    with pytest.raises(UserError, match=r'broken\.pth.*netG.*missing.*dec4\.gated_conv2d\.mask_conv2d\.weight_u'):
        SIEDOBObjectInpaintingModel.from_checkpoint(opt, CPU, broken, str(tmp_path / 'broken.pth'))


def test_train_py_cuts_the_demo_objects_on_first_use(demo_root, tmp_path):
    """A demo data folder without object crops (as the scene demo is generated): the stage's first run
    cuts them (the same files as the session's, cut by scripts/prepare_object_dataset.py's code),
    trains, and writes its grids and checkpoint."""
    root = helpers.copy_demo(demo_root, str(tmp_path / 'datasets'))
    objects = os.path.join(root, 'demo', 'object_datasets')
    shutil.rmtree(objects)
    ckpts = tmp_path / 'ckpt'
    train_script.main(['--model', 'siedob', '--stage', 'object_inpainting', '--dataset_name', 'demo',
                       '--dataroot', root, '--checkpoints_dir', str(ckpts), '--name', 'obj', '--batch_size', '2', '--max_iters', '1',
                       '--display_freq', '1', '--save_latest_freq', '0', *helpers.TINY_NETS, *helpers.TINY_RUN])
    session = os.path.join(demo_root, 'demo', 'object_datasets')
    assert helpers.files_under(objects) and \
        {os.path.relpath(p, objects) for p in helpers.files_under(objects)} == \
        {os.path.relpath(p, session) for p in helpers.files_under(session)}
    assert (ckpts / 'obj' / 'web' / 'images' / 'iter_00000001.png').is_file()
    ckpt = helpers.load(ckpts / 'obj' / 'latest.pth')
    assert (ckpt['stage'], ckpt['total_iters'], set(ckpt['nets'])) == ('object_inpainting', 1, {'netG', 'netD_inp'})


def test_test_py_edits_one_object_crop(tmp_path, capsys):
    path = str(tmp_path / 'object_inpainting.pth')
    authors_file(path)
    crop = (np.random.RandomState(0).rand(64, 32, 3) * 255).astype(np.uint8)   # a person crop, 64×32
    inst = np.zeros((64, 32), np.uint8)
    inst[4:60, 6:26] = 255
    hole = np.zeros((64, 32), np.uint8)
    hole[30:, :] = 255
    for name, a in (('crop.png', crop), ('inst.png', inst), ('hole.png', hole), ('empty.png', inst * 0),
                    ('small.png', hole[:32])):
        Image.fromarray(a).save(tmp_path / name)
    argv = ['--checkpoint', path, '--image_path', tmp_path / 'crop.png', '--inst_mask_path', tmp_path / 'inst.png',
            '--object_class', 'person']
    for extra, said in (([], 'needs --mask_path'),
                        (['--mask_path', tmp_path / 'small.png'], 'size mismatch'),
                        (['--mask_path', tmp_path / 'hole.png', '--inst_mask_path', tmp_path / 'empty.png'],
                         'the instance mask is empty')):
        with helpers.NothingWritten(tmp_path):
            helpers.expect_user_error(test_script.main, argv + ['--output_path', tmp_path / 'out' / 'e.png', *extra],
                                      capsys, said)
    test_script.main([str(a) for a in argv + ['--mask_path', tmp_path / 'hole.png', '--output_path',
                                              tmp_path / 'out' / 'e.png']])
    out = np.asarray(Image.open(tmp_path / 'out' / 'e.png'))
    repainted = (inst > 127) & (hole > 127)
    assert out.shape == crop.shape and np.array_equal(out[~repainted], crop[~repainted])
    assert not np.array_equal(out[repainted], crop[repainted])


def test_a_class_other_than_car_or_person_is_refused():
    from semedit.engine.editing import edit_object_crop
    m = make_model(is_train=False)
    crop, inst = np.zeros((64, 64, 3), np.uint8), np.ones((64, 64), np.float32)
    with pytest.raises(UserError, match=r'know car \(26\) and person \(24\), not class 25'):
        edit_object_crop(m, crop, inst, 25, hole=inst)
