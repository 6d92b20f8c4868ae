"""SIEDOB's background generator, its blocks and the fusion network against the authors' layer lists
(WuyangLuo/SIEDOB background/networks/bg_G.py, fusion/networks/F_stage.py, as ../shared/spec/
SIEDOB_scene.md tabulates them): parameter counts and key layout (built on the meta device: no
memory), the block formulas, the self-propagation module on a hand-made example, both whole
networks against float64 functional forwards written from the layer lists (tests/siedob/
functional.py), and the fast implementation against the reference."""
import pytest
import torch
import torch.nn.functional as F

from semedit.models.networks.blocks import SPADE, GatedConv2d, TransposeGatedConv2d
from semedit.models.networks.implementation import set_impl
from semedit.models.networks.init import init_weights
from semedit.models.networks.siedob import BackgroundGenerator, FusionNetwork, StyleProPagate
from siedob.functional import background_generator, fusion_network
from tolerances import assert_float64_close, assert_grads_float64_close

pytestmark = pytest.mark.numerics
F64 = torch.float64
META = torch.device('meta')


def count(m):
    return sum(p.numel() for p in m.parameters())


def randomize(m, std=0.3):
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, std)
    return m


def test_background_generator_counts_and_layout():
    """13,088,096 parameters and 98 entries at the authors' settings; names and shapes as in bg.pth
    (written out from the authors' bg_G.py, not from our code)."""
    with META:
        g = BackgroundGenerator(label_nc=34)
    assert count(g) == 13_088_096
    sd = g.state_dict()
    assert len(sd) == 98
    assert sd['init_conv.conv.weight'].shape == (32, 39, 7, 7) and 'init_conv.conv.bias' in sd
    widths = {1: (64, 32), 2: (64, 64), 3: (128, 64), 4: (128, 128), 5: (256, 128), 6: (256, 256), 7: (256, 256),
              8: (512, 256)}
    for k, (o, i) in widths.items():
        for conv in ('conv2d', 'mask_conv2d'):
            assert sd[f'enc{k}.{conv}.weight'].shape == (o, i, 3, 3) and sd[f'enc{k}.{conv}.bias'].shape == (o,)
    for k, (o, i) in {1: (256, 768), 2: (128, 384), 3: (64, 192), 4: (64, 64)}.items():
        for conv in ('conv2d', 'mask_conv2d'):
            p = f'dec{k}.gated_conv2d.{conv}'
            assert sd[p + '.weight_orig'].shape == (o, i, 3, 3) and sd[p + '.bias'].shape == (o,)
            assert sd[p + '.weight_u'].shape == (o,) and sd[p + '.weight_v'].shape == (i * 9,)
    for k, c in {1: 256, 2: 128, 3: 64}.items():
        assert sd[f'style{k}.conv.conv.weight'].shape == (64, c, 3, 3) and f'style{k}.conv.conv.bias' not in sd
        assert sd[f'style{k}.stylelayer.conv_0.weight'].shape == (c, c, 3, 3)
        assert sd[f'style{k}.stylelayer.spade.mlp_shared.0.weight'].shape == (128, 98, 3, 3)
        assert sd[f'style{k}.stylelayer.spade.mlp_gamma.weight'].shape == (c, 128, 3, 3)
    assert sd['dec5.conv2d.weight'].shape == (32, 64, 3, 3)
    assert sd['conv_img.conv.weight'].shape == (3, 32, 3, 3) and 'conv_img.conv.bias' not in sd


def test_background_generator_shapes_and_range():
    g = init_weights(BackgroundGenerator(label_nc=34, ngf=4)).eval()
    x = torch.randn(2, 39, 64, 128)
    seg = torch.zeros(2, 34, 64, 128)
    seg[:, 7] = 1
    mask = torch.zeros(2, 1, 64, 128)
    mask[..., 10:40, 20:90] = 1
    with torch.no_grad():
        out = g(x, seg, mask, torch.ones_like(mask))
    assert out.shape == (2, 3, 64, 128) and out.abs().max() < 1


