"""Spectral normalisation as upstream uses it (``torch.nn.utils.spectral_norm``: the parameter
``weight_orig`` and the buffers ``weight_u`` / ``weight_v``, one power iteration per training
forward), with one change that keeps its numbers: σ and the power iteration always run in float32,
also under autocast (AMP would otherwise run the matrix-vector products in half precision and store
the rounded vectors). The fast twin of the hook (``fast/spectral_norm.py``) differentiates W / σ in
one pass instead of autograd's six.
"""
import torch
import torch.nn as nn
from torch.nn.utils.spectral_norm import SpectralNorm as TorchSpectralNorm


class SpectralNormHook(TorchSpectralNorm):
    """torch's spectral-norm forward pre-hook (same state, same power iteration), see the module
    docstring. Installed by ``spectral_norm`` below."""

    def __call__(self, module, inputs):
        device_type = getattr(module, self.name + '_orig').device.type
        with torch.autocast(device_type, enabled=False):
            return super().__call__(module, inputs)


def spectral_norm(module):
    """``torch.nn.utils.spectral_norm(module)`` with the hook above (same state-dict keys)."""
    module = nn.utils.spectral_norm(module)
    for hook in module._forward_pre_hooks.values():
        if type(hook) is TorchSpectralNorm:
            hook.__class__ = SpectralNormHook
    return module


def current_weight(conv):
    """The weight a forward of ``conv`` would use now, for code that runs the convolution itself:
    its forward pre-hooks run as in a forward (the spectral norm's power iteration in training
    mode, W / σ), the convolution does not."""
    for hook in conv._forward_pre_hooks.values():
        hook(conv, ())
    return conv.weight
