"""SIEDOB's background stage as a model (models/siedob/background.py, upstream background/trainer.py):
the tensors it builds, the composite and losses (the VGG term included, with a stand-in VGG), the
boundary patches and --symmetric_boundary as train.py parses it, a batch without boundary, a tiny
overfit, and a bg.pth in the authors' layout (built here, checked against their layer lists)
loading, editing as bg_G computes, and converting."""
import copy
import importlib.util
import os

import pytest
import torch
import torch.nn.functional as F

import helpers
from semedit.models import find_model_using_name, legacy
from semedit.models.networks.discriminators import SNPatchDiscriminator
from semedit.models.networks.init import init_weights
from semedit.models.networks.siedob import BackgroundGenerator
from semedit.models.siedob.background import SIEDOBBackgroundModel, patch_geometry
from semedit.options import default_options
from siedob.functional import assert_total_is_the_sum, assert_vgg_logged, background_generator, stage_with_vgg
from siedob.parts_folder import authors_bg_layout, authors_discriminator_layout
from tolerances import float32_tolerance
from semedit.util.checkpoint import save_checkpoint
from semedit.util.errors import UserError
from semedit.util.tensors import edge_map, one_hot

CPU = helpers.CPU


def make_model(is_train=True, **kw):
    """The stage at tiny widths (ngf 4, ndf 8; training without VGG unless ``lambda_vgg`` is given)."""
    return helpers.make_model('siedob', 'background', is_train, **kw)


