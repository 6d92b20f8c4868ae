"""SIEDOB's object networks (models/networks/siedob_objects.py) against the authors' code
(WuyangLuo/SIEDOB instance_inpainting/ and instance_style/): parameter and entry counts, shapes, the
new blocks' formulas written out with functional ops in float64, and both generators against a
functional forward built from the paper's layer list."""
import pytest
import torch
import torch.nn.functional as F

from semedit.models.networks.blocks import ResnetBlock, StyleEncoder, StyleSPADEResnetBlock
from semedit.models.networks.discriminators import SNPatchDiscriminator
from semedit.models.networks.siedob_objects import ObjectInpaintingGenerator, ObjectStyleGenerator, class_map
from siedob.functional import gated
from tolerances import assert_float64_close

pytestmark = pytest.mark.numerics
F64 = torch.float64


def count(m):
    return sum(p.numel() for p in m.parameters())


def lrelu(x):
    return F.leaky_relu(x, 0.2)


def test_counts_and_layout_at_the_authors_settings():
    """Built on the meta device: the authors' shapes without memory or initialisation."""
    with torch.device('meta'):
        g, s = ObjectInpaintingGenerator(), ObjectStyleGenerator()
    assert (count(g), len(list(g.parameters())), len(g.state_dict())) == (81_436_032, 67, 83)
    assert (count(s), len(list(s.parameters())), len(s.state_dict())) == (15_364_288, 134, 134)
    sub = {'enc_style': 714_048, 'init_conv': 4_736, 'enc1': 18_496, 'enc3': 295_168, 'resblk1': 1_180_160,
           'spade1_1': 2_512_000, 'conv1': 917_888, 'spade2_1': 1_036_672, 'conv2': 229_568, 'spade3': 520_192,
           'conv3': 57_440, 'conv_img': 864, 'cycle_style': 714_048}
    assert {k: count(getattr(s, k)) for k in sub} == sub
    assert count(g.dec2) == 14_156_800 and count(g.enc5) == 18_876_416 and count(g.conv_img) == 1_728
    for cin, n in ((7, 4_331_200), (6, 4_329_600)):  # netD_inp [image, M, C], netD_style [image, C]
        with torch.device('meta'):
            d = SNPatchDiscriminator(cin, 6, 64, pad_type='zero', sparse_labels=False)
        assert count(d) == n and len(d.state_dict()) == 18
    gs, ss = g.state_dict(), s.state_dict()
    assert gs['init_conv.conv.weight'].shape == (64, 8, 7, 7)
    assert gs['dec2.gated_conv2d.conv2d.weight_v'].shape == (13824,) and 'conv_img.conv.bias' not in gs
    assert gs['dec6.conv2d.weight'].shape == (64, 128, 3, 3)
    assert ss['enc_style.model.0.conv.weight'].shape == (32, 6, 7, 7) and 'enc_style.model.0.conv.bias' not in ss
    assert ss['enc_style.model.6.bias'].shape == (128,) and ss['conv1.shortcut.weight'].shape == (128, 256, 1, 1)
    assert ss['resblk1.conv_block.2.weight'].shape == (256, 256, 3, 3) and 'resblk1.shortcut.weight' not in ss
    assert ss['spade1_1.norm_0.mlp_shared.0.weight'].shape == (128, 3, 3, 3)
    assert ss['spade1_1.norm_1.mlp_shared.0.weight'].shape == (128, 128, 3, 3)
    assert list(ss)[:2] == ['enc_style.model.0.conv.weight', 'enc_style.model.1.conv.weight']
    assert list(ss)[-7].startswith('cycle_style.') and list(ss)[list(ss).index('conv1.shortcut.weight') + 1] \
        == 'conv1.conv_block.2.weight'  # upstream's order: shortcut, then the block


def test_shapes_and_class_map():
    g, s = ObjectInpaintingGenerator(ngf=8).eval(), ObjectStyleGenerator(ngf=8).eval()
    k = torch.zeros(2, 1, 64, 64)
    k[..., 10:50, 20:40] = 1
    c = class_map(k, [26, 24])
    assert torch.equal(c[0, 0], k[0, 0]) and c[0, 1:].abs().sum() == 0       # car = (1, 0, 0)
    assert torch.equal(c[1, 1], k[1, 0]) and c[1, [0, 2]].abs().sum() == 0   # person = (0, 1, 0)
    with pytest.raises(ValueError, match='not class 25'):
        class_map(k, [26, 25])
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        out = g(x * k, k, k, c)
        y, code, cycle = s(c, x * k, c, k)
    assert out.shape == y.shape == (2, 3, 64, 64) and out.abs().max() < 1
    assert code.shape == cycle.shape == (2, 128, 1, 1)
    d = SNPatchDiscriminator(7, 6, 8, pad_type='zero', sparse_labels=False)
    assert d(torch.randn(2, 7, 64, 64)).shape == (2, 3, 1, 1) and d(torch.randn(1, 7, 128, 128)).shape == (1, 3, 2, 2)


