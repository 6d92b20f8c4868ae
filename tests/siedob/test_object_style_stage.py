"""SIEDOB's object-style stage (models/siedob/objects.py, upstream instance_style/trainer.py): its
references (data/object_dataset.py), the two passes and the losses as upstream writes them (the
VGG term with a stand-in VGG), the style-cycle loss, a tiny overfit, the authors' object_style.pth
loading with identical outputs and converting both ways, and train.py resuming exactly on the demo
objects."""
import os

import pytest
import torch
import torch.nn.functional as F

from semedit import data
import helpers
import train as train_script
from semedit.models import legacy
from semedit.models.networks.discriminators import SNPatchDiscriminator
from semedit.models.networks.siedob_objects import ObjectStyleGenerator, class_map
from semedit.models.siedob.objects import SIEDOBObjectStyleModel, style_cycle_loss
from semedit.options import default_options
from siedob.functional import assert_total_is_the_sum, assert_vgg_logged, stage_with_vgg
from semedit.util.checkpoint import save_checkpoint

CPU = torch.device('cpu')


def make_model(is_train=True, **kw):
    base = dict(model='siedob', stage='object_style', dataset_name='cityscapes', ngf=4, ndf=8)
    if is_train:
        base['lambda_vgg'] = 0
    base.update(kw)
    return SIEDOBObjectStyleModel(default_options(is_train, **base), CPU).setup()


