"""SIEDOB's object-inpainting stage as a model (models/siedob/objects.py, upstream
instance_inpainting/trainer.py): the tensors, the composite and losses, PyTorch's default
initialisation, a tiny overfit, the authors' object_inpainting.pth (built here in their layout)
loading with identical outputs and converting both ways, and a short run of train.py."""
import os

import pytest
import torch

import train as train_script
from models import find_model_using_name, legacy
from models.networks.discriminators import SNPatchDiscriminator
from models.networks.siedob_objects import ObjectInpaintingGenerator, class_map
from models.siedob.objects import SIEDOBObjectInpaintingModel
from options import default_options
from util.checkpoint import save_checkpoint
from util.errors import UserError

CPU = torch.device('cpu')


def make_model(is_train=True, **kw):
    base = dict(model='siedob', stage='object_inpainting', dataset_name='cityscapes', ngf=4, ndf=8)
    if is_train:
        base['lambda_vgg'] = 0
    base.update(kw)
    return SIEDOBObjectInpaintingModel(default_options(is_train, **base), CPU).setup()


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


def test_tiny_overfit_l1_falls():
    torch.manual_seed(0)
    m = make_model(ngf=8, lr=1e-3)
    b = toy_batch(n=1)
    losses = []
    for _ in range(25):
        m.set_input(b)
        m.optimize_parameters()
        losses.append(m.get_current_losses()['G_L1'])
    assert losses[-1] < 0.5 * losses[0], losses


def authors_file(path, ngf=8):
    torch.manual_seed(2)
    g = ObjectInpaintingGenerator(ngf).eval()
    d = SNPatchDiscriminator(7, 6, 64, pad_type='zero', sparse_labels=False)
    torch.save({'epoch': 19, 'netG': {'fg_inpainting.' + k: v for k, v in g.state_dict().items()},
                'netD_inp': d.state_dict(), 'optimizer_G': torch.optim.Adam(g.parameters()).state_dict(),
                'optimizer_D_inp': torch.optim.Adam(d.parameters()).state_dict()}, path)
    return g


@pytest.mark.numerics
def test_authors_file_loads_edits_identically_and_converts(tmp_path, capsys):
    path = str(tmp_path / 'object_inpainting.pth')
    g = authors_file(path)
    ckpt = legacy.load_checkpoint(path)
    assert (ckpt['model'], ckpt['stage'], ckpt['epoch'], ckpt['arch']['ngf']) == ('siedob', 'object_inpainting', 19, 8)
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
    a, b2 = torch.load(path, weights_only=True), torch.load(tmp_path / 'back.pth', weights_only=True)
    assert set(a) == set(b2) and list(a['netG']) == list(b2['netG'])
    assert all(torch.equal(a['netG'][key], b2['netG'][key]) for key in a['netG'])
    del a['netG']['fg_inpainting.dec4.gated_conv2d.mask_conv2d.weight_u']
    torch.save(a, tmp_path / 'broken.pth')
    broken = legacy.load_checkpoint(str(tmp_path / 'broken.pth'))
    with pytest.raises(UserError, match=r'broken\.pth.*netG.*missing.*dec4\.gated_conv2d\.mask_conv2d\.weight_u'):
        SIEDOBObjectInpaintingModel.from_checkpoint(opt, CPU, broken, str(tmp_path / 'broken.pth'))


def test_train_py_on_the_demo_objects_resumes_exactly(tmp_path):
    """The demo's objects are cut on first use; two iterations, then --continue_train to four, equal
    four in one go."""
    args = ['--model', 'siedob', '--stage', 'object_inpainting', '--dataset_name', 'demo', '--dataroot',
            str(tmp_path / 'datasets'), '--checkpoints_dir', str(tmp_path / 'ckpt'), '--ngf', '4', '--ndf', '8',
            '--lambda_vgg', '0', '--batch_size', '2', '--num_workers', '0', '--display_freq', '2',
            '--save_latest_freq', '0', '--no_tensorboard']
    train_script.main(args + ['--name', 'straight', '--max_iters', '4'])
    assert os.path.isdir(tmp_path / 'datasets' / 'demo' / 'object_datasets' / 'car' / 'train' / 'images')
    train_script.main(args + ['--name', 'resumed', '--max_iters', '2'])
    train_script.main(args + ['--name', 'resumed', '--max_iters', '4', '--continue_train'])
    a = torch.load(tmp_path / 'ckpt' / 'straight' / 'latest.pth', weights_only=True)
    b = torch.load(tmp_path / 'ckpt' / 'resumed' / 'latest.pth', weights_only=True)
    assert (a['stage'], b['total_iters']) == ('object_inpainting', 4)
    for net in a['nets']:
        assert all(torch.equal(b['nets'][net][k], v) for k, v in a['nets'][net].items()), net
    grids = os.listdir(tmp_path / 'ckpt' / 'straight' / 'web' / 'images')
    assert 'iter_00000004.png' in grids


def test_test_py_edits_one_object_crop(tmp_path, capsys):
    import numpy as np
    from PIL import Image
    import test as test_script
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
    argv = ['--checkpoint', path, '--image_path', str(tmp_path / 'crop.png'), '--inst_mask_path',
            str(tmp_path / 'inst.png'), '--object_class', 'person', '--output_path', str(tmp_path / 'out' / 'e.png')]
    test_script.main(argv + ['--mask_path', str(tmp_path / 'hole.png')])
    out = np.asarray(Image.open(tmp_path / 'out' / 'e.png'))
    repainted = (inst > 127) & (hole > 127)
    assert out.shape == crop.shape and np.array_equal(out[~repainted], crop[~repainted])
    assert not np.array_equal(out[repainted], crop[repainted])
    capsys.readouterr()
    for extra, said in (([], 'needs --mask_path'),
                        (['--mask_path', str(tmp_path / 'small.png')], 'size mismatch'),
                        (['--mask_path', str(tmp_path / 'hole.png'), '--inst_mask_path', str(tmp_path / 'empty.png')],
                         'the instance mask is empty')):
        with pytest.raises(SystemExit):
            test_script.main(argv + extra)
        err = capsys.readouterr().err
        assert said in err and len(err.strip().splitlines()) == 1, err


def test_a_class_other_than_car_or_person_is_refused():
    import numpy as np
    from engine.editing import edit_object_crop
    m = make_model(is_train=False)
    crop, inst = np.zeros((64, 64, 3), np.uint8), np.ones((64, 64), np.float32)
    with pytest.raises(UserError, match=r'know car \(26\) and person \(24\), not class 25'):
        edit_object_crop(m, crop, inst, 25, hole=inst)
