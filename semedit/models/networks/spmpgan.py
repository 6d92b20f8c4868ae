"""SPM-PGAN generator: three U-Net stages of SPM blocks and the progressive wrapper that runs
them coarse to fine (the paper's progressive architecture; upstream ``networks/G1.py``..``G3.py``
and ``networks/generator.py``).

One ``StageGenerator`` class parameterised by its stage index replaces upstream's three copied
classes and produces the same ``encN`` / ``decN`` / ``dec1`` parameter names.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import Conv2dBlock, SPMBlock, UpSPMBlock

# Channel plans in units of ngf (upstream G1.py, G2.py, G3.py). Encoders enc1..encN; decoders from the deepest
# (dec{N-1}) down to dec2. enc1 and the bottleneck encN have stride 1, the others stride 2.
STAGE_ENCODERS = {
    1: (1, 2, 4, 4, 8, 8, 16),
    2: (1, 2, 4, 4, 8, 8, 16, 16),
    3: (1, 2, 4, 4, 8, 8, 16, 16, 32),
}
STAGE_DECODERS = {
    1: (8, 4, 2, 1, 1),
    2: (16, 8, 4, 2, 1, 1),
    3: (16, 8, 8, 4, 2, 1, 1),
}


#: each stage's resolution as a fraction of the input side: G1 S/4, G2 S/2, G3 S
STAGE_SCALES = {1: 4, 2: 2, 3: 1}


def stage_downsampling(stage):
    """Number of stride-2 encoders of a stage: each input side must be a multiple of 2**this."""
    return len(STAGE_ENCODERS[stage]) - 2


def input_sizes():
    """(multiple, minimum) of the sides the progressive generator runs on: every stage halves its
    input down to a 2×2 bottleneck through its stride-2 encoders."""
    multiple = max(STAGE_SCALES[s] * 2 ** stage_downsampling(s) for s in STAGE_ENCODERS)
    return multiple, 2 * multiple


class StageGenerator(nn.Module):
    """One SPM-PGAN stage (upstream G1/G2/G3). Input: a 3-channel image; labels and mask enter
    only through the SPM blocks' semantic branches."""

    def __init__(self, stage, label_nc, ngf=32, hidden=None, spectral_norm=True):
        super().__init__()
        enc = [m * ngf for m in STAGE_ENCODERS[stage]]
        dec = [m * ngf for m in STAGE_DECODERS[stage]]
        hidden = 2 * ngf if hidden is None else hidden
        sem_nc = label_nc + 2  # one-hot, edge, mask
        n = len(enc)
        self.num_enc = n
        in_nc = 3
        for i, out_nc in enumerate(enc, start=1):
            stride = 1 if i in (1, n) else 2
            self.add_module(f'enc{i}', SPMBlock(in_nc, out_nc, sem_nc, stride, sn=False, hidden=hidden))
            in_nc = out_nc
        # dec{n-1} reads up(enc n) ‖ enc{n-2}; dec k reads up(dec k+1) ‖ enc{k-1}; dec2 has no skip.
        for j, out_nc in enumerate(dec):
            k = n - 1 - j
            skip_nc = enc[k - 2] if k >= 3 else 0
            # Decoder main convs are spectral-normed (upstream wrapper default);
            # spectral_norm=False takes weights with the normalisation folded in (deployment).
            self.add_module(f'dec{k}', UpSPMBlock(in_nc + skip_nc, out_nc, sem_nc, sn=spectral_norm, hidden=hidden))
            in_nc = out_nc
        # Output layer: replicate pad, conv without bias, tanh (upstream Conv2dBlock, norm 'none').
        self.dec1 = Conv2dBlock(in_nc, 3, 3, 1, 1, norm='none', activation='tanh', pad_type='replicate')

    def forward(self, x, sem):
        return self.dec1(self.decode(self.encode(x, sem), sem))

    def encode(self, x, sem):
        """The encoders' outputs, enc1 .. encN."""
        feats = []
        for i in range(1, self.num_enc + 1):
            x = getattr(self, f'enc{i}')(x, sem)
            feats.append(x)
        return feats

    def decode(self, feats, sem, last=2):
        """The decoders dec{N−1} down to dec{last}, from the bottleneck and the skips."""
        x = feats[-1]
        for k in range(self.num_enc - 1, last - 1, -1):
            x = getattr(self, f'dec{k}')(x, sem, feats[k - 2] if k >= 3 else None)
        return x


def composite(mask, generated, known):
    """Known pixels from ``known``, the edited region from ``generated``."""
    return mask * generated + (1 - mask) * known


class ProgressiveGenerator(nn.Module):
    """G1 (S/4) -> G2 (S/2) -> G3 (S), each stage refining the previous one's upsampled output
    inside the hole (upstream ``networks/generator.py``). Upstream hard-codes S = 256; here S is the
    input size, whose sides must be multiples of 128 and at least 256."""

    def __init__(self, label_nc, ngf=32, hidden=None, spectral_norm=True):
        super().__init__()
        self.G1 = StageGenerator(1, label_nc, ngf, hidden, spectral_norm)
        self.G2 = StageGenerator(2, label_nc, ngf, hidden, spectral_norm)
        self.G3 = StageGenerator(3, label_nc, ngf, hidden, spectral_norm)
        self.up = nn.Upsample(scale_factor=2, mode='bilinear', align_corners=False)

    @staticmethod
    def _resize(x, size, mode):
        if tuple(x.shape[-2:]) == tuple(size):
            return x
        if mode == 'nearest':
            return F.interpolate(x, size=size, mode='nearest')
        return F.interpolate(x, size=size, mode='bilinear', align_corners=False)

    def forward(self, gt, masked, seg_edge, mask, final_only=False):
        """gt, masked: N×3×H×W in [-1, 1]; seg_edge: N×(L+1)×H×W (one-hot·M, edge·M); mask: N×1×H×W.

        Returns a dict of lists over the three scales: ``gt``, ``input``, ``composite`` (upstream
        "mask_fake") and ``fake`` (the raw stage outputs). ``final_only``: only the last composite
        is wanted (inference; the fast twin then computes less, the reference everything)."""
        h, w = gt.shape[-2:]
        sizes = [(h // STAGE_SCALES[s], w // STAGE_SCALES[s]) for s in (1, 2, 3)]
        sem = self.semantic_input(seg_edge, mask)
        gts = [self._resize(gt, s, 'bilinear') for s in sizes]
        masks = [self._resize(mask, s, 'nearest') for s in sizes]
        inputs, fakes, composites = [], [], []
        for k in range(3):
            if k == 0:
                x = self._resize(masked, sizes[0], 'bilinear')
            else:
                # Known pixels from the downsampled *unmasked* gt, the hole from the previous raw
                # output upsampled (upstream generator.py).
                x = composite(masks[k], self.up(fakes[-1]), gts[k])
            fake = self.run_stage(k, x, sem)
            inputs.append(x)
            fakes.append(fake)
            composites.append(composite(masks[k], fake, gts[k]))
        return {'gt': gts, 'input': inputs, 'composite': composites, 'fake': fakes}

    @staticmethod
    def semantic_input(seg_edge, mask):
        """S = [one-hot·M, edge·M, M], what every SPM block's semantic branch reads."""
        return torch.cat([seg_edge, mask], dim=1)

    def run_stage(self, k, x, sem):
        return (self.G1, self.G2, self.G3)[k](x, sem)
