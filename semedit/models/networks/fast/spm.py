"""The fast twins of SPM-PGAN's modules: the SPM block, the stage generator and the progressive
generator (see ``__init__.py``). The references are ``SPMBlock`` in ``blocks.py`` and the
generators in ``spmpgan.py``; these compute the same function of the same parameters:

- the two style convs (γ, β) and the four semantic convs of a block each run as one conv with
  concatenated outputs (their weights lie one after the other in memory, ``lay_out_together``,
  so the concatenation is a view);
- the semantic branch runs only around the edited region (``windows.windowed_semantic_branch``);
- in eval mode the spectral-norm weight W / σ and the grouped weights are kept while the
  parameters do not change;
- at inference the generator's last SPM block and output layer run only where the final
  composite reads them (``out_window``), the rest being zeros.
"""
import torch
import torch.nn.functional as F

from ..blocks import SPMBlock, upsample_and_join
from ..spmpgan import ProgressiveGenerator, StageGenerator
from .kernels import conv2d, instance_norm, memory_format_of
from .spectral_norm import eval_weight
from .twins import Twin, twin_of
from .windows import SemanticMaps, bounding_box, coarse_box, windowed_semantic_branch

STYLE_CONVS = ('mlp_gamma', 'mlp_beta')
SEMANTIC_CONVS = ('mlp_gamma_ctx_gamma', 'mlp_beta_ctx_gamma', 'mlp_gamma_ctx_beta', 'mlp_beta_ctx_beta')


def _inference_cache(block):
    """A dict for weight-derived tensors while nothing trains (eval mode, no autograd, the same
    parameter tensors at the same versions), else None."""
    if block.training or torch.is_grad_enabled():
        block._fast_cache = None
        return None
    key = tuple((t.data_ptr(), t._version) for t in list(block.parameters()) + list(block.buffers()))
    cached = getattr(block, '_fast_cache', None)
    if cached is None or cached[0] != key:
        block._fast_cache = cached = (key, {})
    return cached[1]


def lay_out_together(block):
    """Store the two style convs' weights one after the other in memory, and the four semantic
    convs' (biases too), so that ``grouped`` can run each group as one conv without a copy (in
    training, without it, peak memory rises by 150 MiB). Same parameters, same values."""
    # a normal tensor even under inference_mode: the parameters may be trained later
    with torch.inference_mode(False), torch.no_grad():
        for names in (STYLE_CONVS, SEMANTIC_CONVS):
            convs = [getattr(block, n) for n in names]
            for attr in ('weight', 'bias'):
                params = [getattr(c, attr) for c in convs]
                if _adjacent([p.detach() for p in params]) is None:
                    _regroup(params)


def _regroup(params):
    """Copy ``params`` into one tensor and make each of them a view of its part of it."""
    together = torch.cat([p.detach() for p in params])
    rows = params[0].shape[0]
    for i, p in enumerate(params):
        p.data = together[i * rows:(i + 1) * rows]
    return together


def grouped(block, names, cache):
    """(weight, bias) of the convs ``names`` of ``block`` as one conv's, concatenated along the
    outputs. Without a copy where they lie together in memory (``lay_out_together``); else, in
    inference, they are laid out together on first use (the cache notices the move), and in
    training concatenated per call."""
    convs = [getattr(block, n) for n in names]
    if cache is None:  # training: autograd hands each conv its slice of the gradient
        return GroupedWeights.apply(*[c.weight for c in convs]), GroupedWeights.apply(*[c.bias for c in convs])
    if names not in cache:
        together = []
        for attr in ('weight', 'bias'):
            params = [getattr(c, attr) for c in convs]
            view = _adjacent([p.detach() for p in params])
            if view is None:
                # a normal tensor even under inference_mode: the parameters may be trained again later
                with torch.inference_mode(False), torch.no_grad():
                    view = _regroup(params)
            together.append(view)
        cache[names] = tuple(together)
    return cache[names]


class GroupedWeights(torch.autograd.Function):
    """Several convs' weights as one tensor along the outputs: a view where they lie one after the
    other in memory, else a concatenation; the backward returns each its slice of the gradient."""

    @staticmethod
    def forward(ctx, *weights):
        ctx.rows = [w.shape[0] for w in weights]
        view = _adjacent(weights)
        return view if view is not None else torch.cat(weights)

    @staticmethod
    def backward(ctx, grad):
        return tuple(grad.split(ctx.rows))


