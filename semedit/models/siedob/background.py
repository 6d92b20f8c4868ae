"""SIEDOB's background stage (Sec. 3.3 of the paper; upstream ``background/trainer.py``): the
background generator ``netG_BG`` repaints the edited background, objects cut out; a global patch
discriminator ``netD_BG`` judges the whole composite with its labels and a boundary-anchored patch
discriminator ``netD_patch`` judges windows centred on the edit's boundary, where a repainted
background must meet the known one. L1 + hinge GAN (global, and 0.2 × patch) + VGG, Adam 2e-4.

Per batch (the trainer's ``set_input`` / ``forward``), with I the image, M the edit mask, S the
one-hot labels, E the instance edges, Bg the background mask (1 − the selected objects)::

    M_bg = M · Bg                                   the edited background
    O = netG_BG([I·(1−M)·Bg, [S, E·M]·Bg, M_bg], S, M_bg, Bg)
    C = O · M_bg + I · (1 − M_bg)                   real objects and known pixels from I

    D:  hinge(netD_BG([S, C])) + 0.2 · hinge(netD_patch(patches of [C, S] around M_bg's boundary))
    G:  |O − I·Bg|₁ + GAN_global + 0.2 · GAN_patch + 10 · VGG(O, I·Bg)

(the losses are on the raw output O against I·Bg, known pixels included; at object pixels the
target is 0, mid-grey).
"""
import random

import torch

from semedit.data.siedob_constants import FOREGROUND_CLASSES, THING_CLASSES
from semedit.models.base_model import GANModel, add_gan_loss_options
from semedit.models.networks.discriminators import SNPatchDiscriminator, boundary_patches
from semedit.models.networks.init import init_weights
from semedit.models.networks.losses import HingeGANLoss
from semedit.models.networks.siedob import BackgroundGenerator
from semedit.models.runtime import add_forward_options
from semedit.models.siedob import set_stage_defaults
from semedit.models.siedob.composition import background_inputs, scene_inputs
from semedit.models.siedob.parts import missing_part_hint
from semedit.util.errors import UserError
from semedit.util.sizes import SizeRule

#: upstream's patch sampling at 256×256: 4 windows per image, sides 96..160, resized to 160
PATCH_NUM, PATCH_SIDES, PATCH_OUT, UPSTREAM_SIDE = 4, (96, 160), 160, 256


def patch_geometry(h, w):
    """(sides, out) of the boundary patches for an h×w image: upstream's at 256, scaled with the
    short side elsewhere (a window must fit inside side − 1 pixels, upstream's limit)."""
    scale = min(h, w) / UPSTREAM_SIDE
    lo, hi = (max(2, round(s * scale)) for s in PATCH_SIDES)
    hi = min(hi, min(h, w) - 1)
    return (min(lo, hi), hi), max(2, round(PATCH_OUT * scale))


def default_object_classes(label_nc, fg_classes):
    """The classes SSP never propagates: Cityscapes' object ("thing") labelIds with 34 labels
    (upstream), otherwise the foreground classes."""
    return tuple(THING_CLASSES) if label_nc == 34 else tuple(sorted(int(c) for c in fg_classes))


