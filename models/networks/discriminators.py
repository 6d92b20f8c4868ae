"""Spectral-norm patch discriminator (upstream ``networks/SNPatchDiscriminator.py``)."""
import torch
import torch.nn as nn

from . import fast
from .blocks import Conv2dBlock
from .fast.windows import windowed_prefix_conv
from .spectral_norm import current_weight


class SNPatchDiscriminator(fast.Switchable, nn.Module):
    """``num_layer`` stride-2 5×5 SN convs with replicate padding 2, no bias, LeakyReLU(0.2) after
    every layer, the last one included (as upstream). Output: a 3-channel patch score map.

    Called as ``D(image, labels)`` the input is upstream's ``cat([labels, image])``. ``labels``
    (one-hot·M) is zero outside the edited region, so the fast path convolves it only around that
    region in the first layer (``fast.windows.windowed_prefix_conv``): the same numbers up to float
    summation order, a quarter of the first layer's work for a typical mask. ``D(x)`` takes the
    whole input."""

    def __init__(self, in_nc, num_layer, ndf=64):
        super().__init__()
        layers = [self._layer(in_nc, ndf)]
        for i in range(num_layer - 2):
            m = 2 ** i
            if m < 4:
                layers.append(self._layer(ndf * m, ndf * m * 2))
            else:
                layers.append(self._layer(ndf * 4, ndf * 4))
        layers.append(self._layer(ndf * 4, 3))
        self.dis_model = nn.Sequential(*layers)

    @staticmethod
    def _layer(in_nc, out_nc):
        return Conv2dBlock(in_nc, out_nc, 5, 2, 2, norm='sn', activation='lrelu', pad_type='replicate')

    def forward(self, x, labels=None):
        if labels is None:
            return self.dis_model(x)
        if not self.windowed:
            return self.dis_model(torch.cat([labels, x], dim=1))
        first = self.dis_model[0]
        conv = first.conv
        y = windowed_prefix_conv(labels, x, current_weight(conv), conv.stride[0], first.pad.padding[0])
        return self.dis_model[1:](first.activation(y))
