"""Building blocks shared by SPM-PGAN and SIEDOB, written as the papers describe them.

Upstream keeps a copy of ``blocks.py`` in every sub-project; here each block is written once.
Module attribute names follow upstream (``networks/blocks.py`` of WuyangLuo/SPMPGAN) so that the
authors' state dicts load without renaming. A block with a faster implementation of the same
function has a fast twin in ``fast/`` (``implementation.set_impl``); these need nothing of it.
"""
import functools

import torch
import torch.nn as nn
import torch.nn.functional as F

from .spectral_norm import spectral_norm


PADS = {'zero': nn.ZeroPad2d, 'replicate': nn.ReplicationPad2d, 'reflect': nn.ReflectionPad2d}
ACTIVATIONS = {'lrelu': functools.partial(nn.LeakyReLU, 0.2), 'relu': nn.ReLU, 'tanh': nn.Tanh,
               'sigmoid': nn.Sigmoid, 'none': None}
#: 'in': InstanceNorm2d (no affine, no running statistics), 'bn': BatchNorm2d
NORMS = {'in': nn.InstanceNorm2d, 'bn': nn.BatchNorm2d, 'none': None}


def _choose(table, name, what):
    if name not in table:
        raise ValueError(f'unknown {what} {name!r}; one of {", ".join(table)}')
    return table[name]


def make_pad(pad_type, padding):
    return _choose(PADS, pad_type, 'pad type')(padding)


def make_activation(name):
    cls = _choose(ACTIVATIONS, name, 'activation')
    return cls() if cls is not None else None


def make_norm(name, nc):
    cls = _choose(NORMS, name, 'norm')
    return cls(nc) if cls is not None else None


class Conv2dBlock(nn.Module):
    """pad -> conv -> [norm] -> [activation].

    Upstream bias rule (``Conv2dBlock`` in both projects' ``blocks.py``): the conv has a bias only
    when norm == 'in'. norm 'sn' wraps the conv in spectral norm and adds no normalisation layer.
    """

    def __init__(self, in_nc, out_nc, kernel_size, stride=1, padding=0, norm='none',
                 activation='none', pad_type='zero', dilation=1):
        super().__init__()
        self.pad = make_pad(pad_type, padding)
        conv = nn.Conv2d(in_nc, out_nc, kernel_size, stride, padding=0, dilation=dilation,
                         bias=(norm == 'in'))
        self.conv = spectral_norm(conv) if norm == 'sn' else conv
        self.norm = make_norm('none' if norm == 'sn' else norm, out_nc)
        self.activation = make_activation(activation)

    def forward(self, x):
        x = self.conv(self.pad(x))
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x


class SPMBlock(nn.Module):
    """Style-preserved modulation (SPM) block of the SPM-PGAN paper: a first modulation fuses the
    context style with the semantic layout into two parameters, a second one modulates the
    features with them. Upstream ``CondGatedConv2d``, which despite its name has no gating.

    With x the block input, S = [one-hot·M, edge·M, M] the semantic input resized to the output
    (nearest) and IN the instance norm (no affine)::

        h  = IN(conv(pad(x)))                                  main conv, zero padding 1
        a  = ReLU(mlp_shared(x))         γs, βs = mlp_gamma(a), mlp_beta(a)          (context style)
        c  = ReLU(mlp_shared_2(S))       γγ, βγ, γβ, ββ = the four *_ctx_* convs of c (semantics)
        γ  = γs · (1 + γγ) + βγ          β = βs · (1 + γβ) + ββ       first modulation: style by semantics
        out = LeakyReLU_0.2(h · (1 + γ) + β)                           second modulation: the features

    ``sem_nc`` is the number of semantic channels, one-hot L + edge 1 + mask 1 (L + 2); ``hidden``
    is 64 in the paper configuration (ngf 32) and scales with ``--ngf``. Only the decoder blocks'
    main conv is spectral-normed (``sn``), as upstream's wrapper defaults make it.
    """

    def __init__(self, in_nc, out_nc, sem_nc, stride=1, sn=False, hidden=64):
        super().__init__()
        conv = nn.Conv2d(in_nc, out_nc, 3, stride, padding=0, bias=True)
        self.conv2d = spectral_norm(conv) if sn else conv
        # the style (context) branch reads the raw block input, with its own zero padding
        self.mlp_shared = nn.Sequential(nn.Conv2d(in_nc, hidden, 3, stride, 1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, out_nc, 3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, out_nc, 3, padding=1)
        # the semantic branch
        self.mlp_shared_2 = nn.Sequential(nn.Conv2d(sem_nc, hidden, 3, 1, 1), nn.ReLU())
        self.mlp_gamma_ctx_gamma = nn.Conv2d(hidden, out_nc, 3, padding=1)
        self.mlp_beta_ctx_gamma = nn.Conv2d(hidden, out_nc, 3, padding=1)
        self.mlp_gamma_ctx_beta = nn.Conv2d(hidden, out_nc, 3, padding=1)
        self.mlp_beta_ctx_beta = nn.Conv2d(hidden, out_nc, 3, padding=1)

    def forward(self, x, sem):
        """x: N×Cin×H×W; sem: the full-resolution semantic input N×sem_nc×H0×W0."""
        h = F.instance_norm(self.conv2d(F.pad(x, (1, 1, 1, 1))), eps=1e-5)
        s = sem if sem.shape[-2:] == h.shape[-2:] else F.interpolate(sem, size=h.shape[-2:], mode='nearest')
        c = self.mlp_shared_2(s)
        gamma_gamma, beta_gamma = self.mlp_gamma_ctx_gamma(c), self.mlp_beta_ctx_gamma(c)
        gamma_beta, beta_beta = self.mlp_gamma_ctx_beta(c), self.mlp_beta_ctx_beta(c)
        a = self.mlp_shared(x)
        gamma_style, beta_style = self.mlp_gamma(a), self.mlp_beta(a)
        gamma = gamma_style * (1 + gamma_gamma) + beta_gamma
        beta = beta_style * (1 + gamma_beta) + beta_beta
        return F.leaky_relu(h * (1 + gamma) + beta, 0.2)


def upsample_and_join(x, skip=None):
    """Bilinear ×2, then the skip concatenated after it (both projects' up-sampling blocks)."""
    x = F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)
    return x if skip is None else torch.cat([x, skip], dim=1)


