"""Building blocks shared by SPM-PGAN and SIEDOB.

Upstream keeps a copy of ``blocks.py`` in every sub-project; here each block is written once.
Module attribute names follow upstream so that the authors' state dicts load without renaming
(spec SPMPGAN.md §12.2, SIEDOB_scene.md §1).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .spectral_norm import eval_weight, spectral_norm, spectral_norm_hooks


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


# PyTorch runs batch-1 float32 CPU convs whose input has at most this many elements on its native
# kernel, which parallelises over the batch: one thread. That is most of the generator's
# low-resolution convs and the windowed semantic convs.
_NATIVE_CONV_MAX_NUMEL = 20480


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """F.conv2d for the fast path's inference. On a multi-threaded CPU, without autograd, a small
    batch-1 float32 input goes to oneDNN (all threads) instead of PyTorch's single-threaded native
    kernel: on the 2-core VM that halves those convs (41 → 23 ms per 256² edit). Not for weights
    above 5 M elements or inputs above 768 channels, where oneDNN's per-call weight reordering
    costs more than it saves. Same numbers up to float summation order."""
    if (x.device.type == 'cpu' and x.dtype == torch.float32 and x.dim() == 4 and x.shape[0] == 1
            and not torch.is_grad_enabled() and torch.get_num_threads() > 1
            and x.numel() <= _NATIVE_CONV_MAX_NUMEL and weight.numel() <= 5_000_000 and x.shape[1] <= 768):
        pair = lambda v: [v, v] if isinstance(v, int) else list(v)  # noqa: E731
        return torch.ops.aten.mkldnn_convolution(x, weight, bias, pair(padding), pair(stride), [1, 1], 1)
    return F.conv2d(x, weight, bias, stride, padding)


def nearest_downsample(x, size):
    """Legacy nearest resize (source index floor(i·in/out)). For whole-number factors this is a
    strided slice, the same pixels without upsample_nearest2d's full-size contiguous copy."""
    h, w = x.shape[-2:]
    oh, ow = size
    if h % oh == 0 and w % ow == 0:
        return x[:, :, ::h // oh, ::w // ow]
    return F.interpolate(x, size=size, mode='nearest')


class SemanticMaps:
    """The semantic input [one-hot·M, edge·M, M] of every SPM block at each block's resolution.

    Upstream resizes the full-resolution map inside each of the 36 SPM blocks, always straight from
    full resolution (spec §1 step 4). ``cache=True`` (the fast path) resizes once per resolution,
    which gives the same numbers; ``cache=False`` is the reference, one resize per block.
    Also answers where the map is non-zero (the edited region), for the windowed semantic branch.
    """

    def __init__(self, full, cache=True):
        self.full = full
        self.cache = cache
        self._maps = {tuple(full.shape[-2:]): full}
        self._boxes = {}

    def at(self, size):
        size = tuple(size)
        if not self.cache:
            return self.full if size == tuple(self.full.shape[-2:]) else F.interpolate(self.full, size=size, mode='nearest')
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


def memory_format_of(t):
    """torch.channels_last for a 4-D tensor stored NHWC (and not also NCHW, as maps with one
    channel or one pixel are), else torch.contiguous_format."""
    if t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def instance_norm(x, eps=1e-5):
    """F.instance_norm (no affine, no running stats), keeping an NHWC input NHWC. PyTorch's own
    makes the input contiguous and returns NCHW: with --channels_last that is a copy here, another
    at the next conv, and elementwise ops between them that mix the two layouts."""
    if memory_format_of(x) == torch.channels_last:
        return _InstanceNormNHWC.apply(x, eps)
    return F.instance_norm(x, eps=eps)


class _InstanceNormNHWC(torch.autograd.Function):
    """y = (x − mean) / sqrt(var + eps) per sample and channel over H×W (the batch-norm formula
    per instance), in any layout; backward dx = (g − mean(g) − y·mean(g·y)) / sqrt(var + eps)."""

    @staticmethod
    def forward(ctx, x, eps):
        var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
        rstd = torch.rsqrt(var + eps)
        y = torch.addcmul(-mean * rstd, x, rstd)  # one full-size pass
        ctx.save_for_backward(y, rstd)
        return y

    @staticmethod
    def backward(ctx, grad):
        y, rstd = ctx.saved_tensors
        mean_g = grad.mean((2, 3), keepdim=True)
        mean_gy = (grad * y).mean((2, 3), keepdim=True)
        return torch.addcmul(grad - mean_g, y, mean_gy, value=-1) * rstd, None


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


class SPMBlock(nn.Module):
    """Style-preserved modulation block (spec SPMPGAN.md §1, upstream ``CondGatedConv2d``).

    ``sem_nc`` is the number of semantic input channels: one-hot L + edge 1 + mask 1 (L + 2).
    ``hidden`` is 64 in the paper configuration (ngf 32); ``--ngf`` scales it with every width.
    Despite the upstream name there is no gating.

    Two forwards with the same parameters: the reference (the spec, module by module) and the fast
    one (``fast = True``, the default): the two γ/β style convs and the four semantic convs each run
    as one convolution with concatenated outputs, and the semantic branch is computed only around
    the edited region (``windowed_semantic_branch``). Outputs agree to float rounding.
    """

    STYLE_PARTS = ('mlp_gamma', 'mlp_beta')
    CTX_PARTS = ('mlp_gamma_ctx_gamma', 'mlp_beta_ctx_gamma', 'mlp_gamma_ctx_beta', 'mlp_beta_ctx_beta')

    def __init__(self, in_nc, out_nc, sem_nc, stride=1, sn=False, hidden=64):
        super().__init__()
        conv = nn.Conv2d(in_nc, out_nc, 3, stride, padding=0, bias=True)
        # Upstream: only the decoder (up-sampling) blocks' main conv is spectral-normed (§14.1.1).
        self.conv2d = spectral_norm(conv) if sn else conv
        # Style (context) branch reads the raw block input with its own zero padding (§14.1.2).
        self.mlp_shared = nn.Sequential(nn.Conv2d(in_nc, hidden, 3, stride, 1), nn.ReLU())
        # The convs that read the same input are stored together (mlp_gamma | mlp_beta, and the four
        # semantic ones): the fast path runs each group as one conv; the state dict shows upstream's
        # separate names (hooks below).
        self.style = ConvGroup3x3(hidden, out_nc, len(self.STYLE_PARTS))
        # Semantic branch.
        self.mlp_shared_2 = nn.Sequential(nn.Conv2d(sem_nc, hidden, 3, 1, 1), nn.ReLU())
        self.ctx = ConvGroup3x3(hidden, out_nc, len(self.CTX_PARTS))
        self.out_nc = out_nc
        self.fast = True
        self.window = True  # fast path: the semantic branch only around the edited region
        self._eval_cache = None  # (versions, tensors) derived from the weights, reused in eval mode
        self._register_state_dict_hook(_split_groups_hook)
        self._register_load_state_dict_pre_hook(_merge_groups_hook, with_module=True)

    def part(self, name):
        """(weight, bias) of one upstream conv, e.g. ``part('mlp_beta_ctx_gamma')`` (views)."""
        group, parts = (self.style, self.STYLE_PARTS) if name in self.STYLE_PARTS else (self.ctx, self.CTX_PARTS)
        i = parts.index(name)
        c = self.out_nc
        return group.weight[i * c:(i + 1) * c], group.bias[i * c:(i + 1) * c]

    def forward(self, x, sem, window=None):
        """x: N×Cin×H×W; sem: a ``SemanticMaps`` (or a full-resolution tensor).

        ``window`` (fast path, inference, stride 1 only): (y0, y1, x0, x1) of the output that is
        needed; the rest is returned as zeros. Instance norm still sees the whole main conv."""
        if not isinstance(sem, SemanticMaps):
            sem = SemanticMaps(sem, cache=self.fast)
        if self.fast:
            return self._forward_fast(x, sem, window)
        n = F.instance_norm(self.conv2d(F.pad(x, (1, 1, 1, 1))), eps=1e-5)
        c = self.mlp_shared_2(sem.at(n.shape[-2:]))
        conv = lambda t, name: F.conv2d(t, *self.part(name), padding=1)  # noqa: E731
        gamma_gamma = conv(c, 'mlp_gamma_ctx_gamma')
        beta_gamma = conv(c, 'mlp_beta_ctx_gamma')
        gamma_beta = conv(c, 'mlp_gamma_ctx_beta')
        beta_beta = conv(c, 'mlp_beta_ctx_beta')
        a = self.mlp_shared(x)
        gamma_style = conv(a, 'mlp_gamma')
        beta_style = conv(a, 'mlp_beta')
        # First modulation fuses style and semantics; the second modulates the features (§1 steps 6-7).
        gamma = gamma_style * (1 + gamma_gamma) + beta_gamma
        beta = beta_style * (1 + gamma_beta) + beta_beta
        return F.leaky_relu(n * (1 + gamma) + beta, 0.2)

    def _inference_cache_valid(self):
        """Weight-derived tensors can be reused while nothing trains: eval mode, no autograd, and
        the same parameter tensors at the same versions."""
        if self.training or torch.is_grad_enabled():
            self._eval_cache = None
            return None
        key = tuple((t.data_ptr(), t._version) for t in list(self.parameters()) + list(self.buffers()))
        if self._eval_cache is None or self._eval_cache[0] != key:
            self._eval_cache = (key, {})
        return self._eval_cache[1]

    def _main_conv(self, x, cache):
        """The main conv; in eval mode with a spectral norm, W / (uᵀ W v) is computed once and kept
        (upstream recomputes it on every forward, with the same formula)."""
        conv = self.conv2d
        if cache is None:
            return conv(F.pad(x, (1, 1, 1, 1)))
        if hasattr(conv, 'weight_orig') and 'main' not in cache:
            # stored where the spectral-norm hook keeps its own W/σ: no second copy in memory
            conv.weight = eval_weight(conv)
            cache['main'] = True
        return conv2d(F.pad(x, (1, 1, 1, 1)), conv.weight, conv.bias, conv.stride)

    def _style_branch(self, x, cache):
        """mlp_shared then the grouped γ/β style convs (inference: through ``conv2d``)."""
        if cache is None:
            return F.conv2d(self.mlp_shared(x), self.style.weight, self.style.bias, padding=1)
        shared = self.mlp_shared[0]
        a = conv2d(x, shared.weight, shared.bias, shared.stride, shared.padding).relu_()
        return conv2d(a, self.style.weight, self.style.bias, padding=1)

    def _forward_fast(self, x, sem, window=None):
        """Grouped convs, the semantic branch only around the edited region, and with ``window``
        the style branch and the modulation only there (zeros elsewhere)."""
        cache = self._inference_cache_valid()
        n = instance_norm(self._main_conv(x, cache))
        h, w = n.shape[-2:]
        first = self.mlp_shared_2[0]
        box = sem.nonzero_box((h, w)) if self.window else None
        ctx = windowed_semantic_branch(sem.at((h, w)), box, first.weight, first.bias,
                                       self.ctx.weight, self.ctx.bias, cache)
        if window is None:
            return self._modulate(n, ctx, self._style_branch(x, cache))
        y0, y1, x0, x1 = window
        # The style convs read x with a 2-pixel halo; the crop's own zero padding only spoils
        # that halo (or is the true image border).
        cy0, cy1, cx0, cx1 = max(y0 - 2, 0), min(y1 + 2, h), max(x0 - 2, 0), min(x1 + 2, w)
        style = self._style_branch(x[:, :, cy0:cy1, cx0:cx1], cache)[:, :, y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0]
        out = torch.zeros_like(n)  # n's layout (NCHW or NHWC)
        out[:, :, y0:y1, x0:x1] = self._modulate(n[:, :, y0:y1, x0:x1], ctx[:, :, y0:y1, x0:x1], style)
        return out

    @staticmethod
    def _modulate(n, ctx, style):
        """§1 steps 6-8 with fewer full-size temporaries: γ = γs(1+γγ)+βγ, β = βs(1+γβ)+ββ,
        LeakyReLU(n(1+γ)+β)."""
        gamma_gamma, beta_gamma, gamma_beta, beta_beta = ctx.chunk(4, dim=1)
        gamma_style, beta_style = style.chunk(2, dim=1)
        gamma = torch.addcmul(gamma_style + beta_gamma, gamma_style, gamma_gamma)
        beta = torch.addcmul(beta_style + beta_beta, beta_style, gamma_beta)
        return F.leaky_relu(torch.addcmul(n + beta, n, gamma), 0.2)


class ConvGroup3x3(nn.Module):
    """``parts`` 3×3 convs (zero padding 1, bias) with the same input, stored as one weight."""

    def __init__(self, in_nc, out_nc, parts):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(parts * out_nc, in_nc, 3, 3))
        self.bias = nn.Parameter(torch.empty(parts * out_nc))
        # PyTorch's default conv initialisation, part by part (init.py replaces it when asked)
        bound = 1 / (in_nc * 9) ** 0.5
        for w in self.weight.data.split(out_nc):
            nn.init.kaiming_uniform_(w, a=5 ** 0.5)
        nn.init.uniform_(self.bias, -bound, bound)


