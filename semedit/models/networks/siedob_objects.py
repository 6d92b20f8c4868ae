"""SIEDOB's object networks (the paper's object branch; upstream ``instance_inpainting/networks/
fg_inpainting.py`` and ``instance_style/networks/fg_style.py``), on 64×64 object crops. Module
names follow upstream, so that the authors' ``object_inpainting.pth`` / ``object_style.pth`` load
once their ``fg_inpainting.`` / ``fg_style.`` prefix is removed.

Per object: K its instance mask, M the edit mask restricted to it (M·K), X the crop, the class map
C = K × v, v the class's vector (``data/siedob_constants.py``). Neither net is initialised
N(0, 0.02): the authors' object trainers keep PyTorch's default initialisation."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from semedit.data.siedob_constants import class_map

from .blocks import Conv2dBlock, ResnetBlock, StyleEncoder, StyleSPADEResnetBlock, gated3x3, up_gated3x3


class ObjectInpaintingGenerator(nn.Module):
    """fg_inpainting: completes a partly edited object from its visible pixels. A gated-conv U-Net
    (64 → 4 pixels and back, skips after the stride-1 layers) on 8 channels::

        out = G([X·(1−M)·K, K, M, C])        tanh, 3 channels

    ngf 64 (upstream hard-codes it) gives 81,436,032 parameters. Sides must be multiples of 16."""

    def __init__(self, ngf=64, input_nc=3, output_nc=3, norm='in'):
        super().__init__()
        self.init_conv = Conv2dBlock(input_nc + 1 + 1 + 3, ngf, 7, 1, 3, norm=norm, activation='lrelu')
        self.enc1 = gated3x3(ngf, ngf * 2, 2, norm)
        self.enc2 = gated3x3(ngf * 2, ngf * 4, 2, norm)
        self.enc22 = gated3x3(ngf * 4, ngf * 4, 1, norm)
        self.enc3 = gated3x3(ngf * 4, ngf * 8, 2, norm)
        self.enc32 = gated3x3(ngf * 8, ngf * 8, 1, norm)
        self.enc4 = gated3x3(ngf * 8, ngf * 16, 2, norm)
        self.enc5 = gated3x3(ngf * 16, ngf * 16, 1, norm)
        self.enc6 = gated3x3(ngf * 16, ngf * 16, 1, norm)
        self.dec2 = up_gated3x3(ngf * 16 + ngf * 8, ngf * 8, norm)
        self.dec22 = gated3x3(ngf * 8, ngf * 8, 1, norm)
        self.dec3 = up_gated3x3(ngf * 8 + ngf * 4, ngf * 4, norm)
        self.dec32 = gated3x3(ngf * 4, ngf * 4, 1, norm)
        self.dec4 = up_gated3x3(ngf * 4 + ngf * 2, ngf * 2, norm)
        self.dec43 = gated3x3(ngf * 2, ngf * 2, 1, norm)
        self.dec5 = up_gated3x3(ngf * 2, ngf * 2, norm)
        self.dec6 = gated3x3(ngf * 2, ngf, 1, norm)
        self.conv_img = Conv2dBlock(ngf, output_nc, 3, 1, 1, norm='none', activation='tanh')

    def forward(self, visible, inst_mask, mask, cls_map):
        h = self.init_conv(torch.cat([visible, inst_mask, mask, cls_map], 1))
        e1 = self.enc1(h)
        e2 = self.enc22(self.enc2(e1))
        e3 = self.enc32(self.enc3(e2))
        e6 = self.enc6(self.enc5(self.enc4(e3)))
        d = self.dec22(self.dec2(e6, skip=e3))
        d = self.dec32(self.dec3(d, skip=e2))
        d = self.dec43(self.dec4(d, skip=e1))
        return self.conv_img(self.dec6(self.dec5(d)))  # no LeakyReLU before conv_img (unlike bg_G)


class ObjectStyleGenerator(nn.Module):
    """fg_style, the style-diversity object generator: draws a whole object from its class map in
    the style of a reference object::

        s = E_style([X_ref·K_ref, K_ref × v])                    the reference's style code
        x = decoder(encoder(C), C, s)                             residual blocks, then blocks
                                                                  modulated by C and s
        cycle = E_cycle([x·K, C])                                 the output's style code

    E_style and E_cycle are two encoders with their own weights. ngf 32 (upstream hard-codes it)
    gives 15,364,288 parameters. No spectral norm, no dropout: train and eval give the same output."""

    def __init__(self, ngf=32, input_nc=3, output_nc=3, style_nc=128, norm='in'):
        super().__init__()
        self.enc_style = StyleEncoder(input_nc + 3, 32, style_nc)
        self.init_conv = Conv2dBlock(3, ngf, 7, 1, 3, norm=norm, activation='lrelu')
        self.enc1 = Conv2dBlock(ngf, ngf * 2, 3, 2, 1, norm=norm, activation='lrelu')
        self.enc2 = Conv2dBlock(ngf * 2, ngf * 4, 3, 2, 1, norm=norm, activation='lrelu')
        self.enc3 = Conv2dBlock(ngf * 4, ngf * 8, 3, 2, 1, norm=norm, activation='lrelu')
        for k in range(1, 5):
            setattr(self, f'resblk{k}', ResnetBlock(ngf * 8))
        self.spade1_1 = StyleSPADEResnetBlock(ngf * 8, 3, style_nc)
        self.spade1_2 = StyleSPADEResnetBlock(ngf * 8, 3, style_nc)
        self.conv1 = ResnetBlock(ngf * 8, ngf * 4)
        self.spade2_1 = StyleSPADEResnetBlock(ngf * 4, 3, style_nc)
        self.spade2_2 = StyleSPADEResnetBlock(ngf * 4, 3, style_nc)
        self.conv2 = ResnetBlock(ngf * 4, ngf * 2)
        self.spade3 = StyleSPADEResnetBlock(ngf * 2, 3, style_nc)
        self.conv3 = ResnetBlock(ngf * 2, ngf)
        self.conv_img = Conv2dBlock(ngf, output_nc, 3, 1, 1, norm='none', activation='tanh')
        self.cycle_style = StyleEncoder(input_nc + 3, 32, style_nc)

    @staticmethod
    def up(x):
        return F.interpolate(x, scale_factor=2, mode='nearest')

    def forward(self, cls_map, style_image, style_cls_map, inst_mask):
        """Returns (x, the reference's style code, the output's cycle code)."""
        s = self.enc_style(torch.cat([style_image, style_cls_map], 1))
        h = self.enc3(self.enc2(self.enc1(self.init_conv(cls_map))))
        h = self.resblk4(self.resblk3(self.resblk2(self.resblk1(h))))
        h = self.spade1_2(self.spade1_1(h, cls_map, s), cls_map, s)
        h = self.spade2_2(self.spade2_1(self.up(self.conv1(h)), cls_map, s), cls_map, s)
        h = self.spade3(self.up(self.conv2(h)), cls_map, s)
        x = self.conv_img(F.leaky_relu(self.up(self.conv3(h)), 0.2))
        return x, s, self.cycle_style(torch.cat([x * inst_mask, cls_map], 1))


# ---- the branches as the fusion stage calls them (upstream fusion/networks/inst_Gs.py) -----------

def inpaint_objects(net, masked_crops, inst_masks, masks, classes):
    """Object inpainting on a batch of 64×64 crops: ``masked_crops`` the scene's masked image cut at
    each object's box (N×3), ``inst_masks`` K and ``masks`` the edit mask cut alike (N×1), ``classes``
    each crop's label id. The inputs as the network was trained on them: X·(1−M)·K, K, M·K, C."""
    return net(masked_crops * inst_masks, inst_masks, masks * inst_masks, class_map(inst_masks, classes))


def style_objects(net, inst_masks, classes, ref_images, ref_masks):
    """Reference-guided generation on a batch of crops: each object (its mask K and class) drawn in
    the style of its reference (X_ref, K_ref, of the same class); the image only (N×3×64×64)."""
    return net(class_map(inst_masks, classes), ref_images * ref_masks, class_map(ref_masks, classes), inst_masks)[0]
