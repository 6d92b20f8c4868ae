"""The contract every model follows (pytorch-CycleGAN-and-pix2pix style), and ``GANModel``, the
discriminator-then-generator iteration that SPM-PGAN and SIEDOB's trainable stages share.

Life of a model: ``__init__`` builds the nets (on the CPU, initialised); ``setup()`` moves them to
the device, picks the forward implementation and the runtime options (``models/runtime.py``)
and, when training, creates the optimisers. Then ``set_input(batch)`` -> ``optimize_parameters()``
(training) or ``edit(batch)`` (inference). ``checkpoint_state`` / ``load_checkpoint_state`` move
everything a run needs in and out of one checkpoint dict (``util/checkpoint.py``).

Every hook the code around a model asks is declared on ``BaseModel`` below with its default and a
one-line docstring; a model overrides what differs. docs/overview.md, "The model contract", lists
them with who asks; "Adding a model" shows how to write one.
"""
import torch
import torch.nn.functional as F

from semedit.models.networks.implementation import DEFAULT_IMPL, FastUnavailable, set_impl
from semedit.models.networks.losses import VGGLoss, build_vgg19_features
from semedit.models.runtime import Runtime
from semedit.util import distributed as dist_util
from semedit.util.checkpoint import capture_rng_state, load_state_strict, make_checkpoint, restore_rng_state
from semedit.util.errors import UserError
from semedit.util.sizes import ANY_SIZE


