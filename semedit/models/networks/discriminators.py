"""Spectral-norm patch discriminator (upstream ``networks/SNPatchDiscriminator.py`` of both projects:
replicate padding in SPM-PGAN, zero padding in SIEDOB)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import Conv2dBlock


class SNPatchDiscriminator(nn.Module):
    """``num_layer`` stride-2 5×5 SN convs with padding 2 (``pad_type``), no bias, LeakyReLU(0.2)
    after every layer, the last one included (as upstream). Output: a 3-channel patch score map.

    Called as ``D(image, labels)`` the input is upstream's ``cat([labels, image])``. With
    ``sparse_labels`` (SPM-PGAN: one-hot·M, zero outside the edited region) and replicate padding the
    fast twin (``fast/discriminators.py``) convolves the labels only around that region in the first
    layer: the same numbers up to float summation order, a quarter of the first layer's work for a
    typical mask. ``D(x)`` takes the whole input."""

    def __init__(self, in_nc, num_layer, ndf=64, pad_type='replicate', sparse_labels=True):
        super().__init__()
        self.pad_type = pad_type
        self.sparse_labels = sparse_labels and pad_type == 'replicate'

        def layer(i, o):
            return Conv2dBlock(i, o, 5, 2, 2, norm='sn', activation='lrelu', pad_type=pad_type)

        layers = [layer(in_nc, ndf)]
        for i in range(num_layer - 2):
            m = 2 ** i
            layers.append(layer(ndf * m, ndf * m * 2) if m < 4 else layer(ndf * 4, ndf * 4))
        layers.append(layer(ndf * 4, 3))
        self.dis_model = nn.Sequential(*layers)

    def forward(self, x, labels=None):
        return self.dis_model(x if labels is None else torch.cat([labels, x], dim=1))


# ---- SIEDOB's boundary-anchored patches (upstream background/trainer.py: edge_mask, crop_patch) --

def mask_boundary(mask, symmetric=False):
    """Boundary pixels of a 2-D {0, 1} mask: edited pixels next to a known one. Upstream erodes with
    OpenCV's 2×2 rectangle (anchor at its lower right, the image border never eroding), so only a
    pixel whose upper, left or upper-left neighbour is known counts: the top and left sides of each
    region. ``symmetric`` (the fix): any of the eight neighbours; the image border still never counts."""
    m = mask.bool()
    padded = F.pad(m[None, None].float(), (1, 1, 1, 1), value=1.0)[0, 0].bool()
    h, w = m.shape
    if symmetric:
        offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    else:
        offsets = [(-1, 0), (0, -1), (-1, -1)]
    known_next = torch.zeros_like(m)
    for dy, dx in offsets:
        known_next |= ~padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
    return m & known_next


def patch_window(center, half, size):
    """[start, end) of a 2·half window around ``center`` along a side of ``size`` pixels, kept inside
    as upstream does (``patchify_image``: its far limit is size − 1, so the last row/column is never
    included)."""
    last = size - 1
    if center < half:
        return 0, 2 * half
    if center + half >= last:
        return last - 2 * half, last
    return center - half, center + half


def boundary_patches(tensors, mask, rng, patch_num=4, sizes=(96, 160), out_size=160, symmetric=False):
    """Upstream's patch sampling for the boundary-anchored patch discriminator: for each sample with
    at least one boundary pixel of its mask (N×1×H×W), ``patch_num`` windows, each centred on a
    boundary pixel drawn uniformly (``rng.randrange``) with a side drawn from ``sizes``
    (``rng.randint``, halved and doubled: even), cut from every tensor in ``tensors`` (N×C×H×W each)
    and resized bilinearly to ``out_size``². Returns one tensor per input (P×C×out×out, P = 0 when no
    sample has a boundary pixel, where upstream crashes) and the windows [(sample, r0, r1, c0, c1)]."""
    h, w = mask.shape[-2:]
    windows = []
    for b in range(mask.shape[0]):
        rows, cols = mask_boundary(mask[b, 0], symmetric).nonzero(as_tuple=True)  # row-major, as np.where
        if len(rows) == 0:
            continue
        for _ in range(patch_num):
            k = rng.randrange(0, len(rows))
            half = rng.randint(*sizes) // 2
            windows.append((b,) + patch_window(int(rows[k]), half, h) + patch_window(int(cols[k]), half, w))
    out = []
    for t in tensors:
        crops = [F.interpolate(t[b:b + 1, :, r0:r1, c0:c1], size=(out_size, out_size), mode='bilinear',
                               align_corners=False) for b, r0, r1, c0, c1 in windows]
        out.append(torch.cat(crops) if crops else t.new_zeros((0, t.shape[1], out_size, out_size)))
    return out, windows