class SIEDOBBackgroundModel(GANModel):
    model_name = 'siedob'
    stage = 'background'
    dataset_items = 'siedob_scene'   # + fg_mask, bg_mask and SIEDOB's masks and flags (data/siedob_scene.py)
    inference_nets = ('netG_BG',)
    generator_names = ('netG_BG',)
    discriminator_names = ('netD_BG', 'netD_patch')
    # keep_label_0: how the labels were read in training, so test.py reads them the same way
    arch_options = ('label_nc', 'ngf', 'ndf', 'color_order', 'object_classes', 'keep_label_0')
    # four stride-2 encoders; the smallest patch discriminator input still gives a score
    size_rule = SizeRule(16, 32, 'four stride-2 encoder layers')
    summary_losses = ('G', 'D')
    missing_net_hint = missing_part_hint('background')

    @staticmethod
    def modify_commandline_options(parser, is_train):
        g = parser.add_argument_group('siedob background stage')
        add_forward_options(g)
        add_gan_loss_options(g, is_train)  # upstream: ndf 64, λ_L1 1, λ_GAN 1, λ_VGG 10
        g.add_argument('--object_classes', type=int, nargs='+', default=None,
                       help='label ids whose style the self-propagation module never spreads (default: Cityscapes\' '
                            f'object classes {THING_CLASSES[0]}..{THING_CLASSES[-1]} with 34 labels, as upstream; '
                            'otherwise --fg_classes)')
        g.add_argument('--keep_label_0', action='store_true',
                       help='fix: keep label 0 (unlabeled) as its own class; upstream reads it as the last id '
                            '(33, bicycle)')
        if is_train:
            g.add_argument('--lambda_patch', type=float, default=0.2,
                           help='weight of the boundary-anchored patch discriminator\'s GAN loss')
            g.add_argument('--patch_num', type=int, default=PATCH_NUM, help='boundary patches per image')
            g.add_argument('--symmetric_boundary', action='store_true',
                           help='fix: anchor patches on every side of the edit; upstream\'s 2×2 erosion finds only '
                                'the top and left sides')
        set_stage_defaults(parser, is_train, batch_size=21)  # upstream background/train.py
        return parser

    @staticmethod
    def arch_from_opt(opt):
        classes = getattr(opt, 'object_classes', None)
        if classes is None:
            classes = default_object_classes(opt.label_nc, getattr(opt, 'fg_classes', FOREGROUND_CLASSES))
        return {'label_nc': opt.label_nc, 'ngf': opt.ngf, 'ndf': getattr(opt, 'ndf', 64),
                'color_order': opt.color_order, 'object_classes': [int(c) for c in classes],
                'keep_label_0': bool(getattr(opt, 'keep_label_0', False))}

    def __init__(self, opt, device, arch=None, vgg_features=None):
        super().__init__(opt, device, arch)
        a = self.arch()
        self.label_nc, self.color_order = a['label_nc'], a['color_order']
        #: how the labels were read in training (label 0 kept, or read as the last id as upstream)
        self.keep_label_0 = a['keep_label_0']
        self.netG_BG = init_weights(BackgroundGenerator(a['label_nc'], a['ngf'], excluded=a['object_classes']),
                                    getattr(opt, 'init_type', 'gaussian'))
        self.net_names = ('netG_BG',)
        if not self.is_train:
            return
        if getattr(opt, 'cuda_graph', False):
            raise UserError('--cuda_graph cannot capture the background stage\'s training step: the number of '
                            'boundary patches changes from batch to batch; drop --cuda_graph')
        d_in = a['label_nc'] + 3
        # upstream: zero padding in both; one-hot everywhere (not ·M), so no windowing of the labels

        def make_d():
            return init_weights(SNPatchDiscriminator(d_in, 6, a['ndf'], pad_type='zero', sparse_labels=False),
                                opt.init_type)

        self.netD_BG, self.netD_patch = make_d(), make_d()
        self.net_names = ('netG_BG',) + self.discriminator_names
        self.criterion_gan = HingeGANLoss()
        self.vgg = self.make_vgg_loss(vgg_features)
        # Python's random, as upstream's crop_patch: part of the checkpoint's RNG state, so resuming
        # draws the same patches
        self.patch_rng = random

    # ---- inputs ---------------------------------------------------------------------------
    def set_input(self, batch):
        """batch: image N×3×H×W in [-1, 1], label and instance N×1×H×W ids, mask N×1×H×W (1 = edit),
        bg_mask N×1×H×W (1 − the selected objects; all ones when absent: everything is background)."""
        self.check_size(batch['image'], 'SIEDOB\'s background generator')
        scene = scene_inputs(batch, self.label_nc, self.keep_label_0, self.device)
        self.image, self.label, self.mask, self.segmap = scene.image, scene.label, scene.mask, scene.segmap
        bg = batch.get('bg_mask')
        self.bg_mask = bg.to(self.device, non_blocking=True) if bg is not None else torch.ones_like(self.mask)
        self.net_input, self.mask_bg = background_inputs(scene, self.bg_mask, as_trained=True)
        self.masked = self.net_input[:, :3]

    def forward(self, patches=True):
        with self.runtime.autocast():
            self.fake = self.wrap('netG_BG')(self.net_input, self.segmap, self.mask_bg, self.bg_mask)
            self.composite = self.fake * self.mask_bg + self.image * (1 - self.mask_bg)
        if patches and self.is_train:
            sides, out = patch_geometry(*self.image.shape[-2:])
            (real, fake, seg), self.patch_windows = boundary_patches(
                [self.image, self.composite, self.segmap], self.mask_bg, self.patch_rng, self.opt.patch_num,
                sides, out, symmetric=self.opt.symmetric_boundary)
            self.real_patches = torch.cat([real, seg], 1)
            self.fake_patches = torch.cat([fake, seg], 1)
        return self.composite

    @torch.no_grad()
    def edit(self, batch):
        """Inference: the composite, float32 (known pixels and objects from the input)."""
        self.set_input(batch)
        return self.forward(patches=False).float()

    # ---- losses -----------------------------------------------------------------------------
    def _patch_loss(self, net, patches, real, for_discriminator=True):
        """The patch discriminator's hinge loss; a batch without boundary pixels (upstream crashes)
        gives 0, still through the net, so that every DDP rank runs the same modules."""
        scores = net(patches)
        if scores.numel() == 0:
            return scores.sum()
        return self.criterion_gan(scores, real, for_discriminator)

    def compute_D_loss(self):
        o = self.opt
        # upstream order: netD_BG fake, real; netD_patch fake, real
        fake = self.criterion_gan(self.wrap('netD_BG')(self.composite.detach(), self.segmap), False) * o.lambda_gan
        real = self.criterion_gan(self.wrap('netD_BG')(self.image, self.segmap), True) * o.lambda_gan
        patch_fake = self._patch_loss(self.wrap('netD_patch'), self.fake_patches.detach(), False) * o.lambda_patch
        patch_real = self._patch_loss(self.wrap('netD_patch'), self.real_patches, True) * o.lambda_patch
        self.losses.update(D_fake_BG=fake.detach(), D_real_BG=real.detach(), D_fake_patch=patch_fake.detach(),
                           D_real_patch=patch_real.detach())
        total = fake + real + patch_fake + patch_real
        return total

    def compute_G_loss(self):
        target = self.image * self.bg_mask
        l1 = self.l1_term(self.fake, target)
        gan = self.gan_term(lambda c: self.netD_BG(c, self.segmap), self.composite)
        # through the raw (not DDP) discriminator: no D gradients to synchronise here
        patch = self._patch_loss(self.netD_patch, self.fake_patches, True, for_discriminator=False) * self.opt.lambda_patch
        self.losses.update(G_GAN_patch=patch.detach(), patches=torch.tensor(float(len(self.patch_windows))))
        return l1 + gan + patch + self.vgg_term(self.fake, target)

    # ---- visuals ----------------------------------------------------------------------------
    def get_current_visuals(self):
        v = {'input': self.image, 'masked_input': self.masked, 'label': self.label, 'background': self.bg_mask}
        if hasattr(self, 'composite'):
            v.update(raw_output=self.fake.detach().float(), output=self.composite.detach().float())
        return v

