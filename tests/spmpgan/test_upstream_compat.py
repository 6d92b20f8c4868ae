"""The authors' checkpoint layout, conversions, colour order, and editing images of any size."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

import test as test_script
from semedit.data.preprocess import paste_back, resize_mask
from semedit.models.networks.discriminators import SNPatchDiscriminator
from semedit.models.legacy import convert_checkpoint, fold_spectral_norm, swap_color_order
from semedit.models.networks.spmpgan import ProgressiveGenerator
from semedit.models.spmpgan_model import SPMPGANModel
from semedit.options import default_options
from helpers import NothingWritten, expect_user_error
from tolerances import assert_float64_close
from semedit.models.legacy import load_checkpoint
from semedit.util.checkpoint import save_checkpoint

L = 34
# The authors' G1.py / G2.py / G3.py: (encoder channel plan, decoder plan from the deepest) per stage, ngf = 32.
ENC = {1: [32, 64, 128, 128, 256, 256, 512], 2: [32, 64, 128, 128, 256, 256, 512, 512],
       3: [32, 64, 128, 128, 256, 256, 512, 512, 1024]}
DEC = {1: [256, 128, 64, 32, 32], 2: [512, 256, 128, 64, 32, 32], 3: [512, 256, 256, 128, 64, 32, 32]}


def upstream_netg_layout(label_nc=L, shrink=1):
    """(key, shape) of the authors' netG, written from the authors' G1.py..G3.py and cityscapes.pth, not from our code;
    ``shrink``: every width (their ngf 32 and the modulation's 64 hidden channels) divided by it."""
    keys = []
    hidden = 64 // shrink

    def spm(prefix, cin, cout, sn):
        main = ([('conv2d.bias', [cout]), ('conv2d.weight_orig', [cout, cin, 3, 3]), ('conv2d.weight_u', [cout]),
                 ('conv2d.weight_v', [cin * 9])] if sn else
                [('conv2d.weight', [cout, cin, 3, 3]), ('conv2d.bias', [cout])])
        rest = [('mlp_shared.0.weight', [hidden, cin, 3, 3]), ('mlp_shared.0.bias', [hidden]),
                ('mlp_gamma.weight', [cout, hidden, 3, 3]), ('mlp_gamma.bias', [cout]),
                ('mlp_beta.weight', [cout, hidden, 3, 3]), ('mlp_beta.bias', [cout]),
                ('mlp_shared_2.0.weight', [hidden, label_nc + 2, 3, 3]), ('mlp_shared_2.0.bias', [hidden])]
        for name in ('mlp_gamma_ctx_gamma', 'mlp_beta_ctx_gamma', 'mlp_gamma_ctx_beta', 'mlp_beta_ctx_beta'):
            rest += [(f'{name}.weight', [cout, hidden, 3, 3]), (f'{name}.bias', [cout])]
        keys.extend((prefix + k, s) for k, s in main + rest)

    for st in (1, 2, 3):
        enc, dec = [c // shrink for c in ENC[st]], [c // shrink for c in DEC[st]]
        n = len(enc)
        cin = 3
        for i, cout in enumerate(enc, start=1):
            spm(f'G{st}.enc{i}.', cin, cout, sn=False)
            cin = cout
        for j, cout in enumerate(dec):
            k = n - 1 - j
            skip = enc[k - 2] if k >= 3 else 0
            spm(f'G{st}.dec{k}.gated_conv2d.', cin + skip, cout, sn=True)
            cin = cout
        keys.append((f'G{st}.dec1.conv.weight', [3, 32 // shrink, 3, 3]))
    return keys


@pytest.fixture(scope='module')
def upstream_file(tmp_path_factory):
    """A checkpoint in the authors' layout: {'epoch', 'netG', 'netD_1..3', 'optimizer_G'} with random
    weights (non-trivial outputs) and normalised u/v vectors; the generator's widths / 8 (ngf 4, 8 hidden
    channels: the loader reads the widths from the shapes), a 2 MB file instead of 300 MB."""
    torch.manual_seed(5)
    netg = {}
    for key, shape in upstream_netg_layout(shrink=8):
        t = torch.randn(shape) * 0.05
        if key.endswith(('weight_u', 'weight_v')):
            t = t / t.norm()
        netg[key] = t
    ckpt = {'epoch': 19, 'netG': netg,
            'netD_1': SNPatchDiscriminator(L + 3, 4).state_dict(),
            'netD_2': SNPatchDiscriminator(L + 3, 5).state_dict(),
            'netD_3': SNPatchDiscriminator(L + 3, 6).state_dict(),
            'optimizer_G': {'state': {}, 'param_groups': [{'lr': 1e-4, 'params': []}]}}
    path = tmp_path_factory.mktemp('up') / 'cityscapes.pth'
    torch.save(ckpt, path)
    return path


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    """A 256×256 scene, an edited label map and a box mask, as files."""
    root = tmp_path_factory.mktemp('inputs')
    rng = np.random.RandomState(0)
    yy, xx = np.mgrid[0:256, 0:256]
    image = np.stack([xx % 256, yy % 256, (xx + yy) // 2 % 256], -1).astype(np.uint8)
    image = np.clip(image.astype(int) + rng.randint(-20, 20, image.shape), 0, 255).astype(np.uint8)
    label = np.full((256, 256), 7, np.uint8)
    label[:100] = 23
    label[150:220, 60:160] = 26
    mask = np.zeros((256, 256), np.uint8)
    mask[120:230, 40:180] = 255
    paths = {'image': root / 'input.png', 'label': root / 'seg.png', 'mask': root / 'mask.png'}
    Image.fromarray(image).save(paths['image'])
    Image.fromarray(label).save(paths['label'])
    Image.fromarray(mask).save(paths['mask'])
    return {k: str(v) for k, v in paths.items()}


def edit_argv(ckpt, inputs, out, *extra):
    return ['--checkpoint', str(ckpt), '--image_path', str(inputs['image']), '--segmap_path', str(inputs['label']),
            '--mask_path', str(inputs['mask']), '--output_path', str(out), '--device', 'cpu', *extra]


def edit(ckpt, inputs, out, *extra):
    test_script.main(edit_argv(ckpt, inputs, out, *extra))
    return np.asarray(Image.open(out).convert('RGB')).astype(int)


def convert_file(src, dst, to, **rules):
    """What scripts/convert_checkpoint.py does: read, convert, write; returns its summary lines."""
    out, notes = convert_checkpoint(load_checkpoint(str(src)), to, **rules)
    save_checkpoint(out, str(dst))
    return notes


def test_our_generator_has_the_authors_exact_layout():
    want = upstream_netg_layout()
    with torch.device('meta'):  # shapes only
        ours = ProgressiveGenerator(L, ngf=32).state_dict()
    assert len(want) == 795
    assert [(k, list(v.shape)) for k, v in ours.items()] == want


def test_upstream_file_loads_and_converts_both_ways(upstream_file, inputs, tmp_path, capsys):
    ckpt = load_checkpoint(str(upstream_file))
    assert ckpt['format'] == 'upstream-spmpgan'
    assert ckpt['arch'] == {'label_nc': 34, 'ngf': 4, 'hidden': 8, 'color_order': 'bgr', 'ndf': 64}
    direct = edit(upstream_file, inputs, tmp_path / 'direct.png')
    assert 'label_nc 34, ngf 4, ndf 64, color_order bgr' in capsys.readouterr().out
    mask = np.asarray(Image.open(inputs['mask'])) > 127
    assert direct[mask].std() > 5  # the generator really painted something
    ours = tmp_path / 'ours.pth'
    back = tmp_path / 'back.pth'
    folded = tmp_path / 'folded.pth'
    convert_file(upstream_file, ours, 'ours')
    convert_file(ours, back, 'upstream')
    assert any('folded the spectral norm of 18 decoder convs' in line
               for line in convert_file(upstream_file, folded, 'ours', fold_sn=True))
    for f in (ours, back, folded):
        assert np.array_equal(edit(f, inputs, tmp_path / (f.stem + '.png')), direct), f
    raw_back = torch.load(back, map_location='cpu', weights_only=True)
    raw_up = torch.load(upstream_file, map_location='cpu', weights_only=True)
    assert set(raw_back) == {'epoch', 'netG', 'netD_1', 'netD_2', 'netD_3', 'optimizer_G'}
    assert list(raw_back['netG']) == list(raw_up['netG'])
    assert all(torch.equal(raw_back['netG'][k], v) for k, v in raw_up['netG'].items())
    # the upstream command line: --ckt_path alias, default output where the authors write it
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        test_script.main(['--dataset_name', 'cityscapes', '--ckt_path', str(upstream_file), '--image_path',
                          inputs['image'], '--segmap_path', inputs['label'], '--mask_path', inputs['mask']])
    finally:
        os.chdir(cwd)
    assert (tmp_path / 'results' / 'test_single_result.jpg').exists()
    assert (tmp_path / 'results' / 'masked_img.jpg').exists()


@pytest.fixture(scope='module')
def upstream_file_02(tmp_path_factory):
    """The authors' layout with N(0, 0.02) weights, the scale of upstream's initialisation (larger
    random weights make this net chaotic: its float32 output then differs from float64 by up to 2.0)."""
    torch.manual_seed(6)
    state = ProgressiveGenerator(L, ngf=8).state_dict()
    for k, v in state.items():
        t = torch.randn(v.shape) * 0.02
        state[k] = t / t.norm() if k.endswith(('weight_u', 'weight_v')) else t
    path = tmp_path_factory.mktemp('up02') / 'cityscapes.pth'
    torch.save({'epoch': 0, 'netG': state}, path)
    return path


@pytest.mark.numerics
def test_default_edit_meets_the_fidelity_rule_against_the_reference(upstream_file_02, inputs, tmp_path):
    """test.py's default (the fast path) against --forward reference (the authors' PNG bit for bit):
    in the edited region at most 0.1 % of pixels more than one grey level off and a mean difference
    under 0.05 levels; outside it at most one level (the truncating quantiser can turn a 1e-7 float
    difference into one level)."""
    fast = edit(upstream_file_02, inputs, tmp_path / 'fast.png')
    ref = edit(upstream_file_02, inputs, tmp_path / 'ref.png', '--forward', 'reference')
    hole = np.asarray(Image.open(inputs['mask'])) >= 128
    diff = np.abs(fast - ref)
    assert ref[hole].std() > 3  # a picture, not a flat colour: the comparison means something
    assert (diff.max(-1)[hole] > 1).mean() <= 1e-3 and diff[hole].mean() < 0.05
    assert diff.max(-1)[~hole].max() <= 1


def test_inference_build_draws_nothing_and_loads_every_tensor(upstream_file_02, inputs, tmp_path):
    """test.py builds the generator without random initialisation (the RNG is untouched) and
    assigns the checkpoint's tensors: the same edit, bit for bit, as a generator built and
    initialised normally, then loaded."""
    opt = default_options(False, label_nc=L, ngf=8, ndf=8)
    ckpt = load_checkpoint(str(upstream_file_02))
    rng = torch.get_rng_state()
    model = SPMPGANModel.from_checkpoint(opt, torch.device('cpu'), ckpt, 'f', nets=['netG'])
    assert torch.equal(torch.get_rng_state(), rng)
    plain = SPMPGANModel(opt, torch.device('cpu'), arch=ckpt['arch']).setup()
    plain.load_checkpoint_state(load_checkpoint(str(upstream_file_02)), 'f', nets=['netG'])
    for (k, a), b in zip(plain.netG.state_dict().items(), model.netG.state_dict().values()):
        assert torch.equal(a, b), k
    batch = {'image': torch.rand(1, 3, 256, 256) * 2 - 1, 'label': torch.full((1, 1, 256, 256), 7),
             'mask': torch.zeros(1, 1, 256, 256)}
    batch['mask'][..., 60:120, 80:200] = 1
    with torch.inference_mode():
        assert torch.equal(model.edit(batch), plain.edit(batch))


@pytest.mark.numerics
def test_fold_spectral_norm_matches_eval_forward():
    torch.manual_seed(0)
    # float64: folding W/σ into the weights is exact math; only float64 rounding remains (tolerances.py)
    g = ProgressiveGenerator(L, ngf=4).double()
    g.train()
    x = torch.rand(1, 3, 256, 256, dtype=torch.float64) * 2 - 1
    m = torch.zeros(1, 1, 256, 256, dtype=torch.float64)
    m[..., 50:150, 50:150] = 1
    seg = torch.zeros(1, L + 1, 256, 256, dtype=torch.float64)
    with torch.no_grad():
        g(x, x, seg, m)  # move u, v away from their start
    g.eval()
    plain = ProgressiveGenerator(L, ngf=4, spectral_norm=False).double().eval()
    plain.load_state_dict(fold_spectral_norm(g.state_dict()))
    with torch.no_grad():
        a = g(x, x * (1 - m), seg * m, m)['composite'][-1]
        b = plain(x, x * (1 - m), seg * m, m)['composite'][-1]
    assert_float64_close(b, a)


@pytest.mark.numerics
def test_colour_order_marks_and_weight_permutation(tmp_path, inputs):
    """Same weights marked RGB vs BGR: feeding the channel-swapped file gives the channel-swapped
    result, exactly. Permuting the weights (convert --color_order) keeps the function."""
    opt = default_options(False, label_nc=L, ngf=4, ndf=8)
    model = SPMPGANModel(opt, torch.device('cpu')).setup()
    state = model.checkpoint_state(0, 0, 0)
    bgr, rgb = tmp_path / 'bgr.pth', tmp_path / 'rgb.pth'
    save_checkpoint(state, bgr)
    state['arch']['color_order'] = 'rgb'
    save_checkpoint(state, rgb)
    swapped = dict(inputs, image=str(tmp_path / 'swapped.png'))
    Image.fromarray(np.asarray(Image.open(inputs['image']))[..., ::-1].copy()).save(swapped['image'])
    a = edit(rgb, inputs, tmp_path / 'a.png')
    b = edit(bgr, swapped, tmp_path / 'b.png')
    assert np.array_equal(a, b[..., ::-1])
    assert not np.array_equal(a, edit(bgr, inputs, tmp_path / 'c.png'))
    # weight permutation: G_rgb(x) = P G_bgr(P x) up to float summation order
    nets = swap_color_order(state['nets'])
    # in float64: the permutation is exact math, only float64 rounding remains (tolerances.py)
    g1 = ProgressiveGenerator(L, ngf=4).eval()
    g1.load_state_dict(state['nets']['netG'])
    g2 = ProgressiveGenerator(L, ngf=4).eval()
    g2.load_state_dict(nets['netG'])
    g1, g2 = g1.double(), g2.double()
    x = torch.rand(1, 3, 256, 256, dtype=torch.float64) * 2 - 1
    m = torch.zeros(1, 1, 256, 256, dtype=torch.float64)
    m[..., 60:200, 30:220] = 1
    seg = torch.zeros(1, L + 1, 256, 256, dtype=torch.float64)
    seg[:, 7] = 1
    with torch.no_grad():
        y1 = g1(x, x * (1 - m), seg * m, m)['composite'][-1]
        y2 = g2(x.flip(1), (x * (1 - m)).flip(1), seg * m, m)['composite'][-1].flip(1)
    assert_float64_close(y2, y1)


@pytest.fixture(scope='module')
def tiny_ckpt(tmp_path_factory):
    opt = default_options(False, label_nc=L, ngf=4, ndf=8)
    torch.manual_seed(3)
    model = SPMPGANModel(opt, torch.device('cpu')).setup()
    path = tmp_path_factory.mktemp('tiny') / 'tiny.pth'
    save_checkpoint(model.checkpoint_state(0, 0, 0), path)
    return path


@pytest.mark.parametrize('w,h', [(300, 451), (1024, 512)])
def test_any_size_edit_keeps_known_pixels(tmp_path, tiny_ckpt, w, h, capsys):
    rng = np.random.RandomState(1)
    image = rng.randint(0, 256, (h, w, 3)).astype(np.uint8)
    label = np.full((h, w), 7, np.uint8)
    label[: h // 3] = 23
    mask = np.zeros((h, w), np.uint8)
    mask[h // 4: h // 2, w // 5: w // 2] = 255
    files = {'image': tmp_path / 'img.png', 'label': tmp_path / 'seg.png', 'mask': tmp_path / 'mask.png'}
    Image.fromarray(image).save(files['image'])
    Image.fromarray(label).save(files['label'])
    Image.fromarray(mask).save(files['mask'])
    out = edit(tiny_ckpt, {k: str(v) for k, v in files.items()}, tmp_path / 'out.png')
    assert out.shape == (h, w, 3)
    known = mask == 0
    assert np.array_equal(out[known], image[known].astype(int))   # exactly the input
    assert not np.array_equal(out[~known], image[~known].astype(int))
    # --preprocess none refuses sizes the generator cannot take, and says why
    if (w, h) == (300, 451):
        fresh = tmp_path / 'refused'
        fresh.mkdir()
        with NothingWritten(fresh):
            expect_user_error(test_script.main, edit_argv(tiny_ckpt, files, fresh / 'none.png', '--preprocess', 'none'),
                              capsys, 'multiples of 128', '300×451', '--preprocess resize')


def test_working_size_rules():
    working_size = lambda h, w, load_size=256: SPMPGANModel.size_rule.working_size(h, w, load_size)  # noqa: E731
    assert working_size(256, 256) == (256, 256)
    assert working_size(256, 512) == (256, 512)
    assert working_size(512, 1024) == (256, 512)
    assert working_size(451, 300) == (384, 256)
    assert working_size(100, 1000) == (256, 2560)
    assert working_size(600, 800, load_size=512) == (512, 640)
    m = np.zeros((451, 300), np.float32)
    m[10, 10] = 1  # a one-pixel hole survives downscaling
    assert resize_mask(m, (384, 256)).sum() >= 1
    orig = np.zeros((10, 10, 3), np.uint8)
    gen = np.full((4, 4, 3), 200, np.uint8)
    mk = np.zeros((10, 10), np.float32)
    mk[2:5, 2:5] = 1
    pasted = paste_back(orig, gen, mk)
    assert (pasted[mk == 1] > 0).all() and (pasted[mk == 0] == 0).all()


@pytest.mark.parametrize('part,content,said', [
    ('bg', {'epoch': 1, 'netG_BG': {'conv.weight': torch.zeros(1)}}, 'netG_BG is not a SIEDOB background generator'),
    ('Fnet', {'netG_F': {'conv.weight': torch.zeros(1)}}, 'netG_F is not a SIEDOB fusion network'),
    ('object_inpainting', {'netG': {'fg_inpainting.enc.weight': torch.zeros(1)}},
     "looks like SIEDOB's object_inpainting file but lacks fg_inpainting.init_conv.conv.weight"),
    ('object_style', {'netG': {'fg_style.enc.weight': torch.zeros(1)}},
     "looks like SIEDOB's object_style file but lacks fg_style.init_conv.conv.weight")])
def test_siedob_file_is_named(tmp_path, inputs, capsys, part, content, said):
    """A broken SIEDOB part given to test.py: which part it is, in one line, no traceback
    (a whole bg.pth is SIEDOB's background stage: tests/siedob/test_background_stage.py)."""
    bad = tmp_path / f'{part}.pth'
    torch.save(content, bad)
    fresh = tmp_path / 'out'
    fresh.mkdir()
    with NothingWritten(fresh):
        expect_user_error(test_script.main, edit_argv(bad, inputs, fresh / 'x.png'), capsys, said, bad)