def toy_batch(n=2, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    label = torch.full((n, 1, size, size), 7, dtype=torch.long)
    label[:, :, :6] = 23
    label[:, :, 0, :3] = 0                                  # unlabeled
    label[:, :, 12:24, 4:12] = 26                           # a car
    inst = label.clone()
    inst[:, :, 12:24, 4:12] = 26000
    mask = torch.zeros(n, 1, size, size)
    mask[:, :, 8:28, 2:20] = 1
    bg = torch.ones(n, 1, size, size)
    bg[:, :, 12:24, 4:12] = 0                               # the car is a selected object
    # smooth, label-coloured images (learnable at a tiny width) with a little noise
    colours = torch.rand(34, 3, generator=g) * 1.6 - 0.8
    image = colours[label[:, 0]].permute(0, 3, 1, 2) + 0.05 * torch.randn(n, 3, size, size, generator=g)
    return {'image': image, 'label': label, 'instance': inst, 'mask': mask, 'bg_mask': bg, 'path': 'toy'}


def test_stage_is_found_by_name_and_the_whole_model_says_what_to_do():
    assert find_model_using_name('siedob', 'background') is SIEDOBBackgroundModel
    with pytest.raises(ValueError, match="its stages are background, object_inpainting, object_style, fusion"):
        find_model_using_name('siedob', 'blending')
    with pytest.raises(UserError, match='SIEDOB is trained stage by stage: give --stage background'):
        find_model_using_name('siedob')(default_options(True, model='siedob'), CPU)


def test_set_input_builds_the_trainers_tensors():
    m = make_model()
    b = toy_batch()
    m.set_input(b)
    label = b['label'].clone()
    label[label == 0] = 33                                   # upstream: unlabeled is read as the last id
    assert torch.equal(m.label, label)
    seg = one_hot(label, 34)
    m_bg = b['mask'] * b['bg_mask']
    assert torch.equal(m.segmap, seg)
    x = m.net_input
    assert x.shape == (2, 3 + 34 + 1 + 1, 32, 32)
    assert torch.equal(x[:, :3], b['image'] * (1 - b['mask']) * b['bg_mask'])
    assert torch.equal(x[:, 3:37], seg * b['bg_mask'])
    assert torch.equal(x[:, 37:38], edge_map(b['instance']) * b['mask'] * b['bg_mask'])  # edges under the full M
    assert torch.equal(x[:, 38:], m_bg)
    keep = make_model(keep_label_0=True)
    keep.set_input(b)
    assert torch.equal(keep.label, b['label'])


def test_composite_losses_and_patches():
    m = make_model(lambda_vgg=0)
    b = toy_batch()
    m.set_input(b)
    m.forward()
    m_bg = b['mask'] * b['bg_mask']
    fake = m.fake.detach()
    assert torch.equal(m.composite.detach(), fake * m_bg + b['image'] * (1 - m_bg))
    # four windows per sample, each an even side in the scaled 96..160 range, inside the image
    (lo, hi), out = patch_geometry(32, 32)
    assert ((lo, hi), out) == ((12, 20), 20)
    assert len(m.patch_windows) == 8 and m.fake_patches.shape == (8, 37, 20, 20)
    for s, r0, r1, c0, c1 in m.patch_windows:
        assert r1 - r0 == c1 - c0 and (r1 - r0) % 2 == 0 and lo - 1 <= r1 - r0 <= hi
        assert 0 <= r0 and r1 <= 31 and 0 <= c0 and c1 <= 31
    m.compute_D_loss()
    seen = {}  # what the patch D returns inside the G loss (its spectral norm steps at every call)
    hook = m.netD_patch.register_forward_hook(lambda mod, inp, out: seen.update(patches=inp[0], scores=out))
    m.compute_G_loss()
    hook.remove()
    assert torch.allclose(m.losses['G_L1'], (fake - b['image'] * b['bg_mask']).abs().mean())
    assert float(m.losses['patches']) == 8
    assert seen['patches'] is m.fake_patches  # the fakes, not detached: G learns through them
    assert torch.allclose(m.losses['G_GAN_patch'], -seen['scores'].detach().mean() * 0.2)
    # the patches are [composite, labels] cut at the windows and resized bilinearly
    s0, r0, r1, c0, c1 = m.patch_windows[0]
    cut = F.interpolate(torch.cat([m.composite, m.segmap], 1)[s0:s0 + 1, :, r0:r1, c0:c1], size=(20, 20),
                        mode='bilinear', align_corners=False)
    assert torch.allclose(m.fake_patches[:1], cut)
    assert patch_geometry(256, 256) == ((96, 160), 160)     # upstream's at 256


@pytest.mark.numerics
def test_vgg_term_is_the_raw_output_against_the_background(vgg_standin):
    """G's VGG term at λ_VGG 10, as a training step logs and optimises it: λ · VGG(O, I·Bg), the raw
    output (not the composite) against the image with the selected objects cut out (upstream
    background/trainer.py); the logged total is the sum of the logged terms."""
    m = stage_with_vgg('background', vgg_standin)
    b = toy_batch(n=1)
    m.set_input(b)
    m.optimize_parameters()
    assert_vgg_logged(m, vgg_standin, m.fake, b['image'] * b['bg_mask'])
    assert_total_is_the_sum(m.get_current_losses(), ('G_L1', 'G_GAN', 'G_GAN_patch', 'G_VGG'))


def test_symmetric_boundary_from_the_command_line_anchors_patches_on_every_side():
    """--symmetric_boundary as train.py's parser reads it reaches the patch sampling. An edit in the
    top-left corner has its top and left sides on the image border, which never counts: upstream's
    erosion finds no boundary there (no patch); the fix anchors patches on its bottom and right sides."""
    from semedit.options.train_options import TrainOptions
    b = toy_batch(n=1)
    b['bg_mask'] = torch.ones_like(b['mask'])
    b['mask'].zero_()[..., :16, :16] = 1
    windows = {}
    for flags in ((), ('--symmetric_boundary',)):
        opt = TrainOptions().parse(['--model', 'siedob', '--stage', 'background', '--dataset_name', 'cityscapes',
                                    *helpers.TINY_NETS, *flags])
        m = SIEDOBBackgroundModel(opt, CPU).setup()
        assert m.opt.symmetric_boundary == bool(flags)
        m.set_input(b)
        m.forward()
        windows[bool(flags)] = m.patch_windows
    assert windows[False] == [] and len(windows[True]) == 4
    for _, r0, r1, c0, c1 in windows[True]:  # each holds a pixel of row 15 or column 15 inside the edit
        assert (r0 <= 15 < r1 and c0 < 16) or (c0 <= 15 < c1 and r0 < 16)


def test_a_batch_without_boundary_trains(tmp_path):
    """Upstream crashes when no sample has a boundary pixel; here the patch terms are 0."""
    m = make_model()
    b = toy_batch()
    b['mask'].zero_()
    m.set_input(b)
    m.optimize_parameters()
    losses = m.get_current_losses()
    assert losses['patches'] == 0 and losses['D_fake_patch'] == 0 and losses['G_GAN_patch'] == 0
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())


