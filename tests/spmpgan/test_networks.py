"""SPM-PGAN networks against the authors' code: block formula, parameter counts, key layout, shapes."""
import pytest
import torch
import torch.nn.functional as F

from semedit.models.networks.blocks import SPMBlock, UpSPMBlock
from semedit.models.networks.implementation import set_impl
from semedit.models.networks.fast.windows import SemanticMaps
from semedit.models.networks.discriminators import SNPatchDiscriminator
from semedit.models.networks.init import init_weights
from semedit.models.networks.spmpgan import ProgressiveGenerator, StageGenerator
from tolerances import EPS32, assert_float64_close, assert_sums_close, conv_magnitude

META = torch.device('meta')  # the authors' widths built for their shapes only: no memory, no initialisation

pytestmark = pytest.mark.numerics


def count(m):
    return sum(p.numel() for p in m.parameters())


def randomize(block):
    """Non-trivial weights and biases so every term of the formula matters."""
    with torch.no_grad():
        for p in block.parameters():
            p.normal_(0, 0.3)
    return block


@pytest.mark.parametrize('impl', ['reference', 'fast'])
@pytest.mark.parametrize('stride', [1, 2])
def test_spm_block_matches_direct_formula(stride, impl):
    """The block of upstream's CondGatedConv2d.forward, written out with F.conv2d on tiny tensors."""
    L = 5
    blk = set_impl(randomize(SPMBlock(3, 4, L + 2, stride=stride, hidden=6)).double(), impl)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    seg = torch.randn(2, L + 1, 16, 16, dtype=torch.float64)
    mask = (torch.rand(2, 1, 16, 16) > 0.5).double()
    got = blk(x, torch.cat([seg, mask], 1))

    conv = lambda m, t, s=1: F.conv2d(t, m.weight, m.bias, stride=s, padding=1)  # noqa: E731
    h = F.conv2d(F.pad(x, (1, 1, 1, 1)), blk.conv2d.weight, blk.conv2d.bias, stride=stride)
    mu = h.mean((2, 3), keepdim=True)
    var = h.var((2, 3), unbiased=False, keepdim=True)
    n = (h - mu) / torch.sqrt(var + 1e-5)
    size = n.shape[-2:]
    # seg and M are resized separately from full resolution with legacy nearest
    seg_r = F.interpolate(seg, size=size, mode='nearest')
    m_r = F.interpolate(mask, size=size, mode='nearest')
    c = F.relu(conv(blk.mlp_shared_2[0], torch.cat([seg_r, m_r], 1)))
    part = lambda name, t: conv(getattr(blk, name), t)  # noqa: E731
    gg, bg = part('mlp_gamma_ctx_gamma', c), part('mlp_beta_ctx_gamma', c)
    gb, bb = part('mlp_gamma_ctx_beta', c), part('mlp_beta_ctx_beta', c)
    a = F.relu(conv(blk.mlp_shared[0], x, stride))
    gs, bs = part('mlp_gamma', a), part('mlp_beta', a)
    gamma = gs * (1 + gg) + bg
    beta = bs * (1 + gb) + bb
    want = F.leaky_relu(n * (1 + gamma) + beta, 0.2)
    assert got.shape == (2, 4, 8 // stride, 8 // stride)
    assert_float64_close(got, want)  # the same formula: float64 rounding only (tolerances.py)


def test_up_block_upsamples_then_concatenates_skip_second():
    blk = randomize(UpSPMBlock(3 + 2, 4, 4, sn=False, hidden=6))
    x, skip = torch.randn(1, 3, 4, 4), torch.randn(1, 2, 8, 8)
    sem = torch.randn(1, 4, 16, 16)
    up = F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)
    # the same operations on the same numbers: bit-identical
    assert torch.equal(blk(x, sem, skip), blk.gated_conv2d(torch.cat([up, skip], 1), sem))


def test_semantic_maps_cache_equals_direct_resize():
    full = torch.rand(1, 3, 256, 256)
    sem = SemanticMaps(full)
    for s in (128, 64, 2):
        assert torch.equal(sem.at((s, s)), F.interpolate(full, size=(s, s), mode='nearest'))
        assert sem.at((s, s)) is sem.at((s, s))


