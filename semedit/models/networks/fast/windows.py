"""Label-map convs computed only around the edited region (see ``__init__.py``).

The semantic input of an SPM block and the label part of a discriminator's input are zero outside
the edited region (one-hot·M, edge·M, M), so a conv of them is a constant field there, except where
the image border cuts its kernel. These functions compute the window for real and fill the rest.
"""
import torch
import torch.nn.functional as F

from .kernels import conv2d, memory_format_of, nearest_downsample


class SemanticMaps:
    """The semantic input [one-hot·M, edge·M, M] of every SPM block at each block's resolution.

    The reference resizes the full-resolution map inside each of the 36 SPM blocks, always straight
    from full resolution (upstream ``CondGatedConv2d.forward``); here each resolution is resized
    once, which gives the same numbers. Also answers where the map is non-zero (the edited region),
    for the windowed semantic branch.
    """

    def __init__(self, full):
        self.full = full
        self._maps = {tuple(full.shape[-2:]): full}
        self._boxes = {}

    def at(self, size):
        size = tuple(size)
        if size not in self._maps:
            self._maps[size] = nearest_downsample(self.full, size)
        return self._maps[size]

    def nonzero_box(self, size):
        """(y0, y1, x0, x1) bounding the edited pixels at this resolution over the batch (end
        exclusive), or None when nothing is edited. The mask is the last channel."""
        size = tuple(size)
        if size not in self._boxes:
            box = bounding_box(self.at(size)[:, -1].detach().amax(0) > 0)
            self._boxes[size] = coarse_box(box, size) if box is not None and self.full.is_cuda else box
        return self._boxes[size]


