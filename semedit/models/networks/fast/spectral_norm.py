"""The fast spectral norm: W / σ differentiated in one pass (the twin of
``models/networks/spectral_norm.SpectralNormHook``).

dL/dW_orig = (G − ⟨G, W_orig⟩/σ · u vᵀ) / σ, where autograd takes about six full-size passes and as
many temporaries (150 ms per training iteration for SPM-PGAN's largest decoder weight on a CPU).
The power iteration is torch's.
"""
import torch
import torch.nn as nn

from ..spectral_norm import SpectralNormHook
from .twins import Twin, twin_of


@twin_of(SpectralNormHook)
class FastSpectralNormHook(Twin, SpectralNormHook):
    def compute_weight(self, module, do_power_iteration):
        return normalised_weight(self, module, do_power_iteration)


def normalised_weight(hook, module, do_power_iteration):
    """What ``torch.nn.utils.spectral_norm``'s ``compute_weight`` returns, through the one-pass backward."""
    weight = getattr(module, hook.name + '_orig')
    u = getattr(module, hook.name + '_u')
    v = getattr(module, hook.name + '_v')
    if do_power_iteration:
        mat = weight.detach().reshape(weight.shape[0], -1)
        with torch.no_grad():
            for _ in range(hook.n_power_iterations):
                v = nn.functional.normalize(torch.mv(mat.t(), u), dim=0, eps=hook.eps, out=v)
                u = nn.functional.normalize(torch.mv(mat, v), dim=0, eps=hook.eps, out=u)
            if hook.n_power_iterations > 0:  # the next forward updates the buffers in place
                u, v = u.clone(), v.clone()
    return _NormalisedWeight.apply(weight, u, v)


class _NormalisedWeight(torch.autograd.Function):
    """W_orig / σ with σ = uᵀ W_orig v (u, v constants)."""

    @staticmethod
    def forward(ctx, weight, u, v):
        mat = weight.reshape(weight.shape[0], -1)
        sigma = torch.dot(u, torch.mv(mat, v))
        ctx.save_for_backward(weight, u, v, sigma)
        return weight / sigma

    @staticmethod
    def backward(ctx, grad):
        weight, u, v, sigma = ctx.saved_tensors
        g, w = _rows(grad), _rows(weight)
        if g is not None and w is not None and g[1] == w[1]:
            # in the tensors' own memory order: no weight-sized temporaries but the result
            inner = torch.dot(g[0].reshape(-1), w[0].reshape(-1))
            out = grad / sigma  # keeps grad's layout, so _rows(out) is a view of it
            cols = v.view(weight.shape[1:]).permute(1, 2, 0).reshape(-1) if g[1] else v
            _rows(out)[0].addr_(u * (-inner / sigma ** 2), cols)
            return out, None, None
        inner = (grad * weight).sum()  # mixed layouts: elementwise
        return (grad - torch.outer(u, v).view(weight.shape) * (inner / sigma)) / sigma, None, None


def _rows(t):
    """(O × rest matrix view of a weight-shaped tensor in its memory order, whether its columns are
    (kh, kw, in) ordered as in NHWC), or None. A reshape of an NHWC tensor would be a copy, and an
    in-place update of it would be lost."""
    if t.is_contiguous():
        return t.view(t.shape[0], -1), False
    if t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last):
        return t.permute(0, 2, 3, 1).view(t.shape[0], -1), True
    return None


def eval_weight(conv):
    """The eval-mode weight W_orig / (uᵀ W_orig v) of a spectral-normed conv, in float32."""
    w = conv.weight_orig
    with torch.autocast(w.device.type, enabled=False):
        sigma = torch.dot(conv.weight_u, torch.mv(w.reshape(w.shape[0], -1), conv.weight_v))
        return w / sigma