def test_parameter_counts_match_the_authors():
    """The authors' nets at ngf 32, Cityscapes (L = 34) and ADE20K (L = 151), built on the meta device
    (shapes without memory)."""
    with META:
        g = ProgressiveGenerator(34, ngf=32)
    assert (count(g.G1), count(g.G2), count(g.G3)) == (12_902_176, 23_125_536, 38_069_280)
    assert count(g) == 74_096_992
    with META:
        assert [count(SNPatchDiscriminator(37, n)) for n in (4, 5, 6)] == [1_102_400, 2_740_800, 4_379_200]
    # per-block counts
    g1 = g.G1
    expected = {'enc1': 134_272, 'enc2': 279_360, 'enc3': 574_720, 'enc4': 685_312, 'enc5': 1_276_032,
                'enc6': 1_644_672, 'enc7': 3_121_024, 'dec6': 3_119_232, 'dec5': 1_127_680,
                'dec4': 537_408, 'dec3': 242_272, 'dec2': 159_328, 'dec1': 864}
    assert {k: count(getattr(g1, k)) for k in expected} == expected
    assert count(g.G2.enc8) == 4_448_128 and count(g.G2.dec7) == 5_775_232
    assert count(g.G3.enc9) == 8_580_480 and count(g.G3.dec8) == 9_756_544
    assert (count(g.G3.dec7), count(g.G3.dec6)) == (3_119_232, 2_381_952)
    # spectral-norm buffers, independent of L
    sn = lambda m: sum(v.numel() for k, v in m.state_dict().items() if k.endswith(('weight_u', 'weight_v')))  # noqa: E731
    assert (sn(g.G1), sn(g.G2), sn(g.G3)) == (14_624, 22_048, 33_824)
    with META:
        assert [sn(SNPatchDiscriminator(37, n)) for n in (4, 5, 6)] == [12_576, 19_232, 25_888]


def test_ade20k_counts():
    with META:
        assert count(ProgressiveGenerator(151, ngf=32)) == 76_927_456
        assert [count(SNPatchDiscriminator(154, n)) for n in (4, 5, 6)] == [1_289_600, 2_928_000, 4_566_400]


def test_state_dict_layout_matches_upstream():
    """795 netG keys in upstream order and names (the authors' cityscapes.pth)."""
    sd = ProgressiveGenerator(34, ngf=4).state_dict()
    keys = list(sd)
    assert len(keys) == 795
    assert sum(k.startswith('G1.') for k in keys) == 227
    assert sum(k.startswith('G2.') for k in keys) == 265
    assert sum(k.startswith('G3.') for k in keys) == 303
    assert keys[0] == 'G1.enc1.conv2d.weight'
    assert keys[-1] == 'G3.dec1.conv.weight'
    enc = [k[len('G1.enc1.'):] for k in keys if k.startswith('G1.enc1.')]
    assert enc[:4] == ['conv2d.weight', 'conv2d.bias', 'mlp_shared.0.weight', 'mlp_shared.0.bias']
    assert len(enc) == 18
    dec = [k[len('G1.dec6.gated_conv2d.'):] for k in keys if k.startswith('G1.dec6.')]
    assert dec[:4] == ['conv2d.bias', 'conv2d.weight_orig', 'conv2d.weight_u', 'conv2d.weight_v']
    assert len(dec) == 20
    with META:
        big = ProgressiveGenerator(34, ngf=32).state_dict()
    assert big['G1.enc1.mlp_shared_2.0.weight'].shape == (64, 36, 3, 3)
    assert big['G1.dec6.gated_conv2d.conv2d.weight_v'].shape == (6912,)
    assert big['G3.dec8.gated_conv2d.mlp_shared.0.weight'].shape == (64, 1536, 3, 3)
    assert 'G3.dec1.conv.bias' not in big
    d = SNPatchDiscriminator(37, 6).state_dict()
    assert list(d)[:3] == ['dis_model.0.conv.weight_orig', 'dis_model.0.conv.weight_u', 'dis_model.0.conv.weight_v']
    assert len(d) == 18


def test_stage_and_wrapper_shapes():
    L = 34
    g = ProgressiveGenerator(L, ngf=4).eval()
    gt = torch.rand(2, 3, 256, 256) * 2 - 1
    mask = torch.zeros(2, 1, 256, 256)
    mask[:, :, 64:160, 32:200] = 1
    seg = torch.zeros(2, L + 1, 256, 256)
    seg[:, 7] = 1
    with torch.no_grad():
        out = g(gt, gt * (1 - mask), seg * mask, mask)
    for key in ('gt', 'input', 'composite', 'fake'):
        assert [tuple(t.shape) for t in out[key]] == [(2, 3, 64, 64), (2, 3, 128, 128), (2, 3, 256, 256)]
    for t in out['fake']:
        assert t.abs().max() <= 1
    # every stage's bottleneck is 2×2 at the paper size; a 512×256 frame works too
    with torch.no_grad():
        wide = g(torch.zeros(1, 3, 256, 512), torch.zeros(1, 3, 256, 512), torch.zeros(1, L + 1, 256, 512),
                 torch.ones(1, 1, 256, 512))
    assert wide['composite'][-1].shape == (1, 3, 256, 512)