def _adjacent(tensors):
    """One tensor over ``tensors`` without a copy when they lie one after the other in one storage
    (as ``grouped`` leaves them), else None."""
    first = tensors[0]
    offset = first.storage_offset()
    for t in tensors:
        if (not t.is_contiguous() or t.untyped_storage().data_ptr() != first.untyped_storage().data_ptr()
                or t.storage_offset() != offset or t.dtype != first.dtype):
            return None
        offset += t.numel()
    return torch.as_strided(first, (sum(t.shape[0] for t in tensors),) + tuple(first.shape[1:]), first.stride(),
                            first.storage_offset())


def _main_conv(block, x, cache):
    """The main conv; in eval mode with a spectral norm, W / (uᵀ W v) is computed once and kept
    (upstream recomputes it on every forward, with the same formula)."""
    conv = block.conv2d
    if cache is None:
        return conv(F.pad(x, (1, 1, 1, 1)))
    if hasattr(conv, 'weight_orig') and 'main' not in cache:
        # stored where the spectral-norm hook keeps its own W/σ: no second copy in memory
        conv.weight = eval_weight(conv)
        cache['main'] = True
    return conv2d(F.pad(x, (1, 1, 1, 1)), conv.weight, conv.bias, conv.stride)


def _style_branch(block, x, cache):
    """mlp_shared, then the γ/β style convs as one conv (inference: through ``kernels.conv2d``)."""
    weight, bias = grouped(block, STYLE_CONVS, cache)
    if cache is None:
        return F.conv2d(block.mlp_shared(x), weight, bias, padding=1)
    shared = block.mlp_shared[0]
    a = conv2d(x, shared.weight, shared.bias, shared.stride, shared.padding).relu_()
    return conv2d(a, weight, bias, padding=1)


@twin_of(SPMBlock)
class FastSPMBlock(Twin, SPMBlock):
    def attached(self):
        lay_out_together(self)

    def forward(self, x, sem, out_window=None):
        return spm_block_forward(self, x, sem, out_window)


def spm_block_forward(block, x, sem, out_window=None):
    """``SPMBlock.forward`` (fast). ``sem``: the semantic input or its ``SemanticMaps``.
    ``out_window`` (inference, stride 1 only): the (y0, y1, x0, x1) of the output that is needed;
    the rest is returned as zeros (instance norm still sees the whole main conv)."""
    if not isinstance(sem, SemanticMaps):
        sem = SemanticMaps(sem)
    cache = _inference_cache(block)
    n = instance_norm(_main_conv(block, x, cache))
    h, w = n.shape[-2:]
    first = block.mlp_shared_2[0]
    box = sem.nonzero_box((h, w)) if block.semantic_window else None
    ctx_weight, ctx_bias = grouped(block, SEMANTIC_CONVS, cache)
    ctx = windowed_semantic_branch(sem.at((h, w)), box, first.weight, first.bias, ctx_weight, ctx_bias, cache)
    if out_window is None:
        return modulate(n, ctx, _style_branch(block, x, cache))
    y0, y1, x0, x1 = out_window
    # The style convs read x with a 2-pixel halo; the crop's own zero padding only spoils that
    # halo (or is the true image border).
    cy0, cy1, cx0, cx1 = max(y0 - 2, 0), min(y1 + 2, h), max(x0 - 2, 0), min(x1 + 2, w)
    style = _style_branch(block, x[:, :, cy0:cy1, cx0:cx1], cache)[:, :, y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0]
    out = torch.zeros_like(n)  # n's layout (NCHW or NHWC)
    out[:, :, y0:y1, x0:x1] = modulate(n[:, :, y0:y1, x0:x1], ctx[:, :, y0:y1, x0:x1], style)
    return out


def modulate(n, ctx, style):
    """The block's two modulations with fewer full-size temporaries: γ = γs(1+γγ)+βγ,
    β = βs(1+γβ)+ββ, LeakyReLU(n(1+γ)+β)."""
    gamma_gamma, beta_gamma, gamma_beta, beta_beta = ctx.chunk(4, dim=1)
    gamma_style, beta_style = style.chunk(2, dim=1)
    gamma = torch.addcmul(gamma_style + beta_gamma, gamma_style, gamma_gamma)
    beta = torch.addcmul(beta_style + beta_beta, beta_style, gamma_beta)
    return F.leaky_relu(torch.addcmul(n + beta, n, gamma), 0.2)


