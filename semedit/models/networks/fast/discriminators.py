"""The fast patch discriminator: its first layer convolves the label part of its input only around
the edited region (``windows.windowed_prefix_conv``), where SPM-PGAN's one-hot·M is non-zero."""
from ..discriminators import SNPatchDiscriminator
from ..spectral_norm import current_weight
from .twins import Twin, twin_of
from .windows import windowed_prefix_conv


@twin_of(SNPatchDiscriminator)
class FastSNPatchDiscriminator(Twin, SNPatchDiscriminator):
    def forward(self, x, labels=None):
        if labels is None or not (self.semantic_window and self.sparse_labels):
            return super().forward(x, labels)
        first = self.dis_model[0]
        conv = first.conv
        y = windowed_prefix_conv(labels, x, current_weight(conv), conv.stride[0], first.pad.padding[0])
        return self.dis_model[1:](first.activation(y))
