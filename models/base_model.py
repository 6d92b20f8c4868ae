"""BaseModel: the contract every model follows (pytorch-CycleGAN-and-pix2pix style).

``set_input(batch)`` -> ``forward()`` -> ``optimize_parameters()``; ``get_current_losses()`` and
``get_current_visuals()`` feed the visualiser; ``checkpoint_state`` / ``load_checkpoint_state``
move everything a run needs in and out of one checkpoint dict (util/checkpoint.py writes it).
"""
import torch

from util import distributed as dist_util
from util.checkpoint import FORMAT, FORMAT_VERSION, capture_rng_state, load_state_strict, restore_rng_state


class BaseModel:
    #: names of the nn.Module attributes saved in checkpoints (subclasses set them in __init__)
    net_names = ()
    optimizer_names = ()
    model_name = None
    stage = None

    @staticmethod
    def modify_commandline_options(parser, is_train):
        return parser

    def __init__(self, opt, device):
        self.opt = opt
        self.device = device
        self.is_train = opt.is_train
        self.losses = {}

    # ---- the training contract -------------------------------------------------------------
    def set_input(self, batch):
        raise NotImplementedError

    def forward(self):
        raise NotImplementedError

    def optimize_parameters(self):
        raise NotImplementedError

    def get_current_losses(self):
        return {k: float(v) for k, v in self.losses.items()}

    def get_current_visuals(self):
        return {}

    def arch(self):
        """Everything needed to rebuild the nets from a checkpoint alone."""
        raise NotImplementedError

    # ---- modes ------------------------------------------------------------------------------
    def nets(self):
        return {n: getattr(self, n) for n in self.net_names if getattr(self, n, None) is not None}

    def train(self):
        for net in self.nets().values():
            net.train()

    def eval(self):
        for net in self.nets().values():
            net.eval()

    def make_adam(self, params, lr):
        """Adam with the options' betas, fused into one kernel per step where PyTorch has it
        (CPU and CUDA): the same update as the per-tensor loop, 3× faster on a CPU."""
        params, betas = list(params), (self.opt.beta1, self.opt.beta2)
        try:  # capturable: the step counter lives on the GPU, as a captured graph needs
            return torch.optim.Adam(params, lr=lr, betas=betas, fused=True, capturable=self.uses_cuda_graph())
        except (RuntimeError, TypeError, ValueError):
            return torch.optim.Adam(params, lr=lr, betas=betas)

    def set_forward(self, fast, window=None):
        """The fast forward (and backward) of every net, or the reference one (the spec's
        formulation, module by module); same results up to float rounding. ``window``: the fast
        path's semantic branch only around the edit (default: from --semantic_window)."""
        from models.networks.blocks import set_fast
        if window is None:
            # auto: on for CPUs; off on GPUs, where the window's host syncs and extra small kernels
            # cost more than the arithmetic it saves (scripts/benchmark.py, README "Performance")
            choice = getattr(self.opt, 'semantic_window', 'auto')
            window = choice == 'on' or (choice == 'auto' and self.device.type == 'cpu')
            window = window and not self.uses_cuda_graph()
        for net in self.nets().values():
            set_fast(net, fast, window)

    # ---- precision and compilation (--amp, --compile) ----------------------------------------
    AMP_DTYPES = {'none': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}

    def setup_speed_options(self):
        """--amp: autocast dtype, and a gradient scaler for fp16 training; --compile: compile every
        net in place (state-dict keys unchanged)."""
        amp = getattr(self.opt, 'amp', 'none')
        if getattr(self.opt, 'cuda_graph', False) and self.device.type != 'cuda':
            print(f'note: --cuda_graph needs a CUDA device; ignored on {self.device.type}')
        if self.is_train and self.uses_cuda_graph():
            from util import distributed
            from util.errors import UserError
            if amp == 'fp16' or distributed.world_size() > 1:
                raise UserError('--cuda_graph training runs on one GPU in float32 or --amp bf16 (fp16 loss '
                                'scaling and DDP synchronise with the host); drop --cuda_graph or change --amp')
        self.amp_dtype = self.AMP_DTYPES[amp]
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=amp == 'fp16') if self.is_train else None
        if getattr(self.opt, 'channels_last', False):
            for net in self.nets().values():
                net.to(memory_format=torch.channels_last)
        if getattr(self.opt, 'compile', False):
            for net in self.nets().values():
                net.compile()

    def uses_cuda_graph(self):
        return bool(getattr(self.opt, 'cuda_graph', False)) and self.device.type == 'cuda'

    def graphed(self, step, input_names):
        """Run ``step`` (one training iteration) through a CUDA graph captured on first use."""
        if getattr(self, '_graphed_step', None) is None:
            from util.cuda_graph import GraphedTrainingStep
            self._graphed_step = GraphedTrainingStep(self, step, input_names)
        self._graphed_step()

    def to_memory_format(self, t):
        """--channels_last: 4-D inputs in NHWC memory (tensor-core convs need no transposes)."""
        if getattr(self.opt, 'channels_last', False) and t.dim() == 4 and t.is_floating_point():
            # .to, not .contiguous: a one-channel map (the mask) counts as channels-last already and
            # would keep NCHW strides, and torch.cat with it would then give NCHW
            return t.to(memory_format=torch.channels_last)
        return t

    def autocast(self):
        dtype = getattr(self, 'amp_dtype', None)
        # autocast's weight-cast cache does not survive graph capture
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None,
                              cache_enabled=not self.uses_cuda_graph())

    def backward_and_step(self, loss, optimizers):
        """loss.backward() and one step of each optimiser, through the fp16 loss scaler when on
        (the scale is updated once per iteration, in ``end_iteration``)."""
        if self.scaler is not None and self.scaler.is_enabled():
            self.scaler.scale(loss).backward()
            for opt in optimizers:
                self.scaler.step(opt)
        else:
            loss.backward()
            for opt in optimizers:
                opt.step()

    def end_iteration(self):
        if self.scaler is not None and self.scaler.is_enabled():
            self.scaler.update()

    @staticmethod
    def set_requires_grad(nets, flag):
        for net in nets:
            for p in net.parameters():
                p.requires_grad_(flag)

    def wrap(self, name):
        """The module to call during training: DDP-wrapped when running distributed."""
        return self._ddp.get(name, getattr(self, name)) if hasattr(self, '_ddp') else getattr(self, name)

    def setup_distributed(self):
        self._ddp = {}
        if dist_util.world_size() > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP
            ids = [self.device.index] if self.device.type == 'cuda' else None
            for name, net in self.nets().items():
                if any(p.requires_grad for p in net.parameters()):
                    self._ddp[name] = DDP(net, device_ids=ids)

    # ---- inference from a checkpoint -------------------------------------------------------------
    @classmethod
    def from_checkpoint(cls, opt, device, ckpt, path, nets):
        """The model for inference with the nets ``nets`` taken from ``ckpt``. The nets are built
        without random initialisation (the checkpoint overwrites it) and the checkpoint's tensors are
        assigned to them (a strict load: every parameter and buffer), memory-mapped where the file
        was read so: a 300 MB generator is ready in about 0.1 s instead of a second."""
        from models.networks.init import build_without_init
        with build_without_init():
            model = cls(opt, device=None, arch=ckpt['arch'])  # device None: setup after loading
        model.device = device
        model.load_checkpoint_state(ckpt, path, nets=nets, assign=True)
        for name in nets:
            getattr(model, name).to(device)
        model.setup_inference()
        return model

    def setup_inference(self):
        """Forward implementation, runtime options and eval mode, once the weights are in place
        (``from_checkpoint`` builds with no device and calls it after loading)."""
        if self.device is None:
            return
        self.set_forward(getattr(self.opt, 'forward', 'fast') == 'fast')
        self.setup_speed_options()
        self.eval()

    # ---- checkpoints ------------------------------------------------------------------------
    def checkpoint_state(self, epoch, epoch_iter, total_iters, opt_dict=None):
        return {
            'format': FORMAT, 'format_version': FORMAT_VERSION,
            'model': self.model_name, 'stage': self.stage, 'arch': self.arch(),
            'epoch': epoch, 'epoch_iter': epoch_iter, 'total_iters': total_iters,
            'nets': {n: {k: v.detach().cpu() for k, v in net.state_dict().items()}
                     for n, net in self.nets().items()},
            'optimizers': {n: getattr(self, n).state_dict() for n in self.optimizer_names
                           if getattr(self, n, None) is not None},
            'scaler': self.scaler.state_dict() if getattr(self, 'scaler', None) is not None else None,
            'rng': capture_rng_state(),
            'opt': opt_dict or {},
        }

    def load_checkpoint_state(self, ckpt, path, nets=None, load_optimizers=False, restore_rng=False, assign=False):
        names = nets if nets is not None else list(self.nets())
        for name in names:
            if name not in ckpt['nets']:
                raise_missing_net(path, name, ckpt)
            load_state_strict(getattr(self, name), ckpt['nets'][name], path, name, self.load_hint(ckpt), assign)
        if load_optimizers:
            for name in self.optimizer_names:
                if name in ckpt.get('optimizers', {}):
                    getattr(self, name).load_state_dict(ckpt['optimizers'][name])
                    move_optimizer_state(getattr(self, name), self.device)
            if getattr(self, 'scaler', None) is not None and ckpt.get('scaler'):
                self.scaler.load_state_dict(ckpt['scaler'])
        if restore_rng:
            restore_rng_state(ckpt.get('rng'))

    def load_hint(self, ckpt):
        return ''

    def count_parameters(self):
        return {n: sum(p.numel() for p in net.parameters()) for n, net in self.nets().items()}


def raise_missing_net(path, name, ckpt):
    from util.checkpoint import GIVE_GENERATOR
    from util.errors import UserError
    have = ', '.join(sorted(ckpt.get('nets', {}))) or 'no networks'
    instead = GIVE_GENERATOR if name == 'netG' else 'give a checkpoint saved from the full model by train.py'
    raise UserError(f'{path} holds {have} but no {name}; {instead}')


def move_optimizer_state(optimizer, device):
    """Optimiser tensors follow the model's device (upstream saved them on CUDA, spec §12.1)."""
    for state in optimizer.state.values():
        for k, v in state.items():
            if torch.is_tensor(v) and k != 'step':
                state[k] = v.to(device)