def _split_groups_hook(module, state_dict, prefix, local_metadata):
    """state_dict in upstream's layout: conv2d, mlp_shared.0, mlp_gamma, mlp_beta, mlp_shared_2.0,
    then the four ctx convs, each weight then bias (spec §12.2). This block's entries are the last
    ones written, so they are taken out and put back in that order."""
    own = [k for k in state_dict if k.startswith(prefix)]
    entries = [(k, state_dict.pop(k)) for k in own]
    c = module.out_nc
    for k, v in entries:
        name = k[len(prefix):]
        for group, parts in (('style', module.STYLE_PARTS), ('ctx', module.CTX_PARTS)):
            if name == group + '.weight':
                bias = dict(entries)[prefix + group + '.bias']
                for i, part in enumerate(parts):
                    state_dict[f'{prefix}{part}.weight'] = v[i * c:(i + 1) * c]
                    state_dict[f'{prefix}{part}.bias'] = bias[i * c:(i + 1) * c]
                break
            if name == group + '.bias':
                break
        else:
            state_dict[k] = v


def _merge_groups_hook(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                       error_msgs):
    """Accept upstream's separate conv names (and our own grouped ones)."""
    for group, parts in (('style', module.STYLE_PARTS), ('ctx', module.CTX_PARTS)):
        names = [f'{prefix}{p}.{t}' for p in parts for t in ('weight', 'bias')]
        if all(n in state_dict for n in names):
            state_dict[f'{prefix}{group}.weight'] = torch.cat([state_dict.pop(f'{prefix}{p}.weight') for p in parts])
            state_dict[f'{prefix}{group}.bias'] = torch.cat([state_dict.pop(f'{prefix}{p}.bias') for p in parts])


def set_fast(net, fast=True, window=True):
    """Switch ``net`` between the fast forward and the reference one: every SPM block and patch
    discriminator, and the one-pass spectral-norm backward of every spectral-normed layer.
    ``window=False`` keeps the fast path but computes the label inputs' convs everywhere."""
    for m in net.modules():
        if hasattr(m, 'window'):  # SPM blocks and patch D's: the modules with a windowed fast path
            m.fast = fast
            m.window = window
    for hook in spectral_norm_hooks(net):
        hook.fast = fast
    return net


class UpSPMBlock(nn.Module):
    """Bilinear ×2, concatenate the skip (upsampled first), then an SPM block with a spectral-norm
    main conv (spec §2, upstream ``CondTransposeGatedConv2d``; the child keeps upstream's name)."""

    def __init__(self, in_nc, out_nc, sem_nc, sn=True, hidden=64):
        super().__init__()
        self.gated_conv2d = SPMBlock(in_nc, out_nc, sem_nc, stride=1, sn=sn, hidden=hidden)

    def forward(self, x, sem, skip=None, window=None):
        x = F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.gated_conv2d(x, sem, window)
