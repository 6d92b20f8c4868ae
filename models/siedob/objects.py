"""SIEDOB's object stages (the paper's object branch; upstream ``instance_inpainting/trainer.py``
and ``instance_style/trainer.py``):
networks on 64×64 crops of one object, K its instance mask, M the hole restricted to it, C the
class map, X the crop, X_o = X·K the object alone.

Object inpainting (``--stage object_inpainting``) completes a partly edited object::

    out = G(X·(1−M)·K, K, M, C)           comp = out·M + X·(1−M)·K
    D:  hinge(D([comp, M, C]), fake) + hinge(D([X_o, M, C]), real)
    G:  10·|out − X_o|₁ + GAN(D([comp, M, C])) + 10·VGG(out, X_o)

(L1 and VGG on the raw output over the whole crop: its surroundings are reconstructed as 0, grey).
Adam 2e-4 (0.5, 0.999) for both nets, batch 90 upstream; the nets keep PyTorch's default
initialisation, as the authors' object trainers (no N(0, 0.02)). The object-style stage
(``SIEDOBObjectStyleModel``, below) draws a wholly edited object in a reference's style.
"""
import torch
import torch.nn.functional as F

from models.base_model import GANModel, add_gan_loss_options, width_arch
from models.networks.discriminators import SNPatchDiscriminator
from models.networks.losses import HingeGANLoss
from models.networks.siedob_objects import ObjectInpaintingGenerator, ObjectStyleGenerator
from util.errors import UserError
from util.sizes import SizeRule


def add_object_edit_options(parser, reference):
    """test.py's flags for editing one object crop (with --image_path, --mask_path, --output_path)."""
    g = parser.add_argument_group('editing one object crop')
    g.add_argument('--inst_mask_path', default=None, help='the object\'s instance mask (white = the object)')
    g.add_argument('--object_class', choices=['car', 'person'], default=None, help='the object\'s class')
    if reference:
        g.add_argument('--ref_image_path', default=None,
                       help='a reference object crop whose style the object takes (default: its own)')
        g.add_argument('--ref_inst_mask_path', default=None, help='the reference\'s instance mask')


class SIEDOBObjectInpaintingModel(GANModel):
    model_name = 'siedob'
    stage = 'object_inpainting'
    dataset_items = 'siedob_objects'
    edits = 'object'
    inference_nets = ('netG',)
    generator_names = ('netG',)
    discriminator_names = ('netD_inp',)
    arch_options = ('ngf', 'ndf', 'color_order')
    # four stride-2 encoders; the six-layer discriminator needs 64 pixels for one score
    size_rule = SizeRule(16, 64, 'object crops of at least 64×64')
    missing_net_hint = ('give the object-inpainting stage\'s latest.pth written by train.py --model siedob --stage '
                        'object_inpainting, or the authors\' object_inpainting.pth')
    graph_inputs = ('visible', 'inst_mask', 'mask', 'class_map', 'target')

    @staticmethod
    def modify_commandline_options(parser, is_train):
        g = parser.add_argument_group('siedob object inpainting stage')
        add_gan_loss_options(g, is_train, lambda_l1=10.0)  # upstream: λ_L1 10, λ_GAN 1, λ_VGG 10, ndf 64
        if not is_train:
            add_object_edit_options(parser, reference=False)
        # upstream instance_inpainting: Adam 2e-4 for G and D, ngf 64 (hard-coded)
        parser.set_defaults(lr=2e-4, D_lr_mult=1.0, ngf=64)
        return parser

    def __init__(self, opt, device, arch=None, vgg_features=None):
        super().__init__(opt, device)
        # no label_nc: the nets see a 3-channel class map, whatever the scene's labels
        self._arch = a = width_arch(opt, arch)
        self.label_nc, self.color_order = opt.label_nc, a['color_order']
        self.netG = ObjectInpaintingGenerator(a['ngf'])
        self.net_names = ('netG',)
        if not self.is_train:
            return
        self.netD_inp = SNPatchDiscriminator(3 + 1 + 3, 6, a['ndf'], pad_type='zero', sparse_labels=False)
        self.net_names = ('netG', 'netD_inp')
        self.criterion_gan = HingeGANLoss()
        self.vgg = self.make_vgg_loss(vgg_features)

    def set_input(self, batch):
        """batch: image X N×3×64×64, inst_mask K and mask M (already ·K) N×1×64×64, class_map C N×3×64×64."""
        dev = self.device
        self.image = batch['image'].to(dev, non_blocking=True)
        self.inst_mask = batch['inst_mask'].to(dev, non_blocking=True)
        self.mask = batch['mask'].to(dev, non_blocking=True) * self.inst_mask
        self.class_map = batch['class_map'].to(dev, non_blocking=True)
        h, w = self.image.shape[-2:]
        if not self.size_rule.accepts(h, w):
            raise UserError(f'the object-inpainting network cannot run on {w}×{h} crops: {self.size_rule.describe()}')
        self.target = self.image * self.inst_mask
        self.visible = self.target * (1 - self.mask)

    def forward(self):
        with self.runtime.autocast():
            self.fake = self.wrap('netG')(self.visible, self.inst_mask, self.mask, self.class_map)
            self.composite = self.fake * self.mask + self.visible * (1 - self.mask)
        return self.composite

    @torch.no_grad()
    def edit(self, batch):
        """The completed object (known object pixels kept, surroundings 0), float32."""
        self.set_input(batch)
        return self.forward().float()

    def _discriminate(self, image, net=None):
        return (net or self.wrap('netD_inp'))(torch.cat([image, self.mask, self.class_map], 1))

    def compute_D_loss(self):
        fake = self.criterion_gan(self._discriminate(self.composite.detach()), False) * self.opt.lambda_gan
        real = self.criterion_gan(self._discriminate(self.target), True) * self.opt.lambda_gan
        self.losses.update(D_fake=fake.detach(), D_real=real.detach(), D=(fake + real).detach())
        return fake + real

    def compute_G_loss(self):
        o = self.opt
        l1 = F.l1_loss(self.fake, self.target) * o.lambda_l1
        # through the raw (not DDP) discriminator: no D gradients to synchronise here
        gan = self.criterion_gan(self._discriminate(self.composite, self.netD_inp), True,
                                 for_discriminator=False) * o.lambda_gan
        total = l1 + gan
        self.losses.update(G_L1=l1.detach(), G_GAN=gan.detach())
        total = total + self.vgg_term(self.fake, self.target)
        self.losses['G'] = total.detach()
        return total

    def get_current_visuals(self):
        v = {'crop': self.image, 'masked_input': self.visible, 'hole': self.mask}
        if hasattr(self, 'composite'):
            v['raw_output'] = self.fake.detach().float()
            v['output'] = self.composite.detach().float()
        return v


