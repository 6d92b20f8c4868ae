"""Spectral normalisation as upstream uses it (``torch.nn.utils.spectral_norm``: the parameter
``weight_orig`` and the buffers ``weight_u`` / ``weight_v``, one power iteration per training
forward), with two changes that keep its numbers:

- σ and the power iteration always run in float32, also under autocast (AMP would otherwise run
  the matrix-vector products in half precision and store the rounded vectors);
- the fast mode (``set_fast``) differentiates W / σ in one pass: dL/dW_orig =
  (G − ⟨G, W_orig⟩/σ · u vᵀ) / σ, where autograd takes about six full-size passes and as many
  temporaries (150 ms per training iteration for SPM-PGAN's largest decoder weight on a CPU).
"""
import torch
import torch.nn as nn
from torch.nn.utils.spectral_norm import SpectralNorm as TorchSpectralNorm


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


class SpectralNormHook(TorchSpectralNorm):
    """torch's spectral-norm forward pre-hook (same state, same power iteration), see the module
    docstring. Installed by ``spectral_norm`` below."""

    fast = False

    def __call__(self, module, inputs):
        device_type = getattr(module, self.name + '_orig').device.type
        with torch.autocast(device_type, enabled=False):
            return super().__call__(module, inputs)

    def compute_weight(self, module, do_power_iteration):
        if not self.fast:
            return super().compute_weight(module, do_power_iteration)
        weight = getattr(module, self.name + '_orig')
        u = getattr(module, self.name + '_u')
        v = getattr(module, self.name + '_v')
        if do_power_iteration:
            mat = weight.detach().reshape(weight.shape[0], -1)
            with torch.no_grad():
                for _ in range(self.n_power_iterations):
                    v = nn.functional.normalize(torch.mv(mat.t(), u), dim=0, eps=self.eps, out=v)
                    u = nn.functional.normalize(torch.mv(mat, v), dim=0, eps=self.eps, out=u)
                if self.n_power_iterations > 0:  # the next forward updates the buffers in place
                    u, v = u.clone(), v.clone()
        return _NormalisedWeight.apply(weight, u, v)


def spectral_norm(module):
    """``torch.nn.utils.spectral_norm(module)`` with the hook above (same state-dict keys)."""
    module = nn.utils.spectral_norm(module)
    for hook in module._forward_pre_hooks.values():
        if type(hook) is TorchSpectralNorm:
            hook.__class__ = SpectralNormHook
    return module


def spectral_norm_hooks(net):
    for m in net.modules():
        for hook in m._forward_pre_hooks.values():
            if isinstance(hook, SpectralNormHook):
                yield hook


def current_weight(conv):
    """The weight a forward of ``conv`` would use now, for code that runs the convolution itself:
    its forward pre-hooks run as in a forward (the spectral norm's power iteration in training
    mode, W / σ), the convolution does not."""
    for hook in conv._forward_pre_hooks.values():
        hook(conv, ())
    return conv.weight


def eval_weight(conv):
    """The eval-mode weight W_orig / (uᵀ W_orig v) of a spectral-normed conv, in float32."""
    w = conv.weight_orig
    with torch.autocast(w.device.type, enabled=False):
        sigma = torch.dot(conv.weight_u, torch.mv(w.reshape(w.shape[0], -1), conv.weight_v))
        return w / sigma