class UpSPMBlock(nn.Module):
    """Bilinear ×2, concatenate the skip (upsampled first), then an SPM block with a spectral-norm
    main conv (upstream ``CondTransposeGatedConv2d``; the child keeps upstream's name)."""

    def __init__(self, in_nc, out_nc, sem_nc, sn=True, hidden=64):
        super().__init__()
        self.gated_conv2d = SPMBlock(in_nc, out_nc, sem_nc, stride=1, sn=sn, hidden=hidden)

    def forward(self, x, sem, skip=None):
        return self.gated_conv2d(upsample_and_join(x, skip), sem)


# ---- SIEDOB's blocks (WuyangLuo/SIEDOB ``*/networks/blocks.py``) ------------------------------

class GatedConv2d(nn.Module):
    """Gated convolution: two convs of the same padded input, one for features and one for a gate,

        out = act(norm(conv2d(pad(x)))) · sigmoid(mask_conv2d(pad(x)))

    both with a bias, both spectral-normed when ``sn``. Norm and activation act on the features
    before gating; the gate has neither. Reflect padding by default, as upstream."""

    def __init__(self, in_nc, out_nc, kernel_size, stride=1, padding=0, dilation=1, pad_type='reflect',
                 activation='lrelu', norm='none', sn=False):
        super().__init__()
        self.pad = make_pad(pad_type, padding)
        self.norm = make_norm(norm, out_nc)
        self.activation = make_activation(activation)
        wrap = spectral_norm if sn else (lambda m: m)
        # built in upstream's order (feature conv, then gate conv): the same random draws
        self.conv2d = wrap(nn.Conv2d(in_nc, out_nc, kernel_size, stride, padding=0, dilation=dilation))
        self.mask_conv2d = wrap(nn.Conv2d(in_nc, out_nc, kernel_size, stride, padding=0, dilation=dilation))

    def forward(self, x):
        x = self.pad(x)
        features = self.conv2d(x)
        if self.norm is not None:
            features = self.norm(features)
        if self.activation is not None:
            features = self.activation(features)
        return features * torch.sigmoid(self.mask_conv2d(x))


class TransposeGatedConv2d(nn.Module):
    """Bilinear ×2, concatenate the skip (upsampled tensor first), then a gated conv with zero padding
    and spectral norm on both convs. Upstream's name; there is no transposed convolution."""

    def __init__(self, in_nc, out_nc, kernel_size, stride=1, padding=0, dilation=1, pad_type='zero',
                 activation='lrelu', norm='none', sn=True):
        super().__init__()
        self.gated_conv2d = GatedConv2d(in_nc, out_nc, kernel_size, stride, padding, dilation, pad_type,
                                        activation, norm, sn)

    def forward(self, x, skip=None):
        return self.gated_conv2d(upsample_and_join(x, skip))


def gated3x3(in_nc, out_nc, stride=1, norm='in'):
    """SIEDOB's encoder and decoder layer: a 3×3 gated conv, reflect padding 1, LeakyReLU."""
    return GatedConv2d(in_nc, out_nc, 3, stride, 1, norm=norm, activation='lrelu')


