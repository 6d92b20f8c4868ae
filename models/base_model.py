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
            'rng': capture_rng_state(),
            'opt': opt_dict or {},
        }

    def load_checkpoint_state(self, ckpt, path, nets=None, load_optimizers=False, restore_rng=False):
        names = nets if nets is not None else list(self.nets())
        for name in names:
            if name not in ckpt['nets']:
                raise_missing_net(path, name, ckpt)
            load_state_strict(getattr(self, name), ckpt['nets'][name], path, name, self.load_hint(ckpt))
        if load_optimizers:
            for name in self.optimizer_names:
                if name in ckpt.get('optimizers', {}):
                    getattr(self, name).load_state_dict(ckpt['optimizers'][name])
                    move_optimizer_state(getattr(self, name), self.device)
        if restore_rng:
            restore_rng_state(ckpt.get('rng'))

    def load_hint(self, ckpt):
        return ''

    def count_parameters(self):
        return {n: sum(p.numel() for p in net.parameters()) for n, net in self.nets().items()}


def raise_missing_net(path, name, ckpt):
    from util.errors import UserError
    have = ', '.join(sorted(ckpt.get('nets', {}))) or 'none'
    raise UserError(f'{path} holds no {name} (it has: {have}); give a checkpoint saved from the full model')


def move_optimizer_state(optimizer, device):
    """Optimiser tensors follow the model's device (upstream saved them on CUDA, spec §12.1)."""
    for state in optimizer.state.values():
        for k, v in state.items():
            if torch.is_tensor(v) and k != 'step':
                state[k] = v.to(device)