def bounding_box(m):
    """(y0, y1, x0, x1) of the True pixels of a 2-D bool map (end exclusive), or None."""
    rows, cols = m.any(1).nonzero(), m.any(0).nonzero()
    if len(rows) == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def coarse_box(box, size, steps=8):
    """Grow ``box`` (y0, y1, x0, x1) so that its height and width are multiples of 1/``steps`` of
    the map, staying inside it. A larger window gives the same numbers; on CUDA it keeps the
    number of distinct conv shapes small, so cudnn.benchmark tunes each one once, not per mask."""
    out = []
    for (a, b), n in zip((box[:2], box[2:]), size):
        q = -(-n // steps)
        length = min(-(-(b - a) // q) * q, n)
        a = min(a, n - length)
        out += [a, a + length]
    return tuple(out)


def windowed_semantic_branch(sem_map, box, w1, b1, w2, b2, cache=None):
    """relu(conv3×3(sem) + b1) followed by conv3×3(·) + b2 (zero padding 1), computed only where
    it varies. The input is zero outside ``box`` (the edited region), so the output there is a
    per-channel constant, except in the one-pixel image border where zero padding cuts the kernel:
    those values come from the same two convs run on a 3×3 zero input (corners, edges, interior);
    the window ``box`` ± 2 is computed for real on ``box`` ± 3 and pasted over them.
    Same numbers as the full computation up to float summation order."""
    n, _, h, w = sem_map.shape
    if box is None or h < 3 or w < 3 or (box[1] - box[0] + 4) * (box[3] - box[2] + 4) >= h * w:
        return conv2d(F.relu(conv2d(sem_map, w1, b1, padding=1)), w2, b2, padding=1)
    k = cache.get('border') if cache is not None else None
    if k is None:
        zeros = sem_map.new_zeros(1, sem_map.shape[1], 3, 3)
        k = F.conv2d(F.relu(F.conv2d(zeros, w1, b1, padding=1)), w2, b2, padding=1)  # 1×C×3×3
        if cache is not None:
            cache['border'] = k
    y0, y1, x0, x1 = max(box[0] - 2, 0), min(box[1] + 2, h), max(box[2] - 2, 0), min(box[3] + 2, w)
    cy0, cy1, cx0, cx1 = max(y0 - 1, 0), min(y1 + 1, h), max(x0 - 1, 0), min(x1 + 1, w)
    crop = sem_map[:, :, cy0:cy1, cx0:cx1]
    # Inside the crop the zero padding is exact for the first conv (the input is zero outside the
    # box anyway) and wrong for the second only on the crop's own edge, which lies outside y0..x1
    # unless that edge is the image border, where zero padding is right.
    win = conv2d(F.relu(conv2d(crop, w1, b1, padding=1)), w2, b2, padding=1)
    layout = memory_format_of(win)
    win = win[:, :, y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0]
    return PasteOnBorderField.apply(k, win, (h, w), (y0, y1, x0, x1), layout)


def _window_span(lo, hi, size, out_size, kernel, stride, pad):
    """Output indices [a, b) of a strided conv (edge-replicate padding ``pad``) that read any
    input index in [lo, hi), and the input span [c0, c1) (may run past the edges: padding)
    that those outputs read; None if no output reads it (a stride longer than the kernel)."""
    def reads(i):  # input indices [first, last] of output i, edge-clamped
        first, last = stride * i - pad, stride * i - pad + kernel - 1
        return min(max(first, 0), size - 1), min(max(last, 0), size - 1)
    hits = [i for i in range(out_size) if reads(i)[0] <= hi - 1 and reads(i)[1] >= lo]
    if not hits:
        return None
    a, b = hits[0], hits[-1] + 1
    return a, b, stride * a - pad, stride * (b - 1) - pad + kernel


def windowed_prefix_conv(prefix, x, weight, stride, pad):
    """conv(replicate_pad(cat([prefix, x])), weight) with stride ``stride`` and no bias, where
    ``prefix`` (e.g. one-hot·M) is zero outside its bounding box: its part of the conv is computed
    only on the outputs that read the box and is zero elsewhere (replicate padding copies edge
    values, which are zero too unless the box touches the edge, and that case is taken care of).
    Same numbers as the concatenated conv up to float summation order."""
    c = prefix.shape[1]
    out = F.conv2d(F.pad(x, (pad,) * 4, mode='replicate'), weight[:, c:], None, stride)
    box = bounding_box(prefix.detach().amax((0, 1)) > 0)
    if box is None:
        return out
    (h, w), (ho, wo) = prefix.shape[-2:], out.shape[-2:]
    k = weight.shape[-1]
    rows = _window_span(box[0], box[1], h, ho, k, stride, pad)
    cols = _window_span(box[2], box[3], w, wo, k, stride, pad)
    if rows is None or cols is None:
        return out
    (i0, i1, r0, r1), (j0, j1, c0, c1) = rows, cols
    crop = prefix[:, :, max(r0, 0):min(r1, h), max(c0, 0):min(c1, w)]
    crop = F.pad(crop, (max(-c0, 0), max(c1 - w, 0), max(-r0, 0), max(r1 - h, 0)), mode='replicate')
    win = F.conv2d(crop, weight[:, :c], None, stride)
    return out + F.pad(win, (j0, wo - j1, i0, ho - i1))


def _bands(lo, hi, cut_lo, cut_hi):
    """The parts of [lo, hi) outside [cut_lo, cut_hi), as (start, end) pairs."""
    parts = [(lo, min(hi, cut_lo)), (max(lo, cut_hi), hi)]
    return [(a, b) for a, b in parts if a < b]


class PasteOnBorderField(torch.autograd.Function):
    """out (N×C×H×W) = the constant field of ``k`` (1×C×3×3: its corner values on the image
    corners, edge values on the one-pixel border, the centre value inside) with ``win`` pasted at
    ``box``, stored in ``layout`` (the convs' NCHW or NHWC). Written as slice assignments,
    autograd would clone the full-size gradient once per assignment (half a second per training
    iteration at 256²); here the backward reads the gradient once: the window's slice for ``win``
    and exact region sums (outside the window) for ``k``."""

    @staticmethod
    def forward(ctx, k, win, size, box, layout=torch.contiguous_format):
        (h, w), (y0, y1, x0, x1) = size, box
        n, c = win.shape[:2]
        ctx.k_dtype = k.dtype
        k = k.to(win.dtype)
        out = torch.empty((n, c, h, w), dtype=win.dtype, device=win.device, memory_format=layout)
        out.copy_(k[:, :, 1:2, 1:2].expand(n, c, h, w))
        out[:, :, 0, :] = k[:, :, 0, 1:2]
        out[:, :, -1, :] = k[:, :, 2, 1:2]
        out[:, :, :, 0] = k[:, :, 1, 0:1]
        out[:, :, :, -1] = k[:, :, 1, 2:3]
        for yy, xx in ((0, 0), (0, 2), (2, 0), (2, 2)):
            out[:, :, -1 if yy else 0, -1 if xx else 0] = k[:, :, yy, xx]
        out[:, :, y0:y1, x0:x1] = win
        ctx.geometry = size, box
        return out

    @staticmethod
    def backward(ctx, grad):
        (h, w), (y0, y1, x0, x1) = ctx.geometry
        grad_win = grad_k = None
        if ctx.needs_input_grad[1]:
            grad_win = grad[:, :, y0:y1, x0:x1]
        if ctx.needs_input_grad[0]:
            # the pixels each of the 3×3 values of k fills: rows {0}, [1, h-1), {h-1} × the same
            # for columns, each less the window
            spans = ((0, 1), (1, h - 1), (h - 1, h))
            cols = ((0, 1), (1, w - 1), (w - 1, w))
            grad_k = grad.new_zeros(grad.shape[1], 3, 3)
            for i, (r0, r1) in enumerate(spans):
                for j, (c0, c1) in enumerate(cols):
                    # (rectangle) minus (window): full-width bands above/below, then left/right
                    total = 0
                    for a, b in _bands(r0, r1, y0, y1):
                        total = total + grad[:, :, a:b, c0:c1].sum((0, 2, 3))
                    ra, rb = max(r0, y0), min(r1, y1)
                    if ra < rb:
                        for a, b in _bands(c0, c1, x0, x1):
                            total = total + grad[:, :, ra:rb, a:b].sum((0, 2, 3))
                    if torch.is_tensor(total):
                        grad_k[:, i, j] = total
            grad_k = grad_k.unsqueeze(0).to(ctx.k_dtype)
        return grad_k, grad_win, None, None, None