def randomize(m, std=0.2):
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, std)
    return m


def test_resnet_block_norms_after_the_padding():
    blk = randomize(ResnetBlock(4, 3)).double()
    x = torch.randn(2, 4, 6, 6, dtype=F64)
    c2, c6 = blk.conv_block[2], blk.conv_block[6]
    y = F.conv2d(F.instance_norm(F.pad(x, (1, 1, 1, 1)), eps=1e-5), c2.weight, c2.bias)
    y = F.conv2d(F.instance_norm(F.pad(lrelu(y), (1, 1, 1, 1)), eps=1e-5), c6.weight, c6.bias)
    assert_float64_close(blk(x), F.conv2d(x, blk.shortcut.weight) + y)
    # the other order (pad(IN(x))) is another function: off by order 1
    other = F.conv2d(F.pad(F.instance_norm(x, eps=1e-5), (1, 1, 1, 1)), c2.weight, c2.bias)
    assert (other - F.conv2d(F.instance_norm(F.pad(x, (1, 1, 1, 1)), eps=1e-5), c2.weight, c2.bias)).abs().max() > 0.1


def spade(x, seg, norm):
    seg = F.interpolate(seg, size=x.shape[-2:], mode='nearest')
    a = F.relu(F.conv2d(seg, norm.mlp_shared[0].weight, norm.mlp_shared[0].bias, padding=1))
    gamma = F.conv2d(a, norm.mlp_gamma.weight, norm.mlp_gamma.bias, padding=1)
    beta = F.conv2d(a, norm.mlp_beta.weight, norm.mlp_beta.bias, padding=1)
    return F.instance_norm(x, eps=1e-5) * (1 + gamma) + beta, gamma


def style_block(blk, x, cmap, code):
    d = F.conv2d(lrelu(spade(x, cmap, blk.norm_0)[0]), blk.conv_0.weight, blk.conv_0.bias, padding=1)
    s_map = code.expand(-1, -1, *x.shape[-2:])  # the code as a constant map, convolved with zero padding
    return x + F.conv2d(lrelu(spade(d, s_map, blk.norm_1)[0]), blk.conv_1.weight, blk.conv_1.bias, padding=1)


def test_style_block_formula_and_its_border_ring():
    blk = randomize(StyleSPADEResnetBlock(5, 3, 7)).double()
    x, cmap = torch.randn(2, 5, 8, 8, dtype=F64), torch.rand(2, 3, 64, 64, dtype=F64)
    code = torch.randn(2, 7, 1, 1, dtype=F64)
    assert_float64_close(blk(x, cmap, code), style_block(blk, x, cmap, code))
    # γ of the style SPADE is constant inside and different on the outer 2-pixel ring: not an AdaIN
    _, gamma = spade(x, code.expand(-1, -1, 8, 8), blk.norm_1)
    inner = gamma[..., 2:6, 2:6]
    assert (inner - inner[..., :1, :1]).abs().max() < 1e-12
    assert (gamma[..., 0, :] - gamma[..., 3:4, 3]).abs().max() > 1e-3


def style_encoder(enc, x):
    for i, blk in enumerate(enc.model[:5]):  # 7×7 / 1 / 3, then 4×4 / 2 / 1: reflect padding, no bias
        pad, stride = (3, 1) if i == 0 else (1, 2)
        x = lrelu(F.conv2d(F.pad(x, (pad,) * 4, mode='reflect'), blk.conv.weight, None, stride))
    x = x.mean((2, 3), keepdim=True)
    return F.conv2d(x, enc.model[6].weight, enc.model[6].bias)


def test_style_encoder_formula():
    enc = randomize(StyleEncoder(6, 4, 9), 0.3).double()
    x = torch.randn(2, 6, 32, 32, dtype=F64)
    out = enc(x)
    assert out.shape == (2, 9, 1, 1)
    assert_float64_close(out, style_encoder(enc, x))


