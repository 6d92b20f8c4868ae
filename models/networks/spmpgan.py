"""SPM-PGAN generator: three U-Net stages of SPM blocks and the progressive wrapper (spec §4-§5).

One ``StageGenerator`` class parameterised by its stage index replaces upstream's three copied
classes and produces the same ``encN`` / ``decN`` / ``dec1`` parameter names.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import (Conv2dBlock, SemanticMaps, SPMBlock, UpSPMBlock, bounding_box, coarse_box, conv2d,
                     memory_format_of)

# Channel plans in units of ngf (spec §4.1-4.3). Encoders enc1..encN; decoders from the deepest
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
            # Decoder main convs are spectral-normed (upstream wrapper default, §14.1.1);
            # spectral_norm=False takes weights with the normalisation folded in (deployment).
            self.add_module(f'dec{k}', UpSPMBlock(in_nc + skip_nc, out_nc, sem_nc, sn=spectral_norm, hidden=hidden))
            in_nc = out_nc
        # Output layer: replicate pad, conv without bias, tanh (spec §3).
        self.dec1 = Conv2dBlock(in_nc, 3, 3, 1, 1, norm='none', activation='tanh', pad_type='replicate')

    def forward(self, x, sem, out_box=None):
        """``out_box`` (inference, fast path): only this region of the output is needed. The last
        SPM block (dec2) then computes its style and semantic branches just there plus the output
        layer's 1-pixel halo; everything before it needs the whole image (instance norm)."""
        feats = []
        for i in range(1, self.num_enc + 1):
            x = getattr(self, f'enc{i}')(x, sem)
            feats.append(x)
        for k in range(self.num_enc - 1, 1, -1):
            skip = feats[k - 2] if k >= 3 else None
            window = None
            if k == 2 and out_box is not None:
                h, w = x.shape[-2] * 2, x.shape[-1] * 2
                y0, y1, x0, x1 = out_box
                window = (max(y0 - 1, 0), min(y1 + 1, h), max(x0 - 1, 0), min(x1 + 1, w))
            x = getattr(self, f'dec{k}')(x, sem, skip, window)
        if out_box is None:
            return self.dec1(x)
        return self._output_layer_window(x, out_box, window)

    def _output_layer_window(self, x, box, window):
        """dec1 (replicate pad, conv, tanh) on ``box`` only, zeros elsewhere. ``window`` (``box``
        grown by one pixel inside the image) is what dec2 computed: the crop's own replicate
        padding is then wrong only outside ``box``, or is the image's."""
        (y0, y1, x0, x1), (wy0, wy1, wx0, wx1) = box, window
        layer = self.dec1
        crop = layer.pad(x[:, :, wy0:wy1, wx0:wx1])
        y = layer.activation(conv2d(crop, layer.conv.weight, layer.conv.bias))
        out = torch.empty((x.shape[0], y.shape[1]) + tuple(x.shape[-2:]), dtype=y.dtype, device=y.device,
                          memory_format=memory_format_of(x)).zero_()
        out[:, :, y0:y1, x0:x1] = y[:, :, y0 - wy0:y1 - wy0, x0 - wx0:x1 - wx0]
        return out


def composite(mask, generated, known):
    """Known pixels from ``known``, the edited region from ``generated`` (spec §5)."""
    return mask * generated + (1 - mask) * known


