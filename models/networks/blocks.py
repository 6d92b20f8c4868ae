"""Building blocks shared by SPM-PGAN and SIEDOB.

Upstream keeps a copy of ``blocks.py`` in every sub-project; here each block is written once.
Module attribute names follow upstream so that the authors' state dicts load without renaming
(spec SPMPGAN.md §12.2, SIEDOB_scene.md §1).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm


def make_pad(pad_type, padding):
    if pad_type == 'zero':
        return nn.ZeroPad2d(padding)
    if pad_type == 'replicate':
        return nn.ReplicationPad2d(padding)
    if pad_type == 'reflect':
        return nn.ReflectionPad2d(padding)
    raise ValueError(f'unknown pad type {pad_type!r}')


def make_activation(name):
    if name == 'lrelu':
        return nn.LeakyReLU(0.2, inplace=False)
    if name == 'relu':
        return nn.ReLU(inplace=False)
    if name == 'tanh':
        return nn.Tanh()
    if name == 'sigmoid':
        return nn.Sigmoid()
    if name == 'none':
        return None
    raise ValueError(f'unknown activation {name!r}')


class Conv2dBlock(nn.Module):
    """pad -> conv -> [norm] -> [activation].

    Upstream bias rule (SIEDOB_scene.md §1.1, SPMPGAN.md §3): the conv has a bias only when
    norm == 'in'. norm 'sn' wraps the conv in spectral norm and adds no normalisation layer.
    """

    def __init__(self, in_nc, out_nc, kernel_size, stride=1, padding=0, norm='none',
                 activation='none', pad_type='zero', dilation=1):
        super().__init__()
        self.pad = make_pad(pad_type, padding)
        conv = nn.Conv2d(in_nc, out_nc, kernel_size, stride, padding=0, dilation=dilation,
                         bias=(norm == 'in'))
        self.conv = spectral_norm(conv) if norm == 'sn' else conv
        if norm == 'in':
            self.norm = nn.InstanceNorm2d(out_nc)
        elif norm == 'bn':
            self.norm = nn.BatchNorm2d(out_nc)
        elif norm in ('none', 'sn'):
            self.norm = None
        else:
            raise ValueError(f'unknown norm {norm!r}')
        self.activation = make_activation(activation)

    def forward(self, x):
        x = self.conv(self.pad(x))
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x


class SemanticMaps:
    """The semantic input of every SPM block, nearest-resized once per resolution.

    Upstream resizes the full-resolution [one-hot*M, edge*M, M] map inside each of the 36 SPM
    blocks; every block resizes straight from full resolution (spec §1 step 4), so caching by
    output size gives the same numbers with a fraction of the copies.
    """

    def __init__(self, full):
        self.full = full
        self._cache = {tuple(full.shape[-2:]): full}

    def at(self, size):
        size = tuple(size)
        if size not in self._cache:
            self._cache[size] = F.interpolate(self.full, size=size, mode='nearest')
        return self._cache[size]


class SPMBlock(nn.Module):
    """Style-preserved modulation block (spec SPMPGAN.md §1, upstream ``CondGatedConv2d``).

    ``sem_nc`` is the number of semantic input channels: one-hot L + edge 1 + mask 1 (L + 2).
    ``hidden`` is 64 in the paper configuration (ngf 32); ``--ngf`` scales it with every width.
    Despite the upstream name there is no gating.
    """

    def __init__(self, in_nc, out_nc, sem_nc, stride=1, sn=False, hidden=64):
        super().__init__()
        conv = nn.Conv2d(in_nc, out_nc, 3, stride, padding=0, bias=True)
        # Upstream: only the decoder (up-sampling) blocks' main conv is spectral-normed (§14.1.1).
        self.conv2d = spectral_norm(conv) if sn else conv
        # Style (context) branch reads the raw block input with its own zero padding (§14.1.2).
        self.mlp_shared = nn.Sequential(nn.Conv2d(in_nc, hidden, 3, stride, 1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, out_nc, 3, 1, 1)
        self.mlp_beta = nn.Conv2d(hidden, out_nc, 3, 1, 1)
        # Semantic branch.
        self.mlp_shared_2 = nn.Sequential(nn.Conv2d(sem_nc, hidden, 3, 1, 1), nn.ReLU())
        self.mlp_gamma_ctx_gamma = nn.Conv2d(hidden, out_nc, 3, 1, 1)
        self.mlp_beta_ctx_gamma = nn.Conv2d(hidden, out_nc, 3, 1, 1)
        self.mlp_gamma_ctx_beta = nn.Conv2d(hidden, out_nc, 3, 1, 1)
        self.mlp_beta_ctx_beta = nn.Conv2d(hidden, out_nc, 3, 1, 1)

    def forward(self, x, sem):
        """x: N×Cin×H×W; sem: a ``SemanticMaps`` (or a full-resolution tensor)."""
        if not isinstance(sem, SemanticMaps):
            sem = SemanticMaps(sem)
        h = self.conv2d(F.pad(x, (1, 1, 1, 1)))
        n = F.instance_norm(h, eps=1e-5)
        c = self.mlp_shared_2(sem.at(n.shape[-2:]))
        gamma_gamma = self.mlp_gamma_ctx_gamma(c)
        beta_gamma = self.mlp_beta_ctx_gamma(c)
        gamma_beta = self.mlp_gamma_ctx_beta(c)
        beta_beta = self.mlp_beta_ctx_beta(c)
        a = self.mlp_shared(x)
        gamma_style = self.mlp_gamma(a)
        beta_style = self.mlp_beta(a)
        # First modulation fuses style and semantics; the second modulates the features (§1 steps 6-7).
        gamma = gamma_style * (1 + gamma_gamma) + beta_gamma
        beta = beta_style * (1 + gamma_beta) + beta_beta
        return F.leaky_relu(n * (1 + gamma) + beta, 0.2)


class UpSPMBlock(nn.Module):
    """Bilinear ×2, concatenate the skip (upsampled first), then an SPM block with a spectral-norm
    main conv (spec §2, upstream ``CondTransposeGatedConv2d``; the child keeps upstream's name)."""

    def __init__(self, in_nc, out_nc, sem_nc, sn=True, hidden=64):
        super().__init__()
        self.gated_conv2d = SPMBlock(in_nc, out_nc, sem_nc, stride=1, sn=sn, hidden=hidden)

    def forward(self, x, sem, skip=None):
        x = F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.gated_conv2d(x, sem)