def test_tiny_overfit_l1_falls():
    torch.manual_seed(0)
    m = make_model(lr=5e-3, ngf=8)
    b = toy_batch(n=1)
    first = None
    for _ in range(10):
        m.set_input(b)
        m.optimize_parameters()
        l1 = m.get_current_losses()['G_L1']
        first = l1 if first is None else first
    assert l1 < 0.5 * first, (first, l1)  # 0.47 -> 0.14 on one machine


def test_background_only_edit_keeps_known_pixels():
    m = make_model(is_train=False)
    b = toy_batch()
    del b['bg_mask']                                          # test.py's single image: all background
    out = m.edit(b)
    keep = b['mask'] == 0
    assert torch.equal(out.expand_as(b['image'])[keep.expand_as(out)], b['image'][keep.expand_as(out)])


# ---- the authors' bg.pth -----------------------------------------------------------------------------

def authors_file(path, ngf=8):
    """A bg.pth in the authors' layout (background/trainer.py's save), random weights; returns the
    generator whose weights it holds."""
    torch.manual_seed(1)
    g = init_weights(BackgroundGenerator(34, ngf))
    with torch.no_grad():
        for p in g.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    d = init_weights(SNPatchDiscriminator(37, 6, 64, pad_type='zero', sparse_labels=False))
    adam = torch.optim.Adam(g.parameters())
    torch.save({'epoch': 7, 'netG_BG': g.state_dict(), 'netD_BG': d.state_dict(), 'netD_patch': d.state_dict(),
                'optimizer_G_BG': adam.state_dict(), 'optimizer_D_bg': torch.optim.Adam(d.parameters()).state_dict(),
                'optimizer_D_patch': torch.optim.Adam(d.parameters()).state_dict()}, path)
    return g.eval()


