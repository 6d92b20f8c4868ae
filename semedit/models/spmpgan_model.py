"""SPM-PGAN (ECCV 2022): progressive generator of SPM blocks, three SN patch discriminators,
L1 + hinge GAN + VGG losses per scale (upstream ``trainer.py``)."""
import torch
import torch.nn.functional as F

from semedit.models import legacy
from semedit.models.base_model import GANModel, add_gan_loss_options
from semedit.models.networks.discriminators import SNPatchDiscriminator
from semedit.models.networks.init import init_weights
from semedit.models.networks.losses import HingeGANLoss
from semedit.models.networks.spmpgan import ProgressiveGenerator, input_sizes
from semedit.models.runtime import add_forward_options
from semedit.util.errors import UserError
from semedit.util.sizes import SizeRule
from semedit.util.tensors import edge_map, one_hot

D_LAYERS = (4, 5, 6)  # netD_1 sees S/4, netD_2 S/2, netD_3 S (upstream trainer.py)


class SPMPGANModel(GANModel):
    model_name = 'spmpgan'
    inference_nets = ('netG',)
    generator_names = ('netG',)
    discriminator_names = ('netD_1', 'netD_2', 'netD_3')
    arch_options = ('label_nc', 'ngf', 'ndf', 'color_order')
    size_rule = SizeRule(*input_sizes(), 'three stages at S/4, S/2, S, each down to 2×2 through stride-2 encoders')
    missing_net_hint = legacy.SPMPGAN_GIVE_GENERATOR
    graph_inputs = ('image', 'masked', 'seg_edge', 'mask', 'segmap')  # what the training step reads

    @staticmethod
    def modify_commandline_options(parser, is_train):
        g = parser.add_argument_group('spmpgan')
        add_forward_options(g, label_map_convs="the convs that read the label map (the SPM blocks' semantic "
                                               "branches, the discriminators' first layer)")
        add_gan_loss_options(g, is_train)  # upstream: ndf 64, λ_L1 1, λ_GAN 1, λ_VGG 10 at every scale
        return parser

    @staticmethod
    def arch_from_opt(opt):
        return {'label_nc': opt.label_nc, 'ngf': opt.ngf, 'hidden': 2 * opt.ngf,
                'ndf': getattr(opt, 'ndf', 64), 'color_order': opt.color_order, 'spectral_norm': True}

    def __init__(self, opt, device, arch=None, vgg_features=None):
        super().__init__(opt, device, arch)
        a = self.arch()
        self.label_nc = a['label_nc']
        self.color_order = a['color_order']
        self.netG = ProgressiveGenerator(a['label_nc'], a['ngf'], a['hidden'], a.get('spectral_norm', True))
        if self.is_train and not a.get('spectral_norm', True):
            raise UserError('this checkpoint has its spectral norm folded for deployment; it can be used by '
                            'test.py but not trained further (use the unfolded file)')
        init_weights(self.netG, getattr(opt, 'init_type', 'gaussian'))
        self.net_names = ('netG',)
        if not self.is_train:
            return
        d_in = a['label_nc'] + 3  # one-hot·M then the image
        for k, layers in enumerate(D_LAYERS, start=1):
            setattr(self, f'netD_{k}', init_weights(SNPatchDiscriminator(d_in, layers, a['ndf']), opt.init_type))
        self.net_names = ('netG',) + self.discriminator_names
        self.criterion_gan = HingeGANLoss()
        self.vgg = self.make_vgg_loss(vgg_features)

    # ---- inputs ---------------------------------------------------------------------------
    def set_input(self, batch):
        """batch: image N×3×H×W in [-1,1] (network colour order), label N×1×H×W ids, mask N×1×H×W
        (1 = edit), optional instance N×1×H×W. Builds the tensors upstream's trainer feeds the nets."""
        self.image, self.label, self.mask = self.on_device(batch, 'image', 'label', 'mask')
        self.check_size(self.image, 'SPM-PGAN')
        # Edges from the instance map when there is one (training), else from the labels (upstream test.py).
        edge_source = self.on_device(batch, 'instance')[0] if batch.get('instance') is not None else self.label
        seg = one_hot(self.label, self.label_nc, source=f'label map of {batch.get("path", "the batch")}')
        self.segmap = seg * self.mask
        self.edge = edge_map(edge_source) * self.mask
        self.seg_edge = torch.cat([self.segmap, self.edge], dim=1)
        self.masked = self.image * (1 - self.mask)
        if self.runtime.channels_last:
            for name in ('image', 'mask', 'seg_edge', 'masked', 'segmap'):
                setattr(self, name, self.runtime.to_memory_format(getattr(self, name)))

    def forward(self):
        with self.runtime.autocast():
            self.out = self.wrap('netG')(self.image, self.masked, self.seg_edge, self.mask)
        return self.out['composite'][-1]

    @torch.no_grad()
    def edit(self, batch):
        """Inference: the edited image (composite at full resolution), float32."""
        self.set_input(batch)
        inputs = self.image, self.masked, self.seg_edge, self.mask
        # not while training: the graph would keep the weights derived at capture (W/σ, fused constants)
        if self.runtime.cuda_graph and not self.is_train:
            if getattr(self, '_graphed_edit', None) is None:
                from semedit.util.cuda_graph import GraphedForward
                self._graphed_edit = GraphedForward(self._edit_forward)
            return self._graphed_edit(*inputs)
        return self._edit_forward(*inputs)

    def _edit_forward(self, *inputs):
        with self.runtime.autocast():
            return self.netG(*inputs, final_only=True)['composite'][-1].float()

    # ---- losses -----------------------------------------------------------------------------
    def _segmaps(self):
        """one-hot·M nearest-resized to each D's resolution (upstream segmap_G1..G3)."""
        return [F.interpolate(self.segmap, size=g.shape[-2:], mode='nearest')
                if g.shape[-2:] != self.segmap.shape[-2:] else self.segmap for g in self.out['gt']]

    def _discriminate(self, k, segmap, img, distributed=True):
        name = f'netD_{k + 1}'
        net = self.wrap(name) if distributed else getattr(self, name)
        return net(img, segmap)  # upstream input cat([segmap, img]); D windows the segmap part

    def compute_D_loss(self):
        o = self.opt
        segmaps = self._segmaps()
        total = 0
        for k in range(3):
            # Upstream order per D: fake then real (matters for the SN power iteration).
            fake = self._discriminate(k, segmaps[k], self.out['composite'][k].detach())
            real = self._discriminate(k, segmaps[k], self.out['gt'][k])
            l_fake = self.criterion_gan(fake, False) * o.lambda_gan
            l_real = self.criterion_gan(real, True) * o.lambda_gan
            self.losses[f'D_fake_{k + 1}'] = l_fake.detach()
            self.losses[f'D_real_{k + 1}'] = l_real.detach()
            total = total + l_fake + l_real
        return total

    def compute_G_loss(self):
        o = self.opt
        segmaps = self._segmaps()
        total = 0
        for k in range(3):
            fake, gt = self.out['fake'][k], self.out['gt'][k]
            # GAN on the composite through the raw (not DDP) D: no D gradients are synchronised here.
            gan = self.criterion_gan(self._discriminate(k, segmaps[k], self.out['composite'][k], False),
                                     True, for_discriminator=False) * o.lambda_gan
            l1 = F.l1_loss(fake, gt) * o.lambda_l1  # raw output, whole image (as upstream's trainer)
            self.losses[f'G_GAN_{k + 1}'] = gan.detach()
            self.losses[f'G_L1_{k + 1}'] = l1.detach()
            total = total + gan + l1
            total = total + self.vgg_term(fake, gt, f'G_VGG_{k + 1}')
        return total

    # ---- visuals ----------------------------------------------------------------------------
    def get_current_visuals(self):
        """Tensors N×C×H×W for the image grid; the visualiser colours labels and fixes channel order."""
        size = self.image.shape[-2:]
        v = {'input': self.image, 'masked_input': self.masked, 'label': self.label}
        if hasattr(self, 'out'):
            for k, c in enumerate(self.out['composite'], start=1):
                c = c.detach().float()  # autocast may have left it in half precision
                v[f'stage{k}'] = F.interpolate(c, size=size, mode='nearest') if k < 3 else c
        return v