def test_gated_conv_formula():
    blk = randomize(GatedConv2d(3, 4, 3, 2, 1, norm='in', activation='lrelu')).double()
    x = torch.randn(2, 3, 9, 9, dtype=F64)
    xp = F.pad(x, (1, 1, 1, 1), mode='reflect')
    feat = F.leaky_relu(F.instance_norm(F.conv2d(xp, blk.conv2d.weight, blk.conv2d.bias, 2), eps=1e-5), 0.2)
    gate = torch.sigmoid(F.conv2d(xp, blk.mask_conv2d.weight, blk.mask_conv2d.bias, 2))
    assert_float64_close(blk(x), feat * gate)  # the same formula: float64 rounding only
    up = TransposeGatedConv2d(3 + 2, 4, 3, 1, 1, norm='in')
    assert {k for k in up.state_dict() if k.endswith('weight_orig')} == {'gated_conv2d.conv2d.weight_orig',
                                                                        'gated_conv2d.mask_conv2d.weight_orig'}
    y, skip = torch.randn(1, 3, 4, 4), torch.randn(1, 2, 8, 8)
    with torch.no_grad():
        upsampled = F.interpolate(y, scale_factor=2, mode='bilinear', align_corners=False)
        assert torch.equal(up.eval()(y, skip), up.gated_conv2d(torch.cat([upsampled, skip], 1)))


def test_spade_formula():
    m = randomize(SPADE(4, 5, hidden=6)).double()
    x, seg = torch.randn(2, 4, 8, 8, dtype=F64), torch.rand(2, 5, 16, 16, dtype=F64)
    s = F.interpolate(seg, size=(8, 8), mode='nearest')
    a = F.relu(F.conv2d(s, m.mlp_shared[0].weight, m.mlp_shared[0].bias, padding=1))
    gamma = F.conv2d(a, m.mlp_gamma.weight, m.mlp_gamma.bias, padding=1)
    beta = F.conv2d(a, m.mlp_beta.weight, m.mlp_beta.bias, padding=1)
    assert_float64_close(m(x, seg), F.instance_norm(x, eps=1e-5) * (1 + gamma) + beta)


@pytest.mark.parametrize('impl', ['reference', 'fast'])
def test_self_propagation_on_a_hand_made_example(impl):
    """Four classes on a 4×4 map: class 1's known pixels carry its style into its edited pixels,
    class 2 (an object class) and class 3 (no known pixel) get nothing, foreground gets nothing."""
    ssp = set_impl(StyleProPagate(2, 4, code_nc=2, excluded=(2,)).double(), impl)
    labels = torch.tensor([[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 0, 0], [3, 3, 0, 0]])
    seg = F.one_hot(labels, 4).permute(2, 0, 1)[None].to(F64)
    mask = torch.zeros(1, 1, 4, 4, dtype=F64)
    mask[..., 1, :] = 1          # row 1 edited (classes 1 and 2)
    mask[..., 2:, :2] = 1        # class 3 edited entirely: no known pixel
    bg = torch.ones(1, 1, 4, 4, dtype=F64)
    bg[..., 3, 3] = 0            # one foreground pixel of class 0
    p = torch.arange(32, dtype=F64).view(1, 2, 4, 4)
    ctx = seg * bg * (1 - mask)
    codes = ssp.class_codes(p, ctx)
    # class 1: known pixels (0,0) and (0,1): channel means (0+1)/2 and (16+17)/2
    assert codes[0, 1].tolist() == [0.5, 16.5]
    assert codes[0, 2].tolist() == [0.0, 0.0] and codes[0, 3].tolist() == [0.0, 0.0]  # excluded / no context
    # class 0: known background pixels (2,2), (2,3), (3,2): not (3,3), which is foreground
    assert codes[0, 0].tolist() == [(10 + 11 + 14) / 3, (26 + 27 + 30) / 3]


def test_self_propagation_fast_equals_reference():
    torch.manual_seed(0)
    ssp = init_weights(StyleProPagate(8, 34)).double()
    x = torch.randn(2, 8, 16, 16, dtype=F64)
    labels = torch.randint(0, 34, (2, 16, 16))
    labels[:, :6] = 23
    seg = F.one_hot(labels, 34).permute(0, 3, 1, 2).to(F64)
    mask = torch.zeros(2, 1, 16, 16, dtype=F64)
    mask[..., 4:12, 3:13] = 1
    bg = (labels != 26).to(F64)[:, None]
    ref = set_impl(ssp, 'reference')(x, seg, bg, mask)
    assert_float64_close(set_impl(ssp, 'fast')(x, seg, bg, mask), ref)  # the same sums: float64 rounding only


