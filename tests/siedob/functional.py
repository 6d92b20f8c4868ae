"""SIEDOB's layers written as functional ops from the authors' layer lists (../shared/spec/SIEDOB_*.md,
upstream blocks.py, bg_G.py, F_stage.py), reading only the weights of our modules: the oracles the
network tests compare our forwards with, in float64, and the VGG loss computed by hand."""
import torch
import torch.nn.functional as F

from semedit.models.networks.spectral_norm import current_weight

#: the classes upstream's self-propagation never spreads (bg_G.py's default argument): Cityscapes' things
UPSTREAM_EXCLUDED = tuple(range(24, 34))


def lrelu(x):
    return F.leaky_relu(x, 0.2)


def instance_norm(x):
    return F.instance_norm(x, eps=1e-5)


def gated(layer, x, stride, pad_mode, skip=None):
    """upstream GatedConv2d (``pad_mode`` 'reflect') or TransposeGatedConv2d ('zero': bilinear ×2, then
    the skip concatenated after the upsampled tensor), weights as the (spectral-normed) convs hold them:
    act(IN(conv(pad(x)))) · sigmoid(mask_conv(pad(x)))."""
    if skip is not None or pad_mode == 'zero':
        layer = layer.gated_conv2d
        x = F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)
        x = torch.cat([x, skip], 1) if skip is not None else x
    xp = F.pad(x, (1, 1, 1, 1), mode='reflect' if pad_mode == 'reflect' else 'constant')
    w_f, w_g = current_weight(layer.conv2d), current_weight(layer.mask_conv2d)
    feat = lrelu(instance_norm(F.conv2d(xp, w_f, layer.conv2d.bias, stride)))
    return feat * torch.sigmoid(F.conv2d(xp, w_g, layer.mask_conv2d.bias, stride))


def spade(x, seg, norm):
    """(IN(x)·(1 + γ) + β, γ) with a = ReLU(conv3×3(seg resized nearest)), γ, β = conv3×3(a)."""
    seg = F.interpolate(seg, size=x.shape[-2:], mode='nearest')
    a = F.relu(F.conv2d(seg, norm.mlp_shared[0].weight, norm.mlp_shared[0].bias, padding=1))
    gamma = F.conv2d(a, norm.mlp_gamma.weight, norm.mlp_gamma.bias, padding=1)
    beta = F.conv2d(a, norm.mlp_beta.weight, norm.mlp_beta.bias, padding=1)
    return instance_norm(x) * (1 + gamma) + beta, gamma


def init_conv(block, x):
    """Conv2dBlock 7×7 / 1 / 3, zero padding, IN (so with a bias), LeakyReLU."""
    return lrelu(instance_norm(F.conv2d(F.pad(x, (3, 3, 3, 3)), block.conv.weight, block.conv.bias)))


def to_image(block, x):
    """conv_img: Conv2dBlock 3×3 / 1 / 1, zero padding, no norm (so no bias), tanh."""
    return torch.tanh(F.conv2d(F.pad(x, (1, 1, 1, 1)), block.conv.weight))


def self_propagation(ssp, x, seg, bg, mask, excluded=UPSTREAM_EXCLUDED):
    """StyleProPagate (SIEDOB_scene.md §2.3) with the class codes as explicit sums over pixels:
    P = LReLU(conv3×3 no bias (X)); per class j the mean of P over its known background pixels
    (0 for an excluded class or one without such a pixel); every background pixel of class j gets
    code j; out = LReLU(SPADE(conv_0(X), [Z, s·b]))."""
    p = lrelu(F.conv2d(F.pad(x, (1, 1, 1, 1)), ssp.conv.conv.weight))
    s, b, m = (F.interpolate(t, size=p.shape[-2:], mode='nearest') for t in (seg, bg, mask))
    ctx, tgt = s * b * (1 - m), s * b
    z = torch.zeros_like(p)
    for i in range(p.shape[0]):
        for j in range(s.shape[1]):
            area = ctx[i, j].sum()
            if j in excluded or area == 0:
                continue
            code = (p[i] * ctx[i, j]).sum((1, 2)) / area
            z[i] += code[:, None, None] * tgt[i, j]
    layer = ssp.stylelayer
    y = F.conv2d(x, layer.conv_0.weight, layer.conv_0.bias, padding=1)
    return lrelu(spade(y, torch.cat([z, tgt], 1), layer.spade)[0])