class BaseModel:
    """A model: its nets, how they train and how they edit. Class attributes (what the code around
    a model reads) and hooks (what it calls) follow, each with its default."""

    #: the --model name it answers to, and the --stage of a model trained in parts (None: the whole)
    model_name = None
    stage = None
    #: a model trained in parts: --stage name -> 'module:Class' of that part (``models.find_model_using_name``)
    stages = {}
    #: nets test.py loads from a checkpoint to edit
    inference_nets = ()
    #: options that fix the architecture (besides --model and --dataset_name): a resumed run may not
    #: change them, test.py takes them from the checkpoint
    arch_options = ('label_nc',)
    #: losses shown in train.py's progress bar
    summary_losses = ()
    #: image sizes the nets accept (util/sizes.py)
    size_rule = ANY_SIZE
    #: what its samples hold: 'edit' (image, label, instance, mask) or another ``data.ITEMS`` kind
    dataset_items = 'edit'
    #: what test.py edits with it: 'scene' (image, label map, mask) or 'object' (one object's crop)
    edits = 'scene'
    #: what to give instead when a checkpoint lacks one of ``inference_nets``
    missing_net_hint = 'give a checkpoint saved from the full model by train.py'
    #: the label ids its nets read, and the colour order they see (set from ``arch()``)
    label_nc = None
    color_order = 'bgr'

    @staticmethod
    def modify_commandline_options(parser, is_train):
        """Add the model's own flags and set its defaults (``parser.set_defaults``)."""
        return parser

    @staticmethod
    def arch_from_opt(opt):
        """The architecture the options ask for; a checkpoint's ``arch`` overrides it (``arch()``)."""
        return {'label_nc': opt.label_nc, 'color_order': opt.color_order}

    @classmethod
    def read_checkpoint_folder(cls, opt):
        """(checkpoint dict, folder) for a model test.py reads from several files in one folder
        (SIEDOB's four parts); None for a model saved as one checkpoint file."""
        return None

    def __init__(self, opt, device, arch=None):
        self.opt = opt
        self.device = device
        self.is_train = opt.is_train
        self._arch = dict(self.arch_from_opt(opt), **(arch or {}))
        self.losses = {}
        #: names of the nn.Module attributes saved in checkpoints, and of the optimisers
        self.net_names = ()
        self.optimizer_names = ()
        self.runtime = None
        self._ddp = {}

    # ---- setup ------------------------------------------------------------------------------
    def setup(self):
        """Device, forward implementation, runtime options, optimisers (training); returns self."""
        for module in self.modules_to_move():
            module.to(self.device)
        self.runtime = Runtime(self.opt, self.device, self.is_train)
        self.set_forward(getattr(self.opt, 'forward', DEFAULT_IMPL))
        if self.is_train:
            self.define_optimizers()
        self.runtime.prepare(self.modules_to_move(), self.nets().values())
        if self.is_train:
            self.setup_distributed()
        else:
            self.eval()
        return self

    def modules_to_move(self):
        """Every module that follows the device and the memory format: the nets and any loss
        network (subclasses add theirs)."""
        return list(self.nets().values())

    def define_optimizers(self):
        """Create ``self.optimizer_names`` (training only; after the nets are on the device)."""

    def prepare_run_folder(self, folder):
        """Write what a run's folder needs besides its checkpoints (train.py, rank 0, at the start)."""

    def edit(self, batch):
        """The edited images of a batch (image, label, mask, instance, ...): N×3×H×W in [−1, 1],
        float32, known pixels from the input (test.py, train-time FID)."""
        raise NotImplementedError

    def edit_visuals(self):
        """The last edit's intermediate results, name -> N×C×H×W, for test.py's --save_panel (SIEDOB:
        pasted objects, background, before fusion); none for a one-network model."""
        return {}

    def set_forward(self, impl, semantic_window=None):
        """The fast forward (and backward) of every net, or the reference one (the paper's
        formulation, module by module); same results up to float rounding
        (models/networks/implementation.py). ``semantic_window``: the fast path's label-map convs
        only around the edit (default: --semantic_window, whose auto is on for CPUs and off for
        GPUs, where the window's host syncs and extra small kernels cost more than the arithmetic
        it saves; always off in a CUDA graph)."""
        if semantic_window is None:
            choice = getattr(self.opt, 'semantic_window', 'auto')
            semantic_window = choice == 'on' or (choice == 'auto' and self.device.type == 'cpu')
            semantic_window = semantic_window and not (self.runtime is not None and self.runtime.cuda_graph)
        switch_nets(self.nets().values(), impl, semantic_window)

    def make_adam(self, params, lr):
        """Adam at ``lr`` with --beta1/--beta2 (fused on CUDA: ``Runtime.make_adam``)."""
        opt = self.runtime.make_adam(params, lr, (self.opt.beta1, self.opt.beta2))
        for group in opt.param_groups:
            group['initial_lr'] = lr  # the rate the schedule scales (torch's lr_scheduler convention)
        return opt

    def update_learning_rate(self, epoch):
        """Set every optimiser's rate for ``epoch`` (0-based) from --lr_policy; returns the factor.
        A function of the epoch alone, so a resumed run gets the same rates."""
        factor = lr_factor(epoch, getattr(self.opt, 'lr_policy', 'constant'), self.opt.niter,
                           getattr(self.opt, 'niter_decay', 0))
        for name in self.optimizer_names:
            for group in getattr(self, name).param_groups:
                group['lr'] = group.get('initial_lr', group['lr']) * factor
        return factor

    # ---- the training contract -------------------------------------------------------------
    def on_device(self, batch, *names):
        """The tensors ``names`` of ``batch`` on the model's device (for ``set_input``)."""
        return [batch[n].to(self.device, non_blocking=True) for n in names]

    def check_size(self, image, what, inputs='(W×H) images'):
        """A one-line error for inputs (N×C×H×W) of a size the nets cannot run on (``size_rule``)."""
        h, w = image.shape[-2:]
        if not self.size_rule.accepts(h, w):
            raise UserError(f'{what} cannot run on {w}×{h} {inputs}: {self.size_rule.describe()}')

    def set_input(self, batch):
        """Take a batch of samples (a dict of tensors from ``dataset_items``) onto the device."""
        raise NotImplementedError

    def forward(self):
        """The generators' forward on the current input; returns the edited images."""
        raise NotImplementedError

    def optimize_parameters(self):
        """One training iteration on the current input (``GANModel``: D step, then G step)."""
        raise NotImplementedError

    def get_current_losses(self):
        """name -> float of the last iteration's losses (logs, progress bar)."""
        return {k: float(v) for k, v in self.losses.items()}

    def get_current_visuals(self):
        """name -> N×C×H×W tensors of the last iteration, for the image grids (labels as ids)."""
        return {}

    def arch(self):
        """Everything needed to rebuild the nets from a checkpoint alone: ``arch_from_opt`` updated
        with the checkpoint's arch (a copy)."""
        return dict(self._arch)

    # ---- modes ------------------------------------------------------------------------------
    def nets(self):
        """name -> module of every net the model holds now (``net_names``), as checkpoints save them."""
        return {n: getattr(self, n) for n in self.net_names if getattr(self, n, None) is not None}

    def train(self):
        """Training mode for the nets."""
        for net in self.nets().values():
            net.train()

    def eval(self):
        """Evaluation mode for the nets."""
        for net in self.nets().values():
            net.eval()

    @staticmethod
    def set_requires_grad(nets, flag):
        """Whether the parameters of ``nets`` take gradients."""
        for net in nets:
            for p in net.parameters():
                p.requires_grad_(flag)

    def wrap(self, name):
        """The module to call during training: DDP-wrapped when running distributed."""
        return self._ddp.get(name, getattr(self, name))

    def setup_distributed(self):
        """Wrap the trainable nets in DDP when several processes train (``wrap``)."""
        if dist_util.world_size() > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP
            ids = [self.device.index] if self.device.type == 'cuda' else None
            for name, net in self.nets().items():
                if any(p.requires_grad for p in net.parameters()):
                    self._ddp[name] = DDP(net, device_ids=ids)

    # ---- inference from a checkpoint -------------------------------------------------------------
    @classmethod
    def from_checkpoint(cls, opt, device, ckpt, path, nets=None):
        """The model for inference with the nets ``nets`` (default: ``inference_nets``) taken from
        ``ckpt``. The nets are built without random initialisation (the checkpoint overwrites it)
        and the checkpoint's tensors are assigned to them (a strict load: every parameter and
        buffer), memory-mapped where the file was read so: a 300 MB generator is ready in about
        0.1 s instead of a second."""
        from semedit.models.networks.init import build_without_init
        with build_without_init():
            model = cls(opt, device, arch=ckpt['arch'])
        model.load_checkpoint_state(ckpt, path, nets=list(nets or cls.inference_nets), assign=True)
        return model.setup()

    # ---- checkpoints ------------------------------------------------------------------------
    def checkpoint_state(self, epoch, epoch_iter, total_iters, opt_dict=None):
        """The native checkpoint dict of the run now: nets, optimisers, scaler, position, RNG, options."""
        scaler = self.runtime.scaler if self.runtime is not None else None
        return make_checkpoint(
            self.model_name, self.arch(),
            {n: {k: v.detach().cpu() for k, v in net.state_dict().items()} for n, net in self.nets().items()},
            {n: getattr(self, n).state_dict() for n in self.optimizer_names if getattr(self, n, None) is not None},
            epoch, epoch_iter, total_iters, capture_rng_state(), opt_dict, stage=self.stage,
            scaler=scaler.state_dict() if scaler is not None else None)

    def load_checkpoint_state(self, ckpt, path, nets=None, load_optimizers=False, restore_rng=False, assign=False):
        """Load ``nets`` (default: all) strictly from ``ckpt`` (and the optimisers, scaler and RNG when asked)."""
        names = nets if nets is not None else list(self.nets())
        for name in names:
            if name not in ckpt['nets']:
                have = ', '.join(sorted(ckpt.get('nets', {}))) or 'no networks'
                hint = self.missing_net_hint if name in self.inference_nets else BaseModel.missing_net_hint
                raise UserError(f'{path} holds {have} but no {name}; {hint}')
            load_state_strict(getattr(self, name), ckpt['nets'][name], path, name, self.load_hint(ckpt), assign)
        if load_optimizers:
            for name in self.optimizer_names:
                if name in ckpt.get('optimizers', {}):
                    getattr(self, name).load_state_dict(ckpt['optimizers'][name])
                    move_optimizer_state(getattr(self, name), self.device)
            scaler = self.runtime.scaler if self.runtime is not None else None
            if scaler is not None and ckpt.get('scaler'):
                scaler.load_state_dict(ckpt['scaler'])
        if restore_rng:
            restore_rng_state(ckpt.get('rng'))

    def load_hint(self, ckpt):
        """The likely cause when a checkpoint's tensors do not fit the nets."""
        arch = ckpt.get('arch', {})
        if arch.get('label_nc') not in (None, self.label_nc):
            return (f'The file was trained with {arch["label_nc"]} labels, the model has {self.label_nc}: '
                    f'wrong --dataset_name / --label_nc?')
        if ckpt.get('model') not in (None, self.model_name):
            return f'The file is a {ckpt.get("model")} checkpoint, not {self.model_name}.'
        return 'Different architecture options (' + ', '.join(f'--{k}' for k in self.arch_options) + \
               '), or a checkpoint of another model?'

    def count_parameters(self):
        """name -> number of parameters of each net."""
        return {n: sum(p.numel() for p in net.parameters()) for n, net in self.nets().items()}


