"""SIEDOB's fusion stage (the paper's fusion network; upstream ``fusion/trainer.py``): the three
generation stages, trained before and frozen here, compose an edit (``composition.py``: objects
drawn and pasted, background generated, ``masked_G``); the fusion network ``netG_F`` learns to
blend them into one image, against an image-only patch discriminator ``netD_F``::

    fake_F = netG_F(masked_G, M, E)                    (= tanh(·)·M + masked_G)
    masked_F = fake_F · M + I · (1 − M)
    D:  hinge(netD_F(masked_F), fake) + hinge(netD_F(I), real)
    G:  GAN(netD_F(masked_F)) + 10 · VGG(fake_F, I)    (no L1 term: upstream leaves it commented out)

Adam 2e-4 (0.5, 0.999), constant, batch 30 upstream; N(0, 0.02) initialisation. The frozen nets
come from their stages' files (``--submodels`` or one flag each, ours or the authors'); they stay in
train mode as upstream's trainer leaves them, so the spectral norms of the background and
inpainting decoders take one power iteration per call (``--frozen_eval`` keeps them in eval mode).
"""
import os

import torch

from semedit.data.object_references import RUN_REFERENCES, add_style_dir_option, references_for
from semedit.models.base_model import GANModel, add_gan_loss_options, switch_nets, width_arch
from semedit.models.networks.discriminators import SNPatchDiscriminator
from semedit.models.networks.init import init_weights
from semedit.models.networks.losses import HingeGANLoss
from semedit.models.networks.siedob import FusionNetwork
from semedit.models.runtime import add_forward_options
from semedit.models.siedob import set_stage_defaults
from semedit.models.siedob.composition import compose, edit_scene, fuse, scene_inputs
from semedit.models.legacy import SIEDOB_FILES
from semedit.models.siedob.parts import GENERATION_STAGES, load_parts, missing_part_hint, part_nets
from semedit.util.checkpoint import make_checkpoint, save_checkpoint
from semedit.util.errors import UserError
from semedit.util.sizes import SizeRule

#: the size rule of the whole editor: the background generator's (the fusion network's is laxer)
SIEDOB_SIZE_RULE = SizeRule(16, 32, 'four stride-2 encoder layers in the background generator')


def add_composition_options(g):
    """Upstream quirks of the generation stage, with their fixes (training and editing)."""
    g.add_argument('--bg_inputs', choices=['upstream', 'as_trained'], default='upstream',
                   help='upstream: the background generator gets the masked image and the full edit mask, as '
                        'upstream\'s fusion stage and editor call it; as_trained: the inputs it was trained on '
                        '(masked image · Bg and the mask · Bg)')


def add_editor_options(parser):
    """test.py's flags for SIEDOB's end-to-end edit (``--model siedob``, or a fusion checkpoint)."""
    g = parser.add_argument_group('siedob editing')
    add_forward_options(g)
    add_composition_options(g)
    add_style_dir_option(g, is_train=False)


def add_submodel_options(g):
    g.add_argument('--submodels', default=None,
                   help='folder holding the three trained stages under the authors\' names: object_inpainting.pth, '
                        'object_style.pth, bg.pth (ours or the authors\'; upstream fusion/submodels/)')
    for stage in GENERATION_STAGES:
        g.add_argument(f'--{stage}_checkpoint', default=None,
                       help=f'the {stage.replace("_", "-")} stage\'s file (default: <--submodels>/{SIEDOB_FILES[stage]})')


def submodel_paths(opt):
    paths = {}
    for stage in GENERATION_STAGES:
        path = getattr(opt, f'{stage}_checkpoint', None)
        if path is None and getattr(opt, 'submodels', None):
            path = os.path.join(opt.submodels, SIEDOB_FILES[stage])
        if path is None:
            raise UserError(f'the fusion stage composes the three trained stages: give --submodels DIR (holding '
                            f'{", ".join(SIEDOB_FILES[s] for s in GENERATION_STAGES)}) or --{stage}_checkpoint FILE')
        paths[stage] = path
    return paths