def background_generator(g, x, seg, mask, bg):
    """bg_G (SIEDOB_scene.md §2.2): init_conv, enc1..enc8, dec1 (skip enc6) + SSP, dec2 (skip enc4)
    + SSP, dec3 (skip enc2) + SSP, dec4, dec5, LeakyReLU, conv_img."""
    h = init_conv(g.init_conv, x)
    e = []
    for k, stride in enumerate((2, 1, 2, 1, 2, 1, 2, 1), start=1):
        h = gated(getattr(g, f'enc{k}'), h, stride, 'reflect')
        e.append(h)
    e1, e2, e3, e4, e5, e6, e7, e8 = e
    d = self_propagation(g.style1, gated(g.dec1, e8, 1, 'zero', e6), seg, bg, mask)
    d = self_propagation(g.style2, gated(g.dec2, d, 1, 'zero', e4), seg, bg, mask)
    d = self_propagation(g.style3, gated(g.dec3, d, 1, 'zero', e2), seg, bg, mask)
    d = gated(g.dec5, gated(g.dec4, d, 1, 'zero'), 1, 'reflect')
    return to_image(g.conv_img, lrelu(d))


def fusion_network(f, masked_g, mask, edges):
    """F_stage (SIEDOB_scene.md §5.1): init_conv on [masked_G, M, E], enc1..enc6, dec2 (skip enc4),
    dec3 (skip enc2), dec4, dec5, conv_img (no LeakyReLU before it); out = tanh(·)·M + masked_G."""
    h = init_conv(f.init_conv, torch.cat([masked_g, mask, edges], 1))
    e = []
    for k, stride in enumerate((2, 1, 2, 1, 2, 1), start=1):
        h = gated(getattr(f, f'enc{k}'), h, stride, 'reflect')
        e.append(h)
    e1, e2, e3, e4, e5, e6 = e
    d = gated(f.dec3, gated(f.dec2, e6, 1, 'zero', e4), 1, 'zero', e2)
    d = gated(f.dec5, gated(f.dec4, d, 1, 'zero'), 1, 'reflect')
    return to_image(f.conv_img, d) * mask + masked_g


# ---- the VGG loss, by hand ------------------------------------------------------------------------

#: VGG19 ``features`` indices of relu1_1 ... relu5_1 and their weights (upstream loss.py)
VGG_TAPS = {1: 1 / 32, 6: 1 / 16, 11: 1 / 8, 20: 1 / 4, 29: 1.0}


def vgg_loss(features, x, y):
    """Σ_k w_k · mean|φ_k(x) − φ_k(y)| over the taps of ``features`` (a VGG19 ``features`` stack),
    on the tensors as given (no ImageNet normalisation, upstream's)."""
    total = x.new_zeros(())
    for i in range(max(VGG_TAPS) + 1):
        x, y = features[i](x), features[i](y)
        if i in VGG_TAPS:
            total = total + VGG_TAPS[i] * (x - y).abs().mean()
    return total


def assert_vgg_logged(model, vgg_features, x, y):
    """The VGG term ``model`` logged (``G_VGG``) is λ_VGG × ``vgg_loss`` of ``vgg_features`` on (x, y),
    the documented tensors: within 16× the float32 computation's own error against float64."""
    import copy
    from tolerances import float32_tolerance
    lam = model.opt.lambda_vgg
    assert lam > 0 and 'G_VGG' in model.losses
    x, y = x.detach().float(), y.detach().float()
    with torch.no_grad():
        want32 = vgg_loss(vgg_features, x, y) * lam
        want64 = vgg_loss(copy.deepcopy(vgg_features).double(), x.double(), y.double()) * lam
    got = model.losses['G_VGG'].double()
    tol = float32_tolerance(want32, want64)
    assert abs(float(got - want64)) <= tol, f'G_VGG {float(got):.6g}, want {float(want64):.6g} (± {tol:.2g})'
    return float(want64)


def assert_total_is_the_sum(losses, terms):
    """The logged total ``G`` is the sum of the logged terms (a term logged but not optimised, or
    optimised but not logged, shows): k float32 terms summed in another order, ≤ 2·γ_k·Σ|terms|."""
    from tolerances import gamma
    total = sum(losses[t] for t in terms)
    assert abs(losses['G'] - total) <= 2 * gamma(len(terms) + 1) * sum(abs(losses[t]) for t in terms), (losses, terms)


def stage_with_vgg(stage, vgg_features, **options):
    """A SIEDOB stage for training at tiny widths with its VGG term on (λ_VGG 10, the documented
    default) computed by ``vgg_features``, set up on the CPU."""
    from semedit.models import find_model_using_name
    from semedit.options import default_options
    base = dict(model='siedob', stage=stage, dataset_name='cityscapes', ngf=4, ndf=8, lambda_vgg=10.0)
    base.update(options)
    return find_model_using_name('siedob', stage)(default_options(True, **base), torch.device('cpu'),
                                                  vgg_features=vgg_features).setup()
