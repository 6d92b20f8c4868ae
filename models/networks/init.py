"""Weight initialisation (spec SPMPGAN.md §8, SIEDOB_scene.md §1.6)."""
import torch.nn as nn


def init_weights(net, init_type='gaussian', gain=0.02):
    """Upstream rule: every module whose class name starts with 'Conv' (or 'Linear') and that has a
    ``weight`` gets N(0, gain) weights and zero bias. For spectral-norm convs ``weight`` shares
    storage with ``weight_orig`` right after wrapping, so the draw lands in ``weight_orig``; we
    write it there directly, the u/v vectors keep their random start (§8)."""

    def visit(m):
        name = type(m).__name__
        if not (name.startswith('Conv') or name.startswith('Linear')):
            return
        weight = getattr(m, 'weight_orig', None)
        if weight is None:
            weight = getattr(m, 'weight', None)
        if not isinstance(weight, nn.Parameter):
            return
        if init_type == 'gaussian':
            nn.init.normal_(weight, 0.0, gain)
        elif init_type == 'xavier':
            nn.init.xavier_normal_(weight, gain=gain)
        elif init_type == 'kaiming':
            nn.init.kaiming_normal_(weight, a=0, mode='fan_in')
        else:
            raise ValueError(f'unknown init type {init_type!r}')
        if getattr(m, 'bias', None) is not None:
            nn.init.zeros_(m.bias)

    net.apply(visit)
    return net