class GANModel(BaseModel):
    """Generators and discriminators trained alternately, one iteration as the authors' trainers
    do it: one generator forward; a discriminator step on the detached fakes; a generator step
    against the *updated* discriminators on the same fakes. Subclasses name their nets and
    optimisers and write ``forward``, ``compute_D_loss`` and ``compute_G_loss``; --cuda_graph
    replays the whole iteration as one CUDA graph, reading the attributes ``graph_inputs``."""

    generator_names = ('netG',)
    discriminator_names = ()
    summary_losses = ('G', 'D')
    #: the model attributes the training step reads (set by ``set_input``)
    graph_inputs = ()
    #: the VGG19 perceptual loss (``make_vgg_loss``), moved with the nets
    vgg = None

    def make_vgg_loss(self, vgg_features=None):
        """The VGG loss when --lambda_vgg > 0 (``vgg_features``: a stand-in for the pretrained
        layers, else the file --vgg_path or the torch hub cache), else None."""
        if getattr(self.opt, 'lambda_vgg', 0) <= 0:
            return None
        return VGGLoss(vgg_features if vgg_features is not None else build_vgg19_features(self.opt.vgg_path))

    def vgg_term(self, fake, target, name='G_VGG'):
        """λ_VGG · VGG(fake, target), logged as ``name``; 0 when the model has no VGG loss."""
        if self.vgg is None:
            return 0
        loss = self.vgg(fake, target) * self.opt.lambda_vgg
        self.losses[name] = loss.detach()
        return loss

    def hinge_D(self, judge, fake, real):
        """λ_GAN · [hinge(judge(fake), fake) + hinge(judge(real), real)] with ``fake`` detached, the
        fake judged first (the order the spectral norms' power iterations follow); logged as
        D_fake and D_real."""
        g = self.opt.lambda_gan
        l_fake = self.criterion_gan(judge(fake.detach()), False) * g
        l_real = self.criterion_gan(judge(real), True) * g
        self.losses.update(D_fake=l_fake.detach(), D_real=l_real.detach())
        return l_fake + l_real

    def gan_term(self, judge, fake, name='G_GAN'):
        """λ_GAN · the generator's hinge loss on ``judge(fake)``, logged as ``name``. ``judge``: the
        raw (not DDP) discriminator, so that no discriminator gradients are synchronised here."""
        loss = self.criterion_gan(judge(fake), True, for_discriminator=False) * self.opt.lambda_gan
        self.losses[name] = loss.detach()
        return loss

    def l1_term(self, fake, target, name='G_L1'):
        """λ_L1 · |fake − target|₁, logged as ``name``; 0 when --lambda_l1 is 0."""
        if self.opt.lambda_l1 <= 0:
            return 0
        loss = F.l1_loss(fake, target) * self.opt.lambda_l1
        self.losses[name] = loss.detach()
        return loss

    def modules_to_move(self):
        # its input is NHWC with --channels_last: it follows the nets' memory format (setup)
        return super().modules_to_move() + ([self.vgg] if self.vgg is not None else [])

    def optimizers_of(self, net_names):
        """The optimisers of the nets ``net_names``."""
        return [getattr(self, 'optimizer_' + n[len('net'):]) for n in net_names]

    def define_optimizers(self):
        """Adam for every net: generators at --lr, discriminators at --lr × --D_lr_mult, named
        optimizer_<net without 'net'> (optimizer_G, optimizer_D_1, ...: the authors' names)."""
        names = []
        for n in self.generator_names + self.discriminator_names:
            lr = self.opt.lr * (self.opt.D_lr_mult if n in self.discriminator_names else 1)
            name = 'optimizer_' + n[len('net'):]
            setattr(self, name, self.make_adam(getattr(self, n).parameters(), lr))
            names.append(name)
        self.optimizer_names = tuple(names)

    def compute_D_loss(self):
        """The discriminators' loss on the current fakes (detached) and reals; logs its terms."""
        raise NotImplementedError

    def compute_G_loss(self):
        """The generators' loss against the updated discriminators; logs its terms."""
        raise NotImplementedError

    def optimize_parameters(self):
        if self.runtime.cuda_graph:
            return self.runtime.graphed(self, self._train_step, self.graph_inputs)
        self._train_step()

    def _train_step(self):
        self.forward()
        d_nets = [getattr(self, n) for n in self.discriminator_names]
        self.set_requires_grad(d_nets, True)
        self._step(self.optimizers_of(self.discriminator_names), self.compute_D_loss, 'D')
        self.set_requires_grad(d_nets, False)  # G's loss reads the D's but leaves no gradient in them
        self._step(self.optimizers_of(self.generator_names), self.compute_G_loss, 'G')
        self.runtime.end_iteration()

    def _step(self, optimizers, compute_loss, name):
        """One optimiser step on ``compute_loss()``, whose total is logged as ``name``."""
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        with self.runtime.autocast():
            loss = compute_loss()
        self.losses[name] = loss.detach()
        self.runtime.backward_and_step(loss, optimizers)