def test_background_generator_fast_equals_reference_with_gradients():
    torch.manual_seed(1)
    nets = [init_weights(BackgroundGenerator(label_nc=34, ngf=4)).double() for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    set_impl(nets[0], 'reference')
    set_impl(nets[1], 'fast')
    labels = torch.randint(0, 34, (1, 64, 64))
    seg = F.one_hot(labels, 34).permute(0, 3, 1, 2).to(F64)
    mask = torch.zeros(1, 1, 64, 64, dtype=F64)
    mask[..., 10:40, 20:50] = 1
    bg = (labels != 26).to(F64)[:, None]
    x = torch.randn(1, 39, 64, 64, dtype=F64)
    outs = []
    for net in nets:
        out = net(x, seg, mask, bg)
        out.square().mean().backward()
        outs.append(out)
    assert_float64_close(outs[1], outs[0])
    # biases before an instance norm have a true gradient of zero: compared at the net's gradient scale
    assert_grads_float64_close(nets[0].named_parameters(), nets[1].parameters())


def scene_maps(n=2, size=(32, 48), seed=0):
    """(one-hot labels, edit mask, background mask) of float64 scenes: sky, building, road, a car (an
    excluded class) that is foreground in sample 0, and terrain (22) lying wholly under the edit, so
    without a known pixel: every branch of the self-propagation is taken."""
    g = torch.Generator().manual_seed(seed)
    h, w = size
    labels = torch.full((n, h, w), 7, dtype=torch.long)
    labels[:, :8] = 23
    labels[:, 8:16, :24] = 11
    labels[:, 18:26, 4:20] = 26
    labels[:, 22:30, 26:40] = 22
    labels[1, 10:14] = torch.randint(0, 34, (4, w), generator=g)  # sample 1: a band of any ids
    seg = F.one_hot(labels, 34).permute(0, 3, 1, 2).to(F64)
    mask = torch.zeros(n, 1, h, w, dtype=F64)
    mask[:, :, 4:31, 2:42] = 1
    mask[1, :, :, 30:] = 1
    bg = torch.ones(n, 1, h, w, dtype=F64)
    bg[0, :, 18:26, 4:20] = 0
    return seg, mask, bg


@pytest.mark.parametrize('impl', ['reference', 'fast'])
def test_background_generator_against_its_layer_list(impl):
    """The whole bg_G, random weights, against a functional forward written from the layer table
    (enc1..enc8; dec1 with skip enc6, dec2 with enc4, dec3 with enc2, each followed by SSP; dec4,
    dec5, LeakyReLU, conv_img): a skip taken from the wrong encoder layer (enc5/enc6, enc3/enc4,
    enc1/enc2 have the same shapes) or a layer left out changes the output at order 1."""
    torch.manual_seed(2)
    g = set_impl(randomize(BackgroundGenerator(label_nc=34, ngf=4), 0.2).double().eval(), impl)
    seg, mask, bg = scene_maps()
    x = torch.cat([torch.rand(2, 3, 32, 48, dtype=F64) * 2 - 1, seg * bg, torch.rand(2, 1, 32, 48, dtype=F64) * bg,
                   mask * bg], 1)
    with torch.no_grad():
        g.conv_img.conv.weight.mul_(0.3)  # pre-activations of order 1: tanh does not flatten differences
        out = g(x, seg, mask, bg)
        want = background_generator(g, x, seg, mask, bg)
    assert out.shape == (2, 3, 32, 48) and float((want.abs() > 0.99).double().mean()) < 0.01
    assert_float64_close(out, want)


def test_background_discriminators():
    """netD_BG and netD_patch: six zero-padded SN layers on 3 + 34 channels, 4,379,200 parameters;
    a 3×3 score map for a 160×160 patch. Their labels are the full one-hot map, not zero outside
    the edit, so no label window: D(image, labels) is the plain cat([labels, image])."""
    from semedit.models.networks.discriminators import SNPatchDiscriminator
    d = init_weights(SNPatchDiscriminator(37, 6, ndf=64, pad_type='zero', sparse_labels=False))
    assert count(d) == 4_379_200 and len(d.state_dict()) == 18
    assert isinstance(d.dis_model[0].pad, torch.nn.ZeroPad2d)
    assert d(torch.randn(1, 37, 160, 160)).shape == (1, 3, 3, 3)
    image, labels = torch.randn(1, 3, 64, 64), torch.rand(1, 34, 64, 64)
    with torch.no_grad():
        d.eval()
        assert torch.equal(set_impl(d, 'fast')(image, labels), d(torch.cat([labels, image], 1)))


def test_mask_boundary_is_upstreams_top_and_left_rule():
    """Upstream erodes with OpenCV's 2×2 rectangle: a masked pixel is a boundary pixel when its upper,
    left or upper-left neighbour is known; the image border never counts (checked against
    cv2.erode on 200 random masks when this was written)."""
    from semedit.models.networks.discriminators import mask_boundary
    m = torch.zeros(6, 7, dtype=torch.uint8)
    m[1:4, 2:6] = 1
    m[5, 0] = 1          # touches the image border only on its left and bottom
    want = torch.zeros(6, 7, dtype=torch.bool)
    want[1, 2:6] = True  # top row of the box
    want[1:4, 2] = True  # left column of the box (bottom and right sides are not marked)
    want[5, 0] = True    # its upper neighbour (4, 0) is known
    assert torch.equal(mask_boundary(m), want)
    full = torch.ones(4, 4)
    assert not mask_boundary(full).any()  # the image border never erodes
    sym = mask_boundary(m, symmetric=True)
    assert sym[3, 2:6].all() and sym[1:4, 5].all() and not sym[2, 3:5].any()  # all four sides, not the inside


def test_boundary_patches_windows_and_no_boundary():
    import random
    from semedit.models.networks.discriminators import boundary_patches
    mask = torch.zeros(3, 1, 256, 256)
    mask[0, :, 10:200, 30:250] = 1
    mask[2, :, 0:5, 250:] = 1          # sample 1 has no edited pixel, sample 2 touches two borders
    images = torch.rand(3, 3, 256, 256)
    seg = torch.rand(3, 34, 256, 256)
    (patches, seg_patches), windows = boundary_patches([images, seg], mask, random.Random(0))
    assert patches.shape == (8, 3, 160, 160) and seg_patches.shape == (8, 34, 160, 160)
    assert sorted({w[0] for w in windows}) == [0, 2]
    for b, r0, r1, c0, c1 in windows:
        assert 0 <= r0 < r1 <= 255 and 0 <= c0 < c1 <= 255    # upstream's window never holds row/column 255
        assert r1 - r0 == c1 - c0 and 96 <= r1 - r0 <= 160 and (r1 - r0) % 2 == 0
    (empty,), none = boundary_patches([images], torch.zeros(2, 1, 256, 256), random.Random(0))
    assert empty.shape == (0, 3, 160, 160) and none == []  # upstream crashes on such a batch


def test_fusion_network_counts_layout_and_residual():
    """F_stage (upstream fusion/networks/F_stage.py): 3,550,048 parameters, 55 entries; the output is
    the composite plus a tanh correction inside the mask only."""
    with META:
        f = FusionNetwork()
    sd = f.state_dict()
    assert count(f) == 3_550_048 and len(sd) == 55
    assert sd['init_conv.conv.weight'].shape == (32, 5, 7, 7)
    assert sd['dec2.gated_conv2d.conv2d.weight_orig'].shape == (128, 384, 3, 3) and 'dec1.conv2d.weight' not in sd
    assert sd['dec5.conv2d.weight'].shape == (32, 64, 3, 3) and 'conv_img.conv.bias' not in sd
    small = randomize(FusionNetwork(ngf=4)).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 8:24, 4:20] = 1
    with torch.no_grad():
        out = small(x, mask, torch.rand(2, 1, 32, 32).round())
    assert torch.equal(out[(mask == 0).expand_as(out)], x[(mask == 0).expand_as(x)])   # outside: the composite
    assert float((out - x).abs().max()) <= 1                                           # inside: + tanh


def test_fusion_network_against_its_layer_list():
    """The whole F_stage, random weights, against a functional forward from its layer table (enc1..enc6;
    dec2 with skip enc4, dec3 with enc2, dec4, dec5, conv_img without a LeakyReLU before it; the
    residual tanh(·)·M + masked_G)."""
    torch.manual_seed(3)
    f = randomize(FusionNetwork(ngf=4), 0.2).double().eval()
    with torch.no_grad():
        f.conv_img.conv.weight.mul_(0.3)
    x = torch.rand(2, 3, 32, 48, dtype=F64) * 2 - 1
    mask = torch.zeros(2, 1, 32, 48, dtype=F64)
    mask[..., 6:26, 10:40] = 1
    edges = (torch.rand(2, 1, 32, 48, dtype=F64) > 0.8).to(F64) * mask
    with torch.no_grad():
        out = f(x, mask, edges)
        want = fusion_network(f, x, mask, edges)
        inside = (want - x)[(mask > 0).expand_as(x)]
    assert float((inside.abs() > 0.99).double().mean()) < 0.01  # the correction is not saturated
    assert_float64_close(out, want)
