"""SPM-PGAN generator: three U-Net stages of SPM blocks and the progressive wrapper that runs
them coarse to fine (the paper's progressive architecture; upstream ``networks/G1.py``..``G3.py``
and ``networks/generator.py``).

One ``StageGenerator`` class parameterised by its stage index replaces upstream's three copied
classes and produces the same ``encN`` / ``decN`` / ``dec1`` parameter names.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import fast
from .blocks import Conv2dBlock, SPMBlock, UpSPMBlock
from .fast import spm as fast_spm
from .fast.windows import SemanticMaps

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


def stage_downsampling(stage):
    """Number of stride-2 encoders of a stage: each input side must be a multiple of 2**this."""
    return len(STAGE_ENCODERS[stage]) - 2


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

    def forward(self, x, sem, out_box=None):
        """``out_box`` (fast path, inference): only this region of the output is needed. The last
        SPM block (dec2) then computes its style and semantic branches just there plus the output
        layer's 1-pixel halo; everything before it needs the whole image (instance norm)."""
        feats = []
        for i in range(1, self.num_enc + 1):
            x = getattr(self, f'enc{i}')(x, sem)
            feats.append(x)
        window = None
        for k in range(self.num_enc - 1, 1, -1):
            skip = feats[k - 2] if k >= 3 else None
            if k == 2 and out_box is not None:
                window = fast_spm.last_block_window(out_box, (x.shape[-2] * 2, x.shape[-1] * 2))
            x = getattr(self, f'dec{k}')(x, sem, skip, window)
        if out_box is None:
            return self.dec1(x)
        return fast_spm.output_layer_window(self.dec1, x, out_box, window)


def composite(mask, generated, known):
    """Known pixels from ``known``, the edited region from ``generated``."""
    return mask * generated + (1 - mask) * known


class ProgressiveGenerator(fast.Switchable, nn.Module):
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
        "mask_fake") and ``fake`` (the raw stage outputs). ``final_only`` (inference with the fast
        path): only the last composite is exact; raw outputs are computed just where the next
        stage or the final composite reads them (zeros elsewhere)."""
        h, w = gt.shape[-2:]
        sizes = [(h // 4, w // 4), (h // 2, w // 2), (h, w)]
        sem = torch.cat([seg_edge, mask], dim=1)
        if self.impl == 'fast':
            sem = SemanticMaps(sem)  # each resolution resized once, for all blocks
        gts = [self._resize(gt, s, 'bilinear') for s in sizes]
        masks = [self._resize(mask, s, 'nearest') for s in sizes]
        stages = (self.G1, self.G2, self.G3)
        boxes = [None, None, None]
        if final_only and self.windowed:
            boxes = fast_spm.needed_boxes(masks[1], masks[2])
        inputs, fakes, composites = [], [], []
        for k, stage in enumerate(stages):
            if k == 0:
                x = self._resize(masked, sizes[0], 'bilinear')
            else:
                # Known pixels from the downsampled *unmasked* gt, the hole from the previous raw
                # output upsampled (upstream generator.py).
                x = composite(masks[k], self.up(fakes[-1]), gts[k])
            fake = stage(x, sem, boxes[k])
            inputs.append(x)
            fakes.append(fake)
            composites.append(composite(masks[k], fake, gts[k]))
        return {'gt': gts, 'input': inputs, 'composite': composites, 'fake': fakes}
