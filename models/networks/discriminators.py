"""Spectral-norm patch discriminator (spec SPMPGAN.md §6, upstream ``SNPatchDiscriminator``)."""
import torch.nn as nn

from .blocks import Conv2dBlock


class SNPatchDiscriminator(nn.Module):
    """``num_layer`` stride-2 5×5 SN convs with replicate padding 2, no bias, LeakyReLU(0.2) after
    every layer, the last one included (§14.1.4). Output: a 3-channel patch score map."""

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

    def forward(self, x):
        return self.dis_model(x)