@pytest.mark.numerics
def test_a_bg_pth_in_the_authors_layout_loads_and_edits_as_bg_G_computes(tmp_path):
    """A bg.pth as the authors' trainer saves it (written here: the nets and optimisers at the top
    level; bg_G's and the discriminators' keys and shapes as in their bg_G.py and
    SNPatchDiscriminator.py, written out in parts_folder, not taken from our code) loads with its
    epoch and optimisers, and edits as bg_G's layers (the float64 functional forward) compute on its
    weights, from the inputs the trainer builds; a bare generator state dict loads too."""
    path = str(tmp_path / 'bg.pth')
    g = authors_file(path)
    saved = torch.load(path, weights_only=True)
    assert {k: tuple(v.shape) for k, v in saved['netG_BG'].items()} == authors_bg_layout(8)
    for net in ('netD_BG', 'netD_patch'):
        assert {k: tuple(v.shape) for k, v in saved[net].items()} == authors_discriminator_layout(64, 37)
    ckpt = legacy.load_checkpoint(path)
    assert (ckpt['model'], ckpt['stage'], ckpt['epoch']) == ('siedob', 'background', 7)
    assert ckpt['arch']['label_nc'] == 34 and ckpt['arch']['ngf'] == 8 and ckpt['arch']['color_order'] == 'bgr'
    assert set(ckpt['optimizers']) == {'optimizer_G_BG', 'optimizer_D_BG', 'optimizer_D_patch'}
    opt = default_options(False, model='siedob', stage='background', dataset_name='cityscapes')
    model = SIEDOBBackgroundModel.from_checkpoint(opt, CPU, ckpt, path)
    b = toy_batch(n=1)
    out = model.edit(b)
    label = b['label'].clone()
    label[label == 0] = 33                                   # upstream: unlabeled is read as the last id
    seg = one_hot(label, 34)
    m_bg = b['mask'] * b['bg_mask']
    x = torch.cat([b['image'] * (1 - b['mask']) * b['bg_mask'],
                   torch.cat([seg, edge_map(b['instance']) * b['mask']], 1) * b['bg_mask'], m_bg], 1)

    def edit(net, dtype):
        i, x_, s_, m_, bg_ = (t.to(dtype) for t in (b['image'], x, seg, m_bg, b['bg_mask']))
        with torch.no_grad():
            return background_generator(net, x_, s_, m_, bg_) * m_ + i * (1 - m_)

    want64 = edit(copy.deepcopy(g).double(), torch.float64)
    tol = float32_tolerance(edit(g, torch.float32), want64)
    assert float((out.double() - want64).abs().max()) <= tol
    torch.save(g.state_dict(), tmp_path / 'bare.pth')
    bare = legacy.load_checkpoint(str(tmp_path / 'bare.pth'))
    assert bare['stage'] == 'background' and set(bare['nets']) == {'netG_BG'}


def test_broken_bg_pth_is_a_one_line_error(tmp_path):
    path = str(tmp_path / 'bg.pth')
    authors_file(path)
    ckpt = torch.load(path, weights_only=True)
    del ckpt['netG_BG']['dec3.gated_conv2d.conv2d.weight_orig']
    torch.save(ckpt, path)
    native = legacy.load_checkpoint(path)
    opt = default_options(False, model='siedob', stage='background', dataset_name='cityscapes')
    with pytest.raises(UserError, match=r'bg\.pth.*netG_BG.*missing.*dec3\.gated_conv2d\.conv2d\.weight_orig'):
        SIEDOBBackgroundModel.from_checkpoint(opt, CPU, native, path)
    torch.save({'netG_F': {'init_conv.conv.weight': torch.zeros(1)}}, tmp_path / 'fnet.pth')
    with pytest.raises(UserError, match=r'fnet\.pth: netG_F is not a SIEDOB fusion network'):
        legacy.load_checkpoint(str(tmp_path / 'fnet.pth'))


def test_convert_both_ways(tmp_path, capsys):
    path = str(tmp_path / 'bg.pth')
    authors_file(path)
    save_checkpoint(legacy.convert_checkpoint(legacy.load_checkpoint(path), 'ours')[0], str(tmp_path / 'ours.pth'))
    ours = torch.load(tmp_path / 'ours.pth', weights_only=True)
    assert ours['format'] == 'semedit' and ours['stage'] == 'background'
    save_checkpoint(legacy.convert_checkpoint(legacy.load_checkpoint(str(tmp_path / 'ours.pth')), 'upstream')[0],
                    str(tmp_path / 'back.pth'))
    a, b = torch.load(path, weights_only=True), torch.load(tmp_path / 'back.pth', weights_only=True)
    assert set(a) == set(b)
    for net in ('netG_BG', 'netD_BG', 'netD_patch'):
        assert a[net].keys() == b[net].keys() and all(torch.equal(a[net][k], b[net][k]) for k in a[net])
    assert b['optimizer_D_bg']['param_groups'] == a['optimizer_D_bg']['param_groups'] and b['epoch'] == 7
    # the command line refuses colour conversion of SIEDOB weights: exit 2, one line, nothing written
    spec = importlib.util.spec_from_file_location('convert_checkpoint', os.path.join(helpers.ROOT, 'scripts',
                                                                                     'convert_checkpoint.py'))
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    fresh = tmp_path / 'refused'
    with helpers.NothingWritten(fresh, tmp_path):
        helpers.expect_user_error(script.main, [path, fresh / 'rgb.pth', '--to', 'ours', '--color_order', 'rgb'],
                                  capsys, '--color_order', 'convert SPM-PGAN weights')
    assert not fresh.exists()


