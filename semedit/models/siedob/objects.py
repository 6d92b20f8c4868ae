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

from semedit.data.siedob_constants import OBJECT_CLASSES
from semedit.models.base_model import GANModel, add_gan_loss_options, width_arch
from semedit.models.networks.discriminators import SNPatchDiscriminator
from semedit.models.networks.losses import HingeGANLoss
from semedit.models.networks.siedob_objects import ObjectInpaintingGenerator, ObjectStyleGenerator
from semedit.models.siedob import set_stage_defaults
from semedit.models.siedob.parts import missing_part_hint
from semedit.util.sizes import SizeRule


def add_object_edit_options(parser, reference):
    """test.py's flags for editing one object crop (with --image_path, --mask_path, --output_path)."""
    g = parser.add_argument_group('editing one object crop')
    g.add_argument('--inst_mask_path', default=None, help='the object\'s instance mask (white = the object)')
    g.add_argument('--object_class', choices=list(OBJECT_CLASSES), default=None, help='the object\'s class')
    if reference:
        g.add_argument('--ref_image_path', default=None,
                       help='a reference object crop whose style the object takes (default: its own)')
        g.add_argument('--ref_inst_mask_path', default=None, help='the reference\'s instance mask')


class ObjectStage(GANModel):
    """What SIEDOB's two object stages share: one generator ``netG`` on batches of 64×64 object crops
    (image X, instance mask K, class map C), one patch discriminator, PyTorch's default
    initialisation, and test.py editing one crop at a time."""
    model_name = 'siedob'
    edits = 'object'
    inference_nets = ('netG',)
    generator_names = ('netG',)
    arch_options = ('ngf', 'ndf', 'color_order')
    # no label_nc: the nets see a 3-channel class map, whatever the scene's labels
    arch_from_opt = staticmethod(width_arch)
    #: the generator's class, its discriminator's input channels, and the network's name in messages
    generator_class, discriminator_nc, network = None, 0, ''

    @property
    def missing_net_hint(self):
        return missing_part_hint(self.stage)

    def __init__(self, opt, device, arch=None, vgg_features=None):
        super().__init__(opt, device, arch)
        a = self.arch()
        self.label_nc, self.color_order = opt.label_nc, a['color_order']
        self.netG = self.generator_class(a['ngf'])
        self.net_names = ('netG',)
        if not self.is_train:
            return
        d_name, = self.discriminator_names
        setattr(self, d_name, SNPatchDiscriminator(self.discriminator_nc, 6, a['ndf'], pad_type='zero',
                                                   sparse_labels=False))
        self.net_names = ('netG', d_name)
        self.criterion_gan = HingeGANLoss()
        self.vgg = self.make_vgg_loss(vgg_features)

    def set_input(self, batch):
        """batch: image X N×3×64×64, inst_mask K N×1×64×64, class_map C N×3×64×64 (and the stage's own)."""
        self.image, self.inst_mask, self.class_map = self.on_device(batch, 'image', 'inst_mask', 'class_map')
        self.check_size(self.image, f'the {self.network}', 'crops')
        self.target = self.image * self.inst_mask