def switch_nets(nets, impl, semantic_window):
    """``set_impl`` on each net; a missing fast implementation is a one-line error."""
    try:
        for net in nets:
            set_impl(net, impl, semantic_window)
    except FastUnavailable as exc:
        raise UserError(f'{exc}: run with --forward reference') from None


def width_arch(opt):
    """``arch_from_opt`` of nets that see no label map (SIEDOB's object and fusion nets): their
    widths and colour order."""
    return {'ngf': opt.ngf, 'ndf': getattr(opt, 'ndf', 64), 'color_order': opt.color_order}


def add_gan_loss_options(group, is_train, lambda_l1=1.0, lambda_gan=1.0, lambda_vgg=10.0, ndf=64):
    """The flags of the L1 + hinge GAN + VGG recipe both papers train with, at a model's defaults."""
    group.add_argument('--ndf', type=int, default=ndf, help='discriminator base width')
    if is_train:
        group.add_argument('--lambda_l1', type=float, default=lambda_l1, help='weight of the L1 loss')
        group.add_argument('--lambda_gan', type=float, default=lambda_gan, help='weight of the hinge GAN loss')
        group.add_argument('--lambda_vgg', type=float, default=lambda_vgg,
                           help='weight of the VGG19 perceptual loss; 0 disables it and its weights file')
        group.add_argument('--vgg_path', default=None,
                           help='local VGG19 weights (torchvision vgg19-dcbb9e9d.pth); default: the torch hub cache')


def lr_factor(epoch, policy, niter, niter_decay):
    """The learning-rate multiplier of ``epoch`` (0-based). 'linear' is the schedule SIEDOB's trainer
    builds (``1 − max(0, epoch + 1 − (niter − niter_decay)) / (niter_decay + 1)``: 1 until the last
    ``niter_decay`` epochs, then down to 1/(niter_decay + 1)); 'constant' is 1."""
    if policy == 'constant':
        return 1.0
    if policy == 'linear':
        return 1.0 - max(0, epoch + 1 - (niter - niter_decay)) / (niter_decay + 1)
    raise ValueError(f'unknown --lr_policy {policy!r}')


def move_optimizer_state(optimizer, device):
    """Optimiser tensors follow the model's device (the authors saved theirs on CUDA)."""
    for state in optimizer.state.values():
        for k, v in state.items():
            if torch.is_tensor(v) and k != 'step':
                state[k] = v.to(device)