def test_object_inpainting_against_its_layer_list():
    g = ObjectInpaintingGenerator(ngf=4).double().eval()
    x, k = torch.rand(2, 3, 64, 64, dtype=F64) * 2 - 1, (torch.rand(2, 1, 64, 64, dtype=F64) > 0.3).double()
    m = k * (torch.rand(2, 1, 64, 64, dtype=F64) > 0.5).double()
    c = class_map(k, [26, 24])
    with torch.no_grad():
        out = g(x * (1 - m) * k, k, m, c)
        h = lrelu(F.instance_norm(F.conv2d(F.pad(torch.cat([x * (1 - m) * k, k, m, c], 1), (3, 3, 3, 3)),
                                           g.init_conv.conv.weight, g.init_conv.conv.bias), eps=1e-5))
        e1 = gated(g.enc1, h, 2, 'reflect')
        e2 = gated(g.enc22, gated(g.enc2, e1, 2, 'reflect'), 1, 'reflect')
        e3 = gated(g.enc32, gated(g.enc3, e2, 2, 'reflect'), 1, 'reflect')
        e6 = gated(g.enc6, gated(g.enc5, gated(g.enc4, e3, 2, 'reflect'), 1, 'reflect'), 1, 'reflect')
        d = gated(g.dec22, gated(g.dec2, e6, 1, 'zero', e3), 1, 'reflect')
        d = gated(g.dec32, gated(g.dec3, d, 1, 'zero', e2), 1, 'reflect')
        d = gated(g.dec43, gated(g.dec4, d, 1, 'zero', e1), 1, 'reflect')
        d = gated(g.dec6, gated(g.dec5, d, 1, 'zero'), 1, 'reflect')
        want = torch.tanh(F.conv2d(F.pad(d, (1, 1, 1, 1)), g.conv_img.conv.weight))
    assert_float64_close(out, want)


def test_object_style_against_its_layer_list_and_mode_independence():
    s = ObjectStyleGenerator(ngf=4).double()
    k = (torch.rand(2, 1, 64, 64, dtype=F64) > 0.4).double()
    c, ref = class_map(k, [24, 26]), torch.rand(2, 3, 64, 64, dtype=F64) * 2 - 1
    with torch.no_grad():
        x, code, cycle = s(c, ref * k, c, k)
        s.eval()
        assert all(torch.equal(a, b) for a, b in zip((x, code, cycle), s(c, ref * k, c, k)))  # no SN, no dropout
        sc = style_encoder(s.enc_style, torch.cat([ref * k, c], 1))

        def enc(blk, h, stride, pad):
            return lrelu(F.instance_norm(F.conv2d(F.pad(h, (pad,) * 4), blk.conv.weight, blk.conv.bias, stride),
                                         eps=1e-5))
        h = enc(s.enc3, enc(s.enc2, enc(s.enc1, enc(s.init_conv, c, 1, 3), 2, 1), 2, 1), 2, 1)
        for r in (s.resblk1, s.resblk2, s.resblk3, s.resblk4):
            h = r(h)  # its formula is tested above
        up = lambda t: F.interpolate(t, scale_factor=2, mode='nearest')  # noqa: E731
        h = style_block(s.spade1_2, style_block(s.spade1_1, h, c, sc), c, sc)
        h = up(s.conv1(h))
        h = style_block(s.spade2_2, style_block(s.spade2_1, h, c, sc), c, sc)
        h = style_block(s.spade3, up(s.conv2(h)), c, sc)
        want = torch.tanh(F.conv2d(F.pad(lrelu(up(s.conv3(h))), (1, 1, 1, 1)), s.conv_img.conv.weight))
    assert_float64_close(code, sc)
    assert_float64_close(x, want)
    assert_float64_close(cycle, style_encoder(s.cycle_style, torch.cat([want * k, c], 1)))


def test_the_branches_as_the_fusion_stage_calls_them():
    from semedit.models.networks.siedob_objects import inpaint_objects, style_objects
    g, s = ObjectInpaintingGenerator(ngf=4).eval(), ObjectStyleGenerator(ngf=4).eval()
    x, ref = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    k, kr, m = ((torch.rand(2, 1, 64, 64) > p).float() for p in (0.3, 0.4, 0.5))
    c = class_map(k, [26, 24])
    with torch.no_grad():
        assert torch.equal(inpaint_objects(g, x * (1 - m), k, m, [26, 24]), g(x * (1 - m) * k, k, m * k, c))
        assert torch.equal(style_objects(s, k, [26, 24], ref, kr), s(c, ref * kr, class_map(kr, [26, 24]), k)[0])