class SIEDOBObjectStyleModel(GANModel):
    """The style-diversity object generator (``--stage object_style``; upstream
    ``instance_style/trainer.py``): draws a whole object from its class map C in the style of a
    reference. Two passes per iteration, the object's own style (a reconstruction) and a reference
    of its class::

        rec, s_rec, c_rec = G(C, X_o, C, K)                  sty, s_sty, c_sty = G(C, X_ref·K_ref, C_ref, K)
        D:  hinge(D([rec·K ; sty·K], [C ; C]), fake) + hinge(D([X_o ; X_o], [C ; C]), real)
        G:  10·|rec − X_o|₁ + GAN + 10·VGG([rec ; sty], [X_o ; X_o]) + mean(1 − cos([s_rec ; s_sty], [c_rec ; c_sty]))

    (the VGG term pulls the reference-guided output towards the target's own look too, as upstream;
    the cycle term's weight is 1: upstream's lambda_style 100 is unused). Adam 2e-4, batch 50
    upstream, PyTorch's default initialisation."""
    model_name = 'siedob'
    stage = 'object_style'
    dataset_items = 'siedob_objects_ref'
    edits = 'object'
    inference_nets = ('netG',)
    generator_names = ('netG',)
    discriminator_names = ('netD_style',)
    arch_options = ('ngf', 'ndf', 'color_order')
    size_rule = SizeRule(8, 64, 'object crops of at least 64×64')
    missing_net_hint = ('give the object-style stage\'s latest.pth written by train.py --model siedob --stage '
                        'object_style, or the authors\' object_style.pth')
    graph_inputs = ('target', 'inst_mask', 'class_map', 'ref', 'ref_class_map')

    @staticmethod
    def modify_commandline_options(parser, is_train):
        g = parser.add_argument_group('siedob object style stage')
        add_gan_loss_options(g, is_train, lambda_l1=10.0)  # upstream: λ_L1 10, λ_GAN 1, λ_VGG 10, ndf 64
        if is_train:
            g.add_argument('--lambda_cycle', type=float, default=1.0,
                           help='weight of the style-cycle (cosine) loss (upstream: 1; its lambda_style 100 is unused)')
        else:
            add_object_edit_options(parser, reference=True)
        parser.set_defaults(lr=2e-4, D_lr_mult=1.0, ngf=32)  # upstream instance_style: ngf 32 (hard-coded)
        return parser

    def __init__(self, opt, device, arch=None, vgg_features=None):
        super().__init__(opt, device)
        self._arch = a = width_arch(opt, arch)
        self.label_nc, self.color_order = opt.label_nc, a['color_order']
        self.netG = ObjectStyleGenerator(a['ngf'])
        self.net_names = ('netG',)
        if not self.is_train:
            return
        self.netD_style = SNPatchDiscriminator(3 + 3, 6, a['ndf'], pad_type='zero', sparse_labels=False)
        self.net_names = ('netG', 'netD_style')
        self.criterion_gan = HingeGANLoss()
        self.vgg = self.make_vgg_loss(vgg_features)

    def set_input(self, batch):
        """batch: image X, inst_mask K, class_map C, and the reference's ref_image, ref_inst_mask,
        ref_class_map (a reference is the target itself when absent: its own style)."""
        dev = self.device
        self.image = batch['image'].to(dev, non_blocking=True)
        self.inst_mask = batch['inst_mask'].to(dev, non_blocking=True)
        self.class_map = batch['class_map'].to(dev, non_blocking=True)
        h, w = self.image.shape[-2:]
        if not self.size_rule.accepts(h, w):
            raise UserError(f'the object-style network cannot run on {w}×{h} crops: {self.size_rule.describe()}')
        self.target = self.image * self.inst_mask
        ref = batch.get('ref_image')
        if ref is None:
            self.ref, self.ref_class_map = self.target, self.class_map
        else:
            self.ref = ref.to(dev, non_blocking=True) * batch['ref_inst_mask'].to(dev, non_blocking=True)
            self.ref_class_map = batch['ref_class_map'].to(dev, non_blocking=True)

    def forward(self):
        g = self.wrap('netG')
        with self.runtime.autocast():
            self.rec, s_rec, c_rec = g(self.class_map, self.target, self.class_map, self.inst_mask)
            self.sty, s_sty, c_sty = g(self.class_map, self.ref, self.ref_class_map, self.inst_mask)
        self.codes, self.cycles = torch.cat([s_rec, s_sty]), torch.cat([c_rec, c_sty])
        self.fakes = torch.cat([self.rec, self.sty]) * self.inst_mask.repeat(2, 1, 1, 1)
        return self.sty

    @torch.no_grad()
    def edit(self, batch):
        """The object drawn in the reference's style (the raw 64×64 output, as the fusion stage pastes
        it), float32."""
        self.set_input(batch)
        with self.runtime.autocast():
            return self.netG(self.class_map, self.ref, self.ref_class_map, self.inst_mask)[0].float()

    def _discriminate(self, images, net=None):
        return (net or self.wrap('netD_style'))(torch.cat([images, self.class_map.repeat(2, 1, 1, 1)], 1))

    def compute_D_loss(self):
        fake = self.criterion_gan(self._discriminate(self.fakes.detach()), False) * self.opt.lambda_gan
        real = self.criterion_gan(self._discriminate(self.target.repeat(2, 1, 1, 1)), True) * self.opt.lambda_gan
        self.losses.update(D_fake=fake.detach(), D_real=real.detach(), D=(fake + real).detach())
        return fake + real

    def compute_G_loss(self):
        o = self.opt
        l1 = F.l1_loss(self.rec, self.target) * o.lambda_l1
        gan = self.criterion_gan(self._discriminate(self.fakes, self.netD_style), True,
                                 for_discriminator=False) * o.lambda_gan
        cycle = style_cycle_loss(self.codes, self.cycles) * o.lambda_cycle
        total = l1 + gan + cycle
        self.losses.update(G_L1=l1.detach(), G_GAN=gan.detach(), G_cycle=cycle.detach())
        if self.vgg is not None:  # both passes against the object itself (concatenated only when needed)
            total = total + self.vgg_term(torch.cat([self.rec, self.sty]), self.target.repeat(2, 1, 1, 1))
        self.losses['G'] = total.detach()
        return total

    def get_current_visuals(self):
        v = {'object': self.target, 'reference': self.ref, 'class_map': self.class_map}
        if hasattr(self, 'sty'):
            v['reconstruction'] = self.rec.detach().float()
            v['reference_style'] = self.sty.detach().float()
        return v


def style_cycle_loss(codes, cycles):
    """mean over rows of 1 − cos(code, cycle code) (upstream ``Inner_Loss``, flattened so that a
    single row works: upstream's squeeze fails there)."""
    a = F.normalize(codes.flatten(1), dim=1, eps=1e-12)
    b = F.normalize(cycles.flatten(1), dim=1, eps=1e-12)
    return (1 - (a * b).sum(1)).mean()