def test_composite_identity_keeps_known_pixels():
    """c_k = M ⊙ f_k + (1 − M) ⊙ gt_k (upstream generator.py), so known pixels of the final output equal gt exactly."""
    L = 34
    g = ProgressiveGenerator(L, ngf=4).eval()
    gt = torch.rand(1, 3, 256, 256) * 2 - 1
    mask = torch.zeros(1, 1, 256, 256)
    mask[:, :, 100:180, 40:90] = 1
    with torch.no_grad():
        out = g(gt, gt * (1 - mask), torch.zeros(1, L + 1, 256, 256), mask)
    c3, f3 = out['composite'][2], out['fake'][2]
    known = mask.expand_as(gt) == 0
    assert torch.equal(c3[known], gt[known])
    assert torch.equal(c3[~known], f3[~known])
    assert torch.equal(out['gt'][2], gt)  # the 256 "resize" is an exact copy
    # stage 2 input: known pixels from the downsampled unmasked gt, hole from upsampled G1 output
    m128 = F.interpolate(mask, size=(128, 128), mode='nearest')
    gt2 = F.interpolate(gt, size=(128, 128), mode='bilinear', align_corners=False)
    up = F.interpolate(out['fake'][0], scale_factor=2, mode='bilinear', align_corners=False)
    # values in [-1, 1] through three float32 operations, in whatever order: ≤ 3 roundings each
    torch.testing.assert_close(out['input'][1], m128 * up + (1 - m128) * gt2, rtol=0, atol=8 * EPS32)


def test_discriminator_output_and_init():
    d = init_weights(SNPatchDiscriminator(37, 4, ndf=64))
    assert d(torch.randn(1, 37, 64, 64)).shape == (1, 3, 4, 4)
    w = d.dis_model[0].conv.weight_orig.detach()
    # N(0, 0.02) estimated from 59,200 draws: standard errors 6e-5 (std) and 8e-5 (mean), 0.002 is > 20σ;
    # the weights below (≥ 4,608 draws: standard error of the std ≤ 2.1e-4) keep the bound at ≥ 9σ
    assert abs(float(w.std()) - 0.02) < 0.002 and abs(float(w.mean())) < 0.002
    g = init_weights(StageGenerator(1, 34, ngf=8))
    assert torch.count_nonzero(g.enc2.conv2d.bias) == 0
    assert abs(float(g.enc3.conv2d.weight.detach().std()) - 0.02) < 0.002
    assert abs(float(g.dec4.gated_conv2d.conv2d.weight_orig.detach().std()) - 0.02) < 0.003
    # the style and semantic convs get the same N(0, 0.02) and zero bias
    assert abs(float(g.enc3.mlp_gamma_ctx_beta.weight.detach().std()) - 0.02) < 0.002
    assert torch.count_nonzero(g.enc3.mlp_beta_ctx_beta.bias) == 0 and torch.count_nonzero(g.enc3.mlp_beta.bias) == 0


def test_spectral_norm_eval_uses_stored_vectors():
    """In eval mode W_eff = W / (uᵀ W v) with the stored u, v (torch's spectral_norm), and the forward does not
    change u."""
    d = SNPatchDiscriminator(5, 4, ndf=8)
    d(torch.randn(1, 5, 64, 64))  # one train-mode power iteration
    d.eval()
    conv = d.dis_model[0].conv
    u, v = conv.weight_u.clone(), conv.weight_v.clone()
    w = conv.weight_orig.reshape(conv.weight_orig.shape[0], -1)
    sigma = torch.dot(u, w @ v)
    x = torch.randn(1, 5, 64, 64)
    with torch.no_grad():
        y = d.dis_model[0](x)
        padded = F.pad(x, (2, 2, 2, 2), mode='replicate')
        want = F.leaky_relu(F.conv2d(padded, conv.weight_orig / sigma, stride=2), 0.2)
    # float32, two summation orders of the same terms (LeakyReLU is 1-Lipschitz; tolerances.py)
    assert_sums_close(y, want, *conv_magnitude(padded, conv.weight_orig / sigma, None, 2))
    assert torch.equal(conv.weight_u, u)