class SIEDOBFusionModel(GANModel):
    model_name = 'siedob'
    stage = 'fusion'
    dataset_items = 'siedob_fusion'   # scene samples with 4 + 4 style references (data/siedob_scene.py)
    inference_nets = ('netG_F',)
    generator_names = ('netG_F',)
    discriminator_names = ('netD_F',)
    arch_options = ('ngf', 'ndf', 'color_order')
    size_rule = SIEDOB_SIZE_RULE
    missing_net_hint = missing_part_hint('fusion')
    arch_from_opt = staticmethod(width_arch)

    @staticmethod
    def modify_commandline_options(parser, is_train):
        if not is_train:  # test.py with a fusion checkpoint edits end to end (from_checkpoint)
            add_editor_options(parser)
            return parser
        g = parser.add_argument_group('siedob fusion stage')
        add_forward_options(g)
        add_gan_loss_options(g, is_train, lambda_l1=0.0)  # upstream: λ_GAN 1, λ_VGG 10, no L1
        add_composition_options(g)
        if is_train:
            add_submodel_options(g)
            g.add_argument('--frozen_eval', action='store_true',
                           help='fix: keep the frozen stages in eval mode; upstream leaves them in train mode, so '
                                'their spectral norms take a power iteration at every call (not saved)')
        set_stage_defaults(parser, is_train, batch_size=30, ngf=32)  # upstream fusion/train.py, F_stage.py
        return parser

    def __init__(self, opt, device, arch=None, vgg_features=None):
        super().__init__(opt, device, arch)
        a = self.arch()
        self.label_nc, self.color_order = opt.label_nc, a['color_order']
        self.netG_F = init_weights(FusionNetwork(a['ngf']), getattr(opt, 'init_type', 'gaussian'))
        self.net_names = ('netG_F',)
        self._references = None
        if not self.is_train:
            return
        if getattr(opt, 'cuda_graph', False):
            raise UserError('--cuda_graph cannot capture the fusion stage\'s training step: the number of objects '
                            'changes from batch to batch; drop --cuda_graph')
        self.netD_F = init_weights(SNPatchDiscriminator(3, 6, a['ndf'], pad_type='zero', sparse_labels=False),
                                   opt.init_type)
        self.net_names = ('netG_F', 'netD_F')
        self.criterion_gan = HingeGANLoss()
        self.vgg = self.make_vgg_loss(vgg_features)
        self.submodel_paths = submodel_paths(opt)
        self.parts = load_parts(opt, device, self.submodel_paths)
        bg = self.parts['background']
        if bg.label_nc != opt.label_nc:
            raise UserError(f'{self.submodel_paths["background"]} was trained with {bg.label_nc} label ids, the data '
                            f'has {opt.label_nc}: give the background stage trained on this dataset')
        if bg.color_order != a['color_order']:
            raise UserError(f'{self.submodel_paths["background"]} sees {bg.color_order.upper()} images; train the '
                            f'fusion stage with --color_order {bg.color_order}')
        for net in part_nets(self.parts).values():
            net.requires_grad_(False)

    @classmethod
    def from_checkpoint(cls, opt, device, ckpt, path, nets=None):
        """For test.py a fusion checkpoint is the end-to-end editor, with the three other parts from
        its folder (the run folder, where training copies them)."""
        from semedit import models
        editor = models.find_model_using_name('siedob')  # by name: the editor's module imports this one
        folder = os.path.dirname(os.path.abspath(path))
        return editor.from_checkpoint(opt, device, editor.read_parts(folder, path, ckpt), folder)

    # ---- the frozen stages follow the device and the mode ------------------------------------------
    def frozen_nets(self):
        return list(part_nets(self.parts).values()) if hasattr(self, 'parts') else []

    def modules_to_move(self):
        return super().modules_to_move() + self.frozen_nets()

    def set_forward(self, impl, semantic_window=None):
        super().set_forward(impl, semantic_window)
        switch_nets(self.frozen_nets(), impl, False)

    def train(self):
        super().train()
        for net in self.frozen_nets():
            net.train(not self.opt.frozen_eval)

    def eval(self):
        super().eval()
        for net in self.frozen_nets():
            net.eval()

    # ---- checkpoints: the frozen stages' spectral-norm vectors move (train mode, as upstream) ---------
    def checkpoint_state(self, *args, **kwargs):
        """Besides the fusion nets, the frozen stages' buffers: in train mode (upstream's) each call
        steps their spectral norms' u and v, so a resumed run continues from where those were (their
        weights never change, and their files keep the vectors they were trained with)."""
        ckpt = super().checkpoint_state(*args, **kwargs)
        ckpt['frozen_buffers'] = {stage: {k: v.detach().cpu().clone() for k, v in net.named_buffers()}
                                  for stage, net in part_nets(self.parts).items()}
        return ckpt

    def load_checkpoint_state(self, ckpt, path, nets=None, load_optimizers=False, restore_rng=False, assign=False):
        super().load_checkpoint_state(ckpt, path, nets, load_optimizers, restore_rng, assign)
        if load_optimizers and hasattr(self, 'parts'):  # resuming training: the frozen stages as they were
            frozen = part_nets(self.parts)
            for stage, buffers in ckpt.get('frozen_buffers', {}).items():
                for k, v in buffers.items():
                    frozen[stage].get_buffer(k).copy_(v)

    def prepare_run_folder(self, folder):
        """Copy the frozen stages' generators into the run folder under the authors' names, and the
        style references (``references/``, at most ``KEPT_PER_CLASS`` per class), so that it is a
        complete checkpoint folder for ``test.py --model siedob --checkpoints_dir`` (with latest.pth
        as the fusion network) that edits the same from any folder."""
        references_for(self.opt, self.color_order).keep(os.path.join(folder, RUN_REFERENCES))
        for stage, part in self.parts.items():
            nets = {n: {k: v.detach().cpu() for k, v in getattr(part, n).state_dict().items()}
                    for n in part.inference_nets}
            arch = {k: v for k, v in part.arch().items() if k != 'ndf'}  # no discriminator copied
            save_checkpoint(make_checkpoint('siedob', arch, nets, stage=stage,
                                            opt={'source': self.submodel_paths[stage]}),
                            os.path.join(folder, SIEDOB_FILES[stage]))

    # ---- one iteration ---------------------------------------------------------------------------------
    def set_input(self, batch):
        """batch: image, label, instance, mask (scene samples) and ``refs``: per object class the
        sample's style references, image N×4×3×64×64 and mask N×4×1×64×64 (flattened sample-major:
        object k of a class takes reference k mod 4N, as upstream)."""
        self.check_size(batch['image'], 'SIEDOB')
        bg = self.parts['background']
        self.scene = scene_inputs(batch, bg.label_nc, bg.keep_label_0, self.device)
        self.image, self.mask, self.label = self.scene.image, self.scene.mask, self.scene.label
        refs = batch['refs']
        self.refs = {int(c): (r['image'].flatten(0, 1).to(self.device), r['mask'].flatten(0, 1).to(self.device))
                     for c, r in refs.items()}

    def compose(self):
        """The frozen generation stage (no gradients; upstream's G_stage under no_grad)."""
        with torch.no_grad(), self.runtime.autocast():
            one_by_one = self.is_train and not self.opt.frozen_eval
            self.composition = compose(self.scene, part_nets(self.parts), self.refs.__getitem__,
                                       self.opt.bg_inputs, one_by_one=one_by_one)
        return self.composition.masked_G.float()

    def forward(self):
        masked_g = self.compose()
        with self.runtime.autocast():
            self.fake, self.output = fuse(self.wrap('netG_F'), self.scene, masked_g)
        return self.output

    @torch.no_grad()
    def edit(self, batch):
        """The end-to-end edit with the current fusion network, as the editor makes it from this
        run's folder (train-time FID: ``--eval_freq``); references as the editor's."""
        self.check_size(batch['image'], 'SIEDOB')
        bg = self.parts['background']
        self.scene = scene_inputs(batch, bg.label_nc, bg.keep_label_0, self.device)
        if self._references is None:  # those the run folder carries, as the editor's
            run_folder = os.path.join(self.opt.checkpoints_dir, self.opt.name)
            self._references = references_for(self.opt, self.color_order, run_folder)
        with self.runtime.autocast():
            self.composition, self.fake, self.output = edit_scene(
                self.scene, part_nets(self.parts), self.netG_F, self._references.on(self.device), self.opt.bg_inputs)
        return self.output.float()

    def compute_D_loss(self):
        return self.hinge_D(self.wrap('netD_F'), self.output, self.image)

    def compute_G_loss(self):
        gan = self.gan_term(self.netD_F, self.output)
        return gan + self.l1_term(self.fake, self.image) + self.vgg_term(self.fake, self.image)

    def get_current_visuals(self):
        v = {'input': self.image, 'label': self.label, 'masked_input': self.image * (1 - self.mask)}
        if hasattr(self, 'composition'):
            c = self.composition
            v.update(objects=c.fg_output.float(), background=c.bg_output.float(), composite=c.masked_G.float(),
                     output=self.output.detach().float())
        return v