def toy_batch(n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    k = torch.zeros(n, 1, 64, 64)
    k[..., 8:56, 12:52] = 1
    ref_k = torch.zeros(n, 1, 64, 64)
    ref_k[..., 4:60, 16:48] = 1
    image = (torch.rand(n, 3, 1, 1, generator=g) * 1.6 - 0.8) * k + 0.02 * torch.randn(n, 3, 64, 64, generator=g)
    ref = (torch.rand(n, 3, 1, 1, generator=g) * 1.6 - 0.8).expand(n, 3, 64, 64)
    classes = ([26, 24] * n)[:n]
    return {'image': image, 'inst_mask': k, 'class_map': class_map(k, classes), 'ref_image': ref,
            'ref_inst_mask': ref_k, 'ref_class_map': class_map(ref_k, classes), 'path': 'toy'}


def test_cycle_loss_is_one_minus_cosine():
    a, b = torch.randn(3, 128, 1, 1), torch.randn(3, 128, 1, 1)
    assert torch.allclose(style_cycle_loss(a, b), (1 - F.cosine_similarity(a.flatten(1), b.flatten(1))).mean())
    assert float(style_cycle_loss(a[:1], 2 * a[:1])) == pytest.approx(0, abs=1e-6)  # one row works (upstream fails)


def test_two_passes_and_losses():
    m = make_model(lambda_cycle=1.0)
    b = toy_batch()
    m.set_input(b)
    m.forward()
    k = b['inst_mask']
    target, ref = b['image'] * k, b['ref_image'] * b['ref_inst_mask']
    with torch.no_grad():
        rec, s_rec, c_rec = m.netG(b['class_map'], target, b['class_map'], k)
        sty, s_sty, c_sty = m.netG(b['class_map'], ref, b['ref_class_map'], k)
    assert torch.equal(m.rec.detach(), rec) and torch.equal(m.sty.detach(), sty)   # no SN: the same numbers again
    assert torch.equal(m.fakes.detach(), torch.cat([rec * k, sty * k]))
    seen = []
    hook = m.netD_style.register_forward_hook(lambda mod, inp, out: seen.append((inp[0], out)))
    m.compute_D_loss()
    m.compute_G_loss()
    hook.remove()
    x_fake, x_real, x_g = (x for x, _ in seen)
    assert x_fake.shape == (4, 6, 64, 64) and torch.equal(x_real[:, :3], torch.cat([target, target]))
    assert torch.equal(x_fake[:, 3:], torch.cat([b['class_map']] * 2))
    assert torch.allclose(m.losses['G_L1'], 10 * (rec - target).abs().mean())          # the reconstruction only
    assert torch.allclose(m.losses['G_GAN'], -seen[2][1].detach().mean())
    assert torch.allclose(m.losses['G_cycle'], style_cycle_loss(torch.cat([s_rec, s_sty]), torch.cat([c_rec, c_sty])))
    # without a reference the target is its own: the two passes agree
    alone = {key: v for key, v in b.items() if not key.startswith('ref_')}
    assert torch.equal(m.edit(alone), m.edit({**alone, 'ref_image': b['image'], 'ref_inst_mask': k,
                                              'ref_class_map': b['class_map']}))


@pytest.mark.numerics
def test_vgg_term_compares_both_passes_with_the_object(vgg_standin):
    """G's VGG term as a training step logs and optimises it (upstream instance_style/trainer.py):
    λ_VGG · VGG([rec ; sty], [X_o ; X_o]), the mean of the two passes' terms, each raw output against
    the object itself (the reference-guided one too, not against its reference); the total G is the
    sum of the four logged terms."""
    m = stage_with_vgg('object_style', vgg_standin)
    b = toy_batch()
    m.set_input(b)
    m.optimize_parameters()
    target = b['image'] * b['inst_mask']
    assert_vgg_logged(m, vgg_standin, torch.cat([m.rec, m.sty]), torch.cat([target, target]))
    assert_total_is_the_sum(m.get_current_losses(), ('G_L1', 'G_GAN', 'G_cycle', 'G_VGG'))


def test_tiny_overfit_l1_falls():
    torch.manual_seed(0)
    m = make_model(ngf=8, lr=1e-3)
    b = toy_batch(n=2)
    losses = []
    for _ in range(10):   # 0.30 of the first loss by then (seed 0)
        m.set_input(b)
        m.optimize_parameters()
        losses.append(m.get_current_losses()['G_L1'])
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.numerics
def test_authors_object_style_file(tmp_path):
    torch.manual_seed(3)
    g = ObjectStyleGenerator(8)
    d = SNPatchDiscriminator(6, 6, 64, pad_type='zero', sparse_labels=False)
    path = str(tmp_path / 'object_style.pth')
    torch.save({'epoch': 39, 'netG': {'fg_style.' + k: v for k, v in g.state_dict().items()},
                'netD_style': d.state_dict(),
                'optimizer_G': torch.optim.Adam(g.parameters()).state_dict(),
                'optimizer_D_style': torch.optim.Adam(d.parameters()).state_dict()}, path)
    ckpt = legacy.load_checkpoint(path)
    assert (ckpt['stage'], ckpt['arch']['ngf'], ckpt['epoch']) == ('object_style', 8, 39)
    assert set(ckpt['optimizers']) == {'optimizer_G', 'optimizer_D_style'}
    opt = default_options(False, model='siedob', stage='object_style', dataset_name='cityscapes')
    model = SIEDOBObjectStyleModel.from_checkpoint(opt, CPU, ckpt, path)
    b = toy_batch()
    with torch.no_grad():
        want = g(b['class_map'], b['ref_image'] * b['ref_inst_mask'], b['ref_class_map'], b['inst_mask'])[0]
    assert torch.equal(model.edit(b), want)
    save_checkpoint(legacy.convert_checkpoint(legacy.load_checkpoint(path), 'ours')[0], str(tmp_path / 'ours.pth'))
    save_checkpoint(legacy.convert_checkpoint(legacy.load_checkpoint(str(tmp_path / 'ours.pth')), 'upstream')[0],
                    str(tmp_path / 'back.pth'))
    a, b2 = torch.load(path, weights_only=True), torch.load(tmp_path / 'back.pth', weights_only=True)
    assert set(a) == set(b2) and all(torch.equal(a['netG'][key], b2['netG'][key]) for key in a['netG'])


def test_references_and_train_py_on_the_demo_objects(demo_root, tmp_path):
    args = ['--model', 'siedob', '--stage', 'object_style', '--dataset_name', 'demo', '--dataroot', demo_root,
            '--checkpoints_dir', str(tmp_path / 'ckpt'), *helpers.TINY_NETS, '--batch_size', '2', '--num_workers',
            '0', '--display_freq', '2', '--save_latest_freq', '0', '--no_tensorboard']
    with helpers.NothingWritten(demo_root):
        train_script.main(args + ['--name', 'straight', '--max_iters', '4'])
        train_script.main(args + ['--name', 'resumed', '--max_iters', '2'])
        train_script.main(args + ['--name', 'resumed', '--max_iters', '4', '--continue_train'])
    a = torch.load(tmp_path / 'ckpt' / 'straight' / 'latest.pth', weights_only=True)
    b = torch.load(tmp_path / 'ckpt' / 'resumed' / 'latest.pth', weights_only=True)
    assert (a['stage'], b['total_iters']) == ('object_style', 4)
    for net in a['nets']:
        assert all(torch.equal(b['nets'][net][k], v) for k, v in a['nets'][net].items()), net
    # each item's reference is a crop of its own class
    opt = default_options(True, model='siedob', stage='object_style', dataset_name='demo', dataroot=demo_root)
    ds = data.create_dataset(opt, 'train', 'siedob_objects_ref')
    assert 'mask' not in ds[0]
    for i in (0, 1, len(ds) - 2, len(ds) - 1):
        item = ds[i]
        channel = 0 if int(item['label']) == 26 else 1
        assert item['ref_class_map'][channel].sum() > 0 and item['ref_class_map'][1 - channel].sum() == 0
    assert os.path.isfile(tmp_path / 'ckpt' / 'straight' / 'web' / 'images' / 'iter_00000004.png')


def test_test_py_draws_an_object_in_a_references_style(tmp_path):
    import numpy as np
    from PIL import Image
    import test as test_script
    torch.manual_seed(4)
    g = ObjectStyleGenerator(8)
    path = str(tmp_path / 'object_style.pth')
    torch.save({'netG': {'fg_style.' + k: v for k, v in g.state_dict().items()}}, path)
    rng = np.random.RandomState(1)
    crop, ref = ((rng.rand(64, 64, 3) * 255).astype(np.uint8) for _ in range(2))
    inst = np.zeros((64, 64), np.uint8)
    inst[10:54, 8:56] = 255
    for name, a in (('crop.png', crop), ('ref.png', ref), ('inst.png', inst)):
        Image.fromarray(a).save(tmp_path / name)
    test_script.main(['--checkpoint', path, '--image_path', str(tmp_path / 'crop.png'), '--inst_mask_path',
                      str(tmp_path / 'inst.png'), '--object_class', 'car', '--ref_image_path',
                      str(tmp_path / 'ref.png'), '--ref_inst_mask_path', str(tmp_path / 'inst.png'), '--output_path',
                      str(tmp_path / 'o.png')])
    out = np.asarray(Image.open(tmp_path / 'o.png'))
    assert np.array_equal(out[inst == 0], crop[inst == 0])     # only the object is drawn
    # the object is the generator's output for this reference (64×64: no resizing), up to quantisation
    k = torch.from_numpy(inst > 127).float()[None, None]
    to_t = lambda a: torch.from_numpy(a[..., ::-1].copy()).permute(2, 0, 1)[None].float() / 127.5 - 1  # noqa: E731
    with torch.no_grad():
        want = g(class_map(k, [26]), to_t(ref) * k, class_map(k, [26]), k)[0][0]
    got = torch.from_numpy(out[..., ::-1].copy()).permute(2, 0, 1).float() / 127.5 - 1
    assert float((got - want).abs()[:, inst > 127].max()) <= 2 / 255 + 1e-6
