"""A template for a new model (pytorch-CycleGAN-and-pix2pix's ``template_model.py``): copy this
file to ``models/<name>_model.py``, rename the class ``<Name>Model``, and replace the nets and the
losses. Nothing else in the code needs to change: train.py, test.py, the checkpoints, the
visualiser and the evaluation ask the model what they need (the class attributes below).

It is a working model, small enough for a CPU and tested (tests/common/test_template_model.py):

    python train.py --model template --dataset_name demo --name template --max_iters 50
    python test.py --name template --image_path IMG --segmap_path SEG --mask_path MASK --output_path out.png

The generator sees the masked image, the labels (one-hot · M) and the mask and repaints the hole;
a patch discriminator judges the composite; L1 + hinge GAN. See docs/overview.md, "Adding a model".
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from semedit.models.base_model import GANModel
from semedit.models.networks.blocks import Conv2dBlock
from semedit.models.networks.discriminators import SNPatchDiscriminator
from semedit.models.networks.init import init_weights
from semedit.models.networks.losses import HingeGANLoss
from semedit.util.sizes import SizeRule
from semedit.util.tensors import one_hot


class TemplateModel(GANModel):
    model_name = 'template'
    inference_nets = ('netG',)                    # what test.py loads
    generator_names = ('netG',)                   # optimizer_G, stepped after ...
    discriminator_names = ('netD',)               # ... optimizer_D (GANModel's iteration)
    arch_options = ('label_nc', 'ngf', 'color_order')  # stored in the checkpoint, fixed on resume
    size_rule = SizeRule(16, 64, 'four stride-2 discriminator layers')
    graph_inputs = ('image', 'mask', 'segmap', 'net_input')  # what a training step reads (--cuda_graph)

    @staticmethod
    def modify_commandline_options(parser, is_train):
        g = parser.add_argument_group('template')
        if is_train:
            g.add_argument('--lambda_l1', type=float, default=10.0, help='weight of the L1 loss')
        parser.set_defaults(ngf=16)  # a model sets its own defaults
        return parser

    @staticmethod
    def arch_from_opt(opt):  # test.py overrides it with the checkpoint's architecture (arch)
        return {'label_nc': opt.label_nc, 'ngf': opt.ngf, 'color_order': opt.color_order}

    def __init__(self, opt, device, arch=None):
        super().__init__(opt, device, arch)
        a = self.arch()
        self.label_nc, self.color_order = a['label_nc'], a['color_order']
        ngf, in_nc = a['ngf'], 3 + a['label_nc'] + 1
        self.netG = nn.Sequential(
            Conv2dBlock(in_nc, ngf, 3, 1, 1, activation='relu', pad_type='replicate'),
            Conv2dBlock(ngf, ngf, 3, 1, 1, norm='in', activation='relu', pad_type='replicate'),
            Conv2dBlock(ngf, 3, 3, 1, 1, activation='tanh', pad_type='replicate'))
        init_weights(self.netG, getattr(opt, 'init_type', 'gaussian'))
        self.net_names = ('netG',)
        if self.is_train:
            self.netD = init_weights(SNPatchDiscriminator(a['label_nc'] + 3, 4, ndf=ngf), opt.init_type)
            self.net_names = ('netG', 'netD')
            self.criterion_gan = HingeGANLoss()

    def set_input(self, batch):
        dev = self.device
        self.image = batch['image'].to(dev)
        self.label = batch['label'].to(dev)
        self.mask = batch['mask'].to(dev)
        self.segmap = one_hot(self.label, self.label_nc, source=f'label map of {batch.get("path", "the batch")}') \
            * self.mask
        self.net_input = torch.cat([self.image * (1 - self.mask), self.segmap, self.mask], dim=1)

    def forward(self):
        with self.runtime.autocast():
            self.fake = self.wrap('netG')(self.net_input)
            self.composite = self.mask * self.fake + (1 - self.mask) * self.image
        return self.composite

    @torch.no_grad()
    def edit(self, batch):
        """Inference: the edited image, float32, known pixels from the input."""
        self.set_input(batch)
        return self.forward().float()

    def compute_D_loss(self):
        l_fake = self.criterion_gan(self.wrap('netD')(self.composite.detach(), self.segmap), False)
        l_real = self.criterion_gan(self.wrap('netD')(self.image, self.segmap), True)
        self.losses.update(D_fake=l_fake.detach(), D_real=l_real.detach())  # their sum: D (GANModel)
        return l_fake + l_real

    def compute_G_loss(self):
        # through the raw (not DDP-wrapped) D: no D gradients to synchronise here
        gan = self.criterion_gan(self.netD(self.composite, self.segmap), True, for_discriminator=False)
        l1 = F.l1_loss(self.fake, self.image) * self.opt.lambda_l1
        self.losses.update(G_GAN=gan.detach(), G_L1=l1.detach())  # their sum: G
        return gan + l1

    def get_current_visuals(self):
        v = {'input': self.image, 'label': self.label}
        if hasattr(self, 'composite'):
            v['output'] = self.composite.detach().float()
        return v