def test_test_py_edits_with_the_authors_bg_pth_and_refuses_another_model(tmp_path, capsys):
    """test.py edits with an authors'-layout bg.pth alone (the model found from the file); given
    --model spmpgan it stops: exit 2, one line naming the file, nothing written."""
    import numpy as np
    from PIL import Image
    import test as test_script
    path = str(tmp_path / 'bg.pth')
    authors_file(path)
    b = toy_batch(n=1, size=64)
    Image.fromarray(((b['image'][0].permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8)).save(tmp_path / 'i.png')
    Image.fromarray(b['label'][0, 0].numpy().astype(np.uint8)).save(tmp_path / 'l.png')
    Image.fromarray((b['mask'][0, 0].numpy() * 255).astype(np.uint8)).save(tmp_path / 'm.png')
    argv = ['--checkpoint', path, '--image_path', str(tmp_path / 'i.png'), '--segmap_path', str(tmp_path / 'l.png'),
            '--mask_path', str(tmp_path / 'm.png')]
    test_script.main(argv + ['--output_path', str(tmp_path / 'out' / 'e.png')])
    assert Image.open(tmp_path / 'out' / 'e.png').size == (64, 64)
    assert 'siedob' in capsys.readouterr().out
    fresh = tmp_path / 'refused'
    with helpers.NothingWritten(fresh, tmp_path):
        helpers.expect_user_error(test_script.main, argv + ['--output_path', fresh / 'e.png', '--model', 'spmpgan'],
                                  capsys, f'{path} is a siedob --stage background checkpoint, not --model spmpgan')
    assert not fresh.exists()


@pytest.mark.parametrize('amp', ['bf16', 'fp16'])
def test_mixed_precision_training_step(amp):
    """--amp on the background stage (the CPU runs both dtypes): finite losses that move like
    float32's; the spectral norms' vectors stay float32."""
    losses = {}
    for mode in ('none', amp):
        torch.manual_seed(0)
        m = make_model(amp=mode)
        b = toy_batch(n=1)
        for _ in range(2):
            m.set_input(b)
            m.optimize_parameters()
        losses[mode] = m.get_current_losses()
        assert m.fake.dtype == (torch.float32 if mode == 'none' else m.runtime.amp_dtype)
        assert m.netG_BG.dec1.gated_conv2d.conv2d.weight_u.dtype == torch.float32
    for k in ('G_L1', 'D'):
        # bf16 / fp16 round to 2^-8 / 2^-11 per operation through ~30 layers and two steps
        assert losses[amp][k] == pytest.approx(losses['none'][k], rel=0.1, abs=0.05), k


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')
@pytest.mark.parametrize('amp', ['none', 'bf16'])
def test_cuda_training_and_edit(amp):
    """The stage on a GPU: fast equals reference in float32 (TF32 off), training steps are finite."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        opt = default_options(True, model='siedob', stage='background', dataset_name='cityscapes', ngf=8, ndf=8,
                              lambda_vgg=0, amp=amp)
        m = SIEDOBBackgroundModel(opt, torch.device('cuda')).setup()
        b = toy_batch(size=64)
        for _ in range(2):
            m.set_input(b)
            m.optimize_parameters()
        assert all(torch.isfinite(torch.tensor(v)) for v in m.get_current_losses().values())
        m.eval()
        fast = m.edit(b)
        m.set_forward('reference')
        ref = m.edit(b)
        assert float((fast - ref).abs().max()) <= (1e-4 if amp == 'none' else 0.25)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