# ---- the progressive generator's tail at inference -------------------------------------------

@twin_of(StageGenerator)
class FastStageGenerator(Twin, StageGenerator):
    def forward(self, x, sem, out_box=None):
        """``out_box`` (inference): only this region of the output is needed. The last SPM block
        (dec2) then computes its style and semantic branches just there plus the output layer's
        1-pixel halo; everything before it needs the whole image (instance norm)."""
        if out_box is None:
            return super().forward(x, sem)
        x = self.decode(self.encode(x, sem), sem, last=3)
        window = last_block_window(out_box, (x.shape[-2] * 2, x.shape[-1] * 2))
        x = self.dec2.gated_conv2d(upsample_and_join(x), sem, window)  # dec2 has no skip
        return output_layer_window(self.dec1, x, out_box, window)


@twin_of(ProgressiveGenerator)
class FastProgressiveGenerator(Twin, ProgressiveGenerator):
    """Each resolution of the semantic input resized once for all blocks (``SemanticMaps``); with
    ``final_only`` (and the semantic window) each stage computes its output only where the next
    stage or the final composite reads it (``needed_boxes``), zeros elsewhere."""
    _boxes = None   # the stages' output boxes during a final_only forward

    def forward(self, gt, masked, seg_edge, mask, final_only=False):
        if final_only and self.semantic_window:
            h, w = gt.shape[-2:]
            self._boxes = needed_boxes(self._resize(mask, (h // 2, w // 2), 'nearest'), mask)
        try:
            return super().forward(gt, masked, seg_edge, mask, final_only)
        finally:
            self._boxes = None

    @staticmethod
    def semantic_input(seg_edge, mask):
        return SemanticMaps(ProgressiveGenerator.semantic_input(seg_edge, mask))

    def run_stage(self, k, x, sem):
        box = self._boxes[k] if self._boxes is not None else None
        return (self.G1, self.G2, self.G3)[k](x, sem, box)


def needed_boxes(mask_half, mask_full):
    """Where each stage's raw output is read when only the final composite is wanted: G1's and
    G2's through the next stage's bilinear ×2 (their boxes at S/4 and S/2), G3's in the hole.
    Each a (y0, y1, x0, x1) or None when nothing is edited."""
    return [_needed_box(mask_half, 2), _needed_box(mask_full, 2), _needed_box(mask_full, 1)]


def _needed_box(mask, scale_down):
    """Bounding box of mask > 0 (union over the batch), mapped to the resolution 1/scale_down
    and grown by the bilinear ×2 footprint."""
    box = bounding_box(mask.detach().amax((0, 1)) > 0)
    if box is None:
        return None
    y0, y1, x0, x1 = box
    h, w = mask.shape[-2:]
    if scale_down != 1:
        h, w = h // 2, w // 2
        y0, y1, x0, x1 = max(y0 // 2 - 1, 0), min((y1 + 1) // 2 + 1, h), max(x0 // 2 - 1, 0), min((x1 + 1) // 2 + 1, w)
    return coarse_box((y0, y1, x0, x1), (h, w)) if mask.is_cuda else (y0, y1, x0, x1)


def last_block_window(out_box, size):
    """What the last SPM block must compute for the output layer (3×3) to be exact on ``out_box``:
    the box grown by one pixel inside the image."""
    (h, w), (y0, y1, x0, x1) = size, out_box
    return max(y0 - 1, 0), min(y1 + 1, h), max(x0 - 1, 0), min(x1 + 1, w)


def output_layer_window(layer, x, box, window):
    """The output layer (replicate pad, conv, tanh) on ``box`` only, zeros elsewhere. ``window``
    (``box`` grown by one pixel) is what the last block computed: the crop's own replicate
    padding is then wrong only outside ``box``, or is the image's."""
    (y0, y1, x0, x1), (wy0, wy1, wx0, wx1) = box, window
    crop = layer.pad(x[:, :, wy0:wy1, wx0:wx1])
    y = layer.activation(conv2d(crop, layer.conv.weight, layer.conv.bias))
    out = torch.empty((x.shape[0], y.shape[1]) + tuple(x.shape[-2:]), dtype=y.dtype, device=y.device,
                      memory_format=memory_format_of(x)).zero_()
    out[:, :, y0:y1, x0:x1] = y[:, :, y0 - wy0:y1 - wy0, x0 - wx0:x1 - wx0]
    return out