def up_gated3x3(in_nc, out_nc, norm='in'):
    """SIEDOB's up-sampling layer: bilinear ×2, the skip, a 3×3 gated conv (zero padding 1, SN)."""
    return TransposeGatedConv2d(in_nc, out_nc, 3, 1, 1, norm=norm, activation='lrelu')


class SPADE(nn.Module):
    """Spatially-adaptive normalisation (Park et al., CVPR 2019), as SIEDOB uses it:

        out = IN(x) · (1 + γ(a)) + β(a),   a = ReLU(conv3×3(seg')),   seg' = seg resized to x (nearest)

    with a 128-channel hidden layer and 3×3 convs (zero padding 1, bias)."""

    def __init__(self, norm_nc, label_nc, hidden=128):
        super().__init__()
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, hidden, 3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, norm_nc, 3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, norm_nc, 3, padding=1)

    def forward(self, x, seg):
        if seg.shape[-2:] != x.shape[-2:]:
            seg = F.interpolate(seg, size=x.shape[-2:], mode='nearest')
        a = self.mlp_shared(seg)
        return F.instance_norm(x, eps=1e-5) * (1 + self.mlp_gamma(a)) + self.mlp_beta(a)


class ResnetBlock(nn.Module):
    """SIEDOB's residual block (upstream ``ResnetBlock``), instance norm *after* the zero padding:

        out = shortcut(x) + conv(IN(pad(lrelu(conv(IN(pad(x)))))))

    so each norm's statistics include the ring of zeros (not the same as pad(IN(x))). The shortcut
    is the identity, or a 1×1 conv without bias when the width changes (``out_nc``)."""

    def __init__(self, dim, out_nc=None):
        super().__init__()
        out_nc = out_nc or dim
        # upstream's order (shortcut first) and Sequential indices: the authors' keys load, and a
        # seeded build draws the same weights
        self.shortcut = nn.Conv2d(dim, out_nc, 1, bias=False) if out_nc != dim else None
        self.conv_block = nn.Sequential(nn.ZeroPad2d(1), nn.InstanceNorm2d(dim), nn.Conv2d(dim, dim, 3),
                                        nn.LeakyReLU(0.2), nn.ZeroPad2d(1), nn.InstanceNorm2d(dim),
                                        nn.Conv2d(dim, out_nc, 3))

    def forward(self, x):
        return (x if self.shortcut is None else self.shortcut(x)) + self.conv_block(x)


class StyleSPADEResnetBlock(nn.Module):
    """SIEDOB's style-modulated residual block (upstream ``styleSPADEResnetBlock``): the class map
    modulates the first half, the reference's style code the second::

        d = conv_0(lrelu(SPADE(x, class map)))
        out = x + conv_1(lrelu(SPADE(d, S)))        S = the style code broadcast over the map

    The style SPADE convolves the constant map S with zero padding, so its γ, β differ on the outer
    two-pixel ring: it is not an AdaIN (upstream ``styleSPADE``)."""

    def __init__(self, dim, class_nc=3, style_nc=128):
        super().__init__()
        self.conv_0 = nn.Conv2d(dim, dim, 3, padding=1)
        self.conv_1 = nn.Conv2d(dim, dim, 3, padding=1)
        self.norm_0 = SPADE(dim, class_nc)
        self.norm_1 = SPADE(dim, style_nc)

    def forward(self, x, class_map, style):
        d = self.conv_0(F.leaky_relu(self.norm_0(x, class_map), 0.2))
        style_map = style.expand(-1, -1, *x.shape[-2:])
        return x + self.conv_1(F.leaky_relu(self.norm_1(d, style_map), 0.2))


class StyleEncoder(nn.Module):
    """An image (and its class map) to a style code B×style_nc×1×1 (upstream ``StyleEncoder``): a
    7×7 conv, ``n_down`` stride-2 4×4 convs (reflect padding, no bias, no norm, LeakyReLU), the
    global mean, and a 1×1 conv with bias."""

    def __init__(self, in_nc=6, dim=32, style_nc=128, n_down=4):
        super().__init__()
        def block(i, o, k, s, p):
            return Conv2dBlock(i, o, k, s, p, norm='none', activation='lrelu', pad_type='reflect')

        layers = [block(in_nc, dim, 7, 1, 3)]
        for _ in range(2):
            layers.append(block(dim, 2 * dim, 4, 2, 1))
            dim *= 2
        for _ in range(n_down - 2):
            layers.append(block(dim, dim, 4, 2, 1))
        layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, style_nc, 1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)