class SIEDOBObjectInpaintingModel(ObjectStage):
    stage = 'object_inpainting'
    dataset_items = 'siedob_objects'
    discriminator_names = ('netD_inp',)
    # four stride-2 encoders; the six-layer discriminator needs 64 pixels for one score
    size_rule = SizeRule(16, 64, 'object crops of at least 64×64')
    graph_inputs = ('visible', 'inst_mask', 'mask', 'class_map', 'target')
    generator_class, discriminator_nc, network = ObjectInpaintingGenerator, 3 + 1 + 3, 'object-inpainting network'

    @staticmethod
    def modify_commandline_options(parser, is_train):
        g = parser.add_argument_group('siedob object inpainting stage')
        add_gan_loss_options(g, is_train, lambda_l1=10.0)  # upstream: λ_L1 10, λ_GAN 1, λ_VGG 10, ndf 64
        if not is_train:
            add_object_edit_options(parser, reference=False)
        set_stage_defaults(parser, is_train, batch_size=90, ngf=64)  # upstream instance_inpainting/
        return parser

    def set_input(self, batch):
        """batch: X, K, C and the hole M N×1×64×64 (restricted to the object here)."""
        super().set_input(batch)
        self.mask = self.on_device(batch, 'mask')[0] * self.inst_mask
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
        return self.hinge_D(self._discriminate, self.composite, self.target)

    def compute_G_loss(self):
        l1 = self.l1_term(self.fake, self.target)
        gan = self.gan_term(lambda x: self._discriminate(x, self.netD_inp), self.composite)
        return l1 + gan + self.vgg_term(self.fake, self.target)

    def get_current_visuals(self):
        v = {'crop': self.image, 'masked_input': self.visible, 'hole': self.mask}
        if hasattr(self, 'composite'):
            v.update(raw_output=self.fake.detach().float(), output=self.composite.detach().float())
        return v


class SIEDOBObjectStyleModel(ObjectStage):
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
    stage = 'object_style'
    dataset_items = 'siedob_objects_ref'
    discriminator_names = ('netD_style',)
    size_rule = SizeRule(8, 64, 'object crops of at least 64×64')
    graph_inputs = ('target', 'inst_mask', 'class_map', 'ref', 'ref_class_map')
    generator_class, discriminator_nc, network = ObjectStyleGenerator, 3 + 3, 'object-style network'

    @staticmethod
    def modify_commandline_options(parser, is_train):
        g = parser.add_argument_group('siedob object style stage')
        add_gan_loss_options(g, is_train, lambda_l1=10.0)  # upstream: λ_L1 10, λ_GAN 1, λ_VGG 10, ndf 64
        if is_train:
            g.add_argument('--lambda_cycle', type=float, default=1.0,
                           help='weight of the style-cycle (cosine) loss (upstream: 1; its lambda_style 100 is unused)')
        else:
            add_object_edit_options(parser, reference=True)
        set_stage_defaults(parser, is_train, batch_size=50, ngf=32)  # upstream instance_style/
        return parser

    def set_input(self, batch):
        """batch: X, K, C, and the reference's ref_image, ref_inst_mask, ref_class_map (a reference
        is the target itself when absent: its own style)."""
        super().set_input(batch)
        if batch.get('ref_image') is None:
            self.ref, self.ref_class_map = self.target, self.class_map
        else:
            ref, ref_mask, self.ref_class_map = self.on_device(batch, 'ref_image', 'ref_inst_mask', 'ref_class_map')
            self.ref = ref * ref_mask

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
        return self.hinge_D(self._discriminate, self.fakes, self.target.repeat(2, 1, 1, 1))

    def compute_G_loss(self):
        l1 = self.l1_term(self.rec, self.target)
        gan = self.gan_term(lambda x: self._discriminate(x, self.netD_style), self.fakes)
        cycle = style_cycle_loss(self.codes, self.cycles) * self.opt.lambda_cycle
        self.losses['G_cycle'] = cycle.detach()
        total = l1 + gan + cycle
        if self.vgg is not None:  # both passes against the object itself (concatenated only when needed)
            total = total + self.vgg_term(torch.cat([self.rec, self.sty]), self.target.repeat(2, 1, 1, 1))
        return total

    def get_current_visuals(self):
        v = {'object': self.target, 'reference': self.ref, 'class_map': self.class_map}
        if hasattr(self, 'sty'):
            v.update(reconstruction=self.rec.detach().float(), reference_style=self.sty.detach().float())
        return v


def style_cycle_loss(codes, cycles):
    """mean over rows of 1 − cos(code, cycle code) (upstream ``Inner_Loss``, flattened so that a
    single row works: upstream's squeeze fails there)."""
    a = F.normalize(codes.flatten(1), dim=1, eps=1e-12)
    b = F.normalize(cycles.flatten(1), dim=1, eps=1e-12)
    return (1 - (a * b).sum(1)).mean()
