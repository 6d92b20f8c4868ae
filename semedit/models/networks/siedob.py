"""SIEDOB's background generator with semantic-aware self-propagation (the paper's background
branch; upstream ``background/networks/bg_G.py``). Module names follow upstream, so that the
authors' ``bg.pth`` loads without renaming."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from semedit.data.siedob_constants import THING_CLASSES

from .blocks import SPADE, Conv2dBlock, gated3x3, up_gated3x3


#: the gated encoder both scene networks start with, enc1, enc2, ...: (in, out, stride) in units of
#: ngf (upstream bg_G.py and F_stage.py; the background generator adds two layers)
SCENE_ENCODER = ((1, 2, 2), (2, 2, 1), (2, 4, 2), (4, 4, 1), (4, 8, 2), (8, 8, 1))


def add_gated_encoders(net, plan, ngf, norm):
    """``net.enc1``, ``net.enc2``, ...: a 3×3 gated conv per (in, out, stride) of ``plan``."""
    for k, (i, o, stride) in enumerate(plan, start=1):
        net.add_module(f'enc{k}', gated3x3(i * ngf, o * ngf, stride, norm))


class StyleLayer(nn.Module):
    """LeakyReLU_0.2(SPADE(conv3×3(x), cond)) (upstream ``StyleLayer``)."""

    def __init__(self, dim, cond_nc):
        super().__init__()
        self.conv_0 = nn.Conv2d(dim, dim, 3, padding=1)
        self.spade = SPADE(dim, cond_nc)

    def forward(self, x, cond):
        return F.leaky_relu(self.spade(self.conv_0(x), cond), 0.2)


class StyleProPagate(nn.Module):
    """Semantic-aware self-propagation (SSP): the style of each background class, taken from its
    known pixels, is spread over all of its pixels, the edited ones included.

    With P = conv(X) (64-channel context features) and, at X's resolution, s the one-hot labels,
    b the background mask and m the edit mask::

        ctx_j = s_j · b · (1 − m)                  known background pixels of class j
        code_j = Σ_p ctx_j(p) P(p) / Σ_p ctx_j(p)  class j's mean feature (0 for object classes
                                                   and for classes without a known pixel)
        Z(p) = Σ_j code_j · s_j(p) · b(p)          each background pixel gets its class's code
        out = StyleLayer(X, [Z, s · b])            (no residual: the output replaces X)

    The codes are computed by upstream's loop over samples and classes; the fast twin
    (``fast/siedob.py``) computes the same sums as two matrix products."""

    def __init__(self, dim_in, label_nc, code_nc=64, excluded=THING_CLASSES):
        super().__init__()
        self.conv = Conv2dBlock(dim_in, code_nc, 3, 1, 1, norm='none', activation='lrelu')
        self.stylelayer = StyleLayer(dim_in, code_nc + label_nc)
        self.excluded = tuple(excluded)

    def forward(self, x, seg, bg_mask, mask):
        p = self.conv(x)
        size = p.shape[-2:]
        seg, bg_mask, mask = (F.interpolate(t, size=size, mode='nearest') for t in (seg, bg_mask, mask))
        ctx = seg * bg_mask * (1 - mask)
        target = seg * bg_mask
        codes = self.class_codes(p, ctx)
        n, labels, h, w = target.shape
        z = torch.matmul(codes.permute(0, 2, 1), target.reshape(n, labels, h * w)).reshape(n, -1, h, w)
        return self.stylelayer(x, torch.cat([z, target], dim=1))

    def class_codes(self, p, ctx):
        """B×L×C class codes, sample by sample and class by class (upstream's loop)."""
        codes = p.new_zeros(p.shape[0], ctx.shape[1], p.shape[1])
        for i in range(p.shape[0]):
            for j in range(ctx.shape[1]):
                where = ctx[i, j].bool()
                area = int(where.sum())
                if j not in self.excluded and area > 0:
                    codes[i, j] = p[i].masked_select(where).reshape(p.shape[1], area).mean(1)
        return codes


class BackgroundGenerator(nn.Module):
    """bg_G: a gated-conv U-Net whose three coarsest decoder stages are followed by SSP.

    Input ``x``: the masked image (3), one-hot labels and edges times the background mask (L + 1)
    and the edit mask (1); ``seg``: the full one-hot labels; ``mask``, ``bg_mask``: 1-channel maps.
    Sides must be multiples of 16. ngf 32 (upstream hard-codes it) gives 13,088,096 parameters."""

    def __init__(self, label_nc=34, ngf=32, input_nc=3, output_nc=3, norm='in', excluded=THING_CLASSES):
        super().__init__()
        self.init_conv = Conv2dBlock(input_nc + label_nc + 2, ngf, 7, 1, 3, norm=norm, activation='lrelu')
        add_gated_encoders(self, SCENE_ENCODER + ((8, 8, 2), (8, 16, 1)), ngf, norm)  # enc1 .. enc8
        self.dec1 = up_gated3x3(ngf * 16 + ngf * 8, ngf * 8, norm)
        self.style1 = StyleProPagate(ngf * 8, label_nc, excluded=excluded)
        self.dec2 = up_gated3x3(ngf * 8 + ngf * 4, ngf * 4, norm)
        self.style2 = StyleProPagate(ngf * 4, label_nc, excluded=excluded)
        self.dec3 = up_gated3x3(ngf * 4 + ngf * 2, ngf * 2, norm)
        self.style3 = StyleProPagate(ngf * 2, label_nc, excluded=excluded)
        self.dec4 = up_gated3x3(ngf * 2, ngf * 2, norm)
        self.dec5 = gated3x3(ngf * 2, ngf, 1, norm)
        self.conv_img = Conv2dBlock(ngf, output_nc, 3, 1, 1, norm='none', activation='tanh')

    def forward(self, x, seg, mask, bg_mask):
        e = self.init_conv(x)
        feats = []
        for k in range(1, 9):
            e = getattr(self, f'enc{k}')(e)
            feats.append(e)
        d = self.style1(self.dec1(feats[7], skip=feats[5]), seg, bg_mask, mask)
        d = self.style2(self.dec2(d, skip=feats[3]), seg, bg_mask, mask)
        d = self.style3(self.dec3(d, skip=feats[1]), seg, bg_mask, mask)
        d = self.dec5(self.dec4(d))
        return self.conv_img(F.leaky_relu(d, 0.2))


class FusionNetwork(nn.Module):
    """F_stage: fuses the pasted objects and the generated background into one image (the paper's
    fusion network; upstream ``fusion/networks/F_stage.py``). A gated-conv U-Net on the composite,
    the mask and the edges, whose output is a residual inside the mask::

        fake = tanh(U([masked_G, M, E])) · M + masked_G

    (so edited pixels can leave [−1, 1]: the caller clips when writing). ngf 32 (upstream hard-codes
    it) gives 3,550,048 parameters, 55 entries. The label map upstream passes is unused."""

    def __init__(self, ngf=32, input_nc=3, output_nc=3, norm='in'):
        super().__init__()
        self.init_conv = Conv2dBlock(input_nc + 1 + 1, ngf, 7, 1, 3, norm=norm, activation='lrelu')
        add_gated_encoders(self, SCENE_ENCODER, ngf, norm)  # enc1 .. enc6
        self.dec2 = up_gated3x3(ngf * 8 + ngf * 4, ngf * 4, norm)
        self.dec3 = up_gated3x3(ngf * 4 + ngf * 2, ngf * 2, norm)
        self.dec4 = up_gated3x3(ngf * 2, ngf * 2, norm)
        self.dec5 = gated3x3(ngf * 2, ngf, 1, norm)
        self.conv_img = Conv2dBlock(ngf, output_nc, 3, 1, 1, norm='none', activation='tanh')

    def forward(self, masked_g, mask, edges):
        e2 = self.enc2(self.enc1(self.init_conv(torch.cat([masked_g, mask, edges], 1))))
        e4 = self.enc4(self.enc3(e2))
        d = self.dec2(self.enc6(self.enc5(e4)), skip=e4)
        d = self.dec4(self.dec3(d, skip=e2))
        return self.conv_img(self.dec5(d)) * mask + masked_g  # no LeakyReLU before conv_img (unlike bg_G)