class ProgressiveGenerator(nn.Module):
    """G1 (S/4) -> G2 (S/2) -> G3 (S), each stage refining the previous one's upsampled output
    inside the hole (spec §5). Upstream hard-codes S = 256; here S is the input size, whose sides
    must be multiples of 128 and at least 256."""

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

    @staticmethod
    def _needed_box(mask, scale_down):
        """Bounding box of mask > 0 (union over the batch), mapped to the resolution 1/scale_down
        and grown by the bilinear ×2 footprint; None when nothing is edited."""
        box = bounding_box(mask.detach().amax((0, 1)) > 0)
        if box is None:
            return None
        y0, y1, x0, x1 = box
        h, w = mask.shape[-2:]
        if scale_down != 1:
            h, w = h // 2, w // 2
            y0, y1, x0, x1 = max(y0 // 2 - 1, 0), min((y1 + 1) // 2 + 1, h), max(x0 // 2 - 1, 0), min((x1 + 1) // 2 + 1, w)
        return coarse_box((y0, y1, x0, x1), (h, w)) if mask.is_cuda else (y0, y1, x0, x1)

    def forward(self, gt, masked, seg_edge, mask, final_only=False):
        """gt, masked: N×3×H×W in [-1, 1]; seg_edge: N×(L+1)×H×W (one-hot·M, edge·M); mask: N×1×H×W.

        Returns a dict of lists over the three scales: ``gt``, ``input``, ``composite`` (upstream
        "mask_fake") and ``fake`` (the raw stage outputs). ``final_only`` (inference with the fast
        path): only the last composite is exact; raw outputs are computed just where the next
        stage or the final composite reads them (zeros elsewhere)."""
        h, w = gt.shape[-2:]
        sizes = [(h // 4, w // 4), (h // 2, w // 2), (h, w)]
        fast = all(getattr(m, 'fast', True) for m in (self.G1.enc1, self.G3.enc1))
        window = fast and self.G3.enc1.window
        sem = SemanticMaps(torch.cat([seg_edge, mask], dim=1), cache=fast)
        gts = [self._resize(gt, s, 'bilinear') for s in sizes]
        masks = [self._resize(mask, s, 'nearest') for s in sizes]
        stages = (self.G1, self.G2, self.G3)
        boxes = [None, None, None]
        if final_only and window:
            boxes = [self._needed_box(masks[1], 2), self._needed_box(masks[2], 2), self._needed_box(masks[2], 1)]
        inputs, fakes, composites = [], [], []
        for k, stage in enumerate(stages):
            if k == 0:
                x = self._resize(masked, sizes[0], 'bilinear')
            else:
                # Known pixels from the downsampled *unmasked* gt, the hole from the previous raw
                # output upsampled (spec §5 steps 5 and 7, §14.1.7).
                x = composite(masks[k], self.up(fakes[-1]), gts[k])
            fake = stage(x, sem, boxes[k])
            inputs.append(x)
            fakes.append(fake)
            composites.append(composite(masks[k], fake, gts[k]))
        return {'gt': gts, 'input': inputs, 'composite': composites, 'fake': fakes}


# ---- weight-space conversions (scripts/convert_checkpoint.py) ------------------------------------

def _permute_rgb(t, dim, start):
    """Reverse the 3 colour channels at [start, start+3) along ``dim``."""
    idx = list(range(t.shape[dim]))
    idx[start:start + 3] = idx[start:start + 3][::-1]
    return t.index_select(dim, torch.tensor(idx))


def swap_color_order(nets):
    """BGR <-> RGB weights: the image enters only each stage's enc1 (main and style convs) and the
    D's last three input channels, and leaves only through dec1. Reversing those channels gives a
    network with G'(x) = P·G(P·x) exactly (P = channel reversal)."""
    out = {}
    for name, sd in nets.items():
        sd = dict(sd)
        if name == 'netG':
            for s in ('G1', 'G2', 'G3'):
                for k in (f'{s}.enc1.conv2d.weight', f'{s}.enc1.mlp_shared.0.weight'):
                    sd[k] = _permute_rgb(sd[k], 1, 0)
                sd[f'{s}.dec1.conv.weight'] = _permute_rgb(sd[f'{s}.dec1.conv.weight'], 0, 0)
        elif name.startswith('netD'):
            w = sd['dis_model.0.conv.weight_orig']
            c = w.shape[1]
            sd['dis_model.0.conv.weight_orig'] = _permute_rgb(w, 1, c - 3)
            v = sd['dis_model.0.conv.weight_v'].view(c, -1)  # v indexes the columns of W.view(out, in·k·k)
            sd['dis_model.0.conv.weight_v'] = _permute_rgb(v, 0, c - 3).reshape(-1)
        out[name] = sd
    return out


def fold_spectral_norm(state):
    """Replace every (weight_orig, weight_u, weight_v) by the eval-mode weight W / (uᵀ W v): the
    same outputs in eval mode with plain convs (spec §12.3)."""
    out = {}
    for k, v in state.items():
        if k.endswith('.weight_orig'):
            base = k[:-len('_orig')]
            u, vec = state[base + '_u'], state[base + '_v']
            sigma = torch.dot(u, v.reshape(v.shape[0], -1) @ vec)
            out[base] = v / sigma
        elif not k.endswith(('.weight_u', '.weight_v')):
            out[k] = v
    return out
