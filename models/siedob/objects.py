"""SIEDOB's object stages (the paper's object branch; upstream ``instance_inpainting/trainer.py``):
networks on 64×64 crops of one object, K its instance mask, M the hole restricted to it, C the
class map, X the crop, X_o = X·K the object alone.

Object inpainting (``--stage object_inpainting``) completes a partly edited object::

    out = G(X·(1−M)·K, K, M, C)           comp = out·M + X·(1−M)·K
    D:  hinge(D([comp, M, C]), fake) + hinge(D([X_o, M, C]), real)
    G:  10·|out − X_o|₁ + GAN(D([comp, M, C])) + 10·VGG(out, X_o)

(L1 and VGG on the raw output over the whole crop: its surroundings are reconstructed as 0, grey).
Adam 2e-4 (0.5, 0.999) for both nets, batch 90 upstream; the nets keep PyTorch's default
initialisation, as the authors' object trainers (no N(0, 0.02)).
"""
import torch
import torch.nn.functional as F

from models.base_model import GANModel, add_gan_loss_options
from models.networks.discriminators import SNPatchDiscriminator
from models.networks.losses import HingeGANLoss, VGGLoss, build_vgg19_features
from models.networks.siedob_objects import ObjectInpaintingGenerator
from util.errors import UserError
from util.sizes import SizeRule


class SIEDOBObjectInpaintingModel(GANModel):
    model_name = 'siedob'
    stage = 'object_inpainting'
    dataset_items = 'siedob_objects'
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
        # upstream instance_inpainting: Adam 2e-4 for G and D, ngf 64 (hard-coded)
        parser.set_defaults(lr=2e-4, D_lr_mult=1.0, ngf=64)
        return parser

    def __init__(self, opt, device, arch=None, vgg_features=None):
        super().__init__(opt, device)
        a = {'ngf': opt.ngf, 'ndf': getattr(opt, 'ndf', 64), 'color_order': opt.color_order}
        a.update(arch or {})
        self._arch = a  # no label_nc: the nets see a 3-channel class map, whatever the scene's labels
        self.label_nc, self.color_order = opt.label_nc, a['color_order']
        self.netG = ObjectInpaintingGenerator(a['ngf'])
        self.net_names = ('netG',)
        self.vgg = None
        if not self.is_train:
            return
        self.netD_inp = SNPatchDiscriminator(3 + 1 + 3, 6, a['ndf'], pad_type='zero', sparse_labels=False)
        self.net_names = ('netG', 'netD_inp')
        self.criterion_gan = HingeGANLoss()
        if opt.lambda_vgg > 0:
            self.vgg = VGGLoss(vgg_features if vgg_features is not None else build_vgg19_features(opt.vgg_path))

    def modules_to_move(self):
        return super().modules_to_move() + ([self.vgg] if self.vgg is not None else [])

    def arch(self):
        return dict(self._arch)

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
        if self.vgg is not None:
            vgg = self.vgg(self.fake, self.target) * o.lambda_vgg
            self.losses['G_VGG'] = vgg.detach()
            total = total + vgg
        self.losses['G'] = total.detach()
        return total

    def get_current_visuals(self):
        v = {'crop': self.image, 'masked_input': self.visible, 'hole': self.mask}
        if hasattr(self, 'composite'):
            v['raw_output'] = self.fake.detach().float()
            v['output'] = self.composite.detach().float()
        return v
