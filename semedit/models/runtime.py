"""How the nets run, independent of what they compute: the reference or the fast implementation
(--forward, --semantic_window), mixed precision (--amp), NHWC memory (--channels_last),
torch.compile (--compile) and captured CUDA graphs (--cuda_graph). Every model gets one ``Runtime``
in ``BaseModel.setup()``; the same options then mean the same for every model.
"""
import torch

from semedit.models.networks.implementation import DEFAULT_IMPL, IMPLS
from semedit.util import distributed
from semedit.util.errors import UserError

AMP_DTYPES = {'none': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


class Runtime:
    def __init__(self, opt, device, is_train):
        self.device = device
        amp = getattr(opt, 'amp', 'none')
        wants_graph = bool(getattr(opt, 'cuda_graph', False))
        if wants_graph and device.type != 'cuda':
            print(f'note: --cuda_graph needs a CUDA device; ignored on {device.type}')
        #: a captured CUDA graph replays the step (train) or the edit (test)
        self.cuda_graph = wants_graph and device.type == 'cuda'
        if is_train and self.cuda_graph and (amp == 'fp16' or distributed.world_size() > 1):
            raise UserError('--cuda_graph training runs on one GPU in float32 or --amp bf16 (fp16 loss '
                            'scaling and DDP synchronise with the host); drop --cuda_graph or change --amp')
        self.amp_dtype = AMP_DTYPES[amp]
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp == 'fp16') if is_train else None
        self.channels_last = bool(getattr(opt, 'channels_last', False))
        self.compile = bool(getattr(opt, 'compile', False))
        self._graphed_step = None

    def prepare(self, modules, nets):
        """--channels_last on every module (nets and loss networks), --compile on the nets, in place
        (state-dict keys unchanged)."""
        for m in modules:
            if self.channels_last:
                m.to(memory_format=torch.channels_last)
        for net in nets:
            if self.compile:
                net.compile()

    def to_memory_format(self, t):
        """--channels_last: 4-D inputs in NHWC memory (tensor-core convs need no transposes)."""
        if self.channels_last and t.dim() == 4 and t.is_floating_point():
            # .to, not .contiguous: a one-channel map (the mask) counts as channels-last already and
            # would keep NCHW strides, and torch.cat with it would then give NCHW
            return t.to(memory_format=torch.channels_last)
        return t

    def autocast(self):
        # autocast's weight-cast cache does not survive graph capture
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None,
                              cache_enabled=not self.cuda_graph)

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

    def graphed(self, model, step, input_names):
        """Run ``step`` (one training iteration) through a CUDA graph captured on first use."""
        if self._graphed_step is None:
            from semedit.util.cuda_graph import GraphedTrainingStep
            self._graphed_step = GraphedTrainingStep(model, step, input_names)
        self._graphed_step()

    def make_adam(self, params, lr, betas):
        """Adam fused into one kernel per step where PyTorch has it (CPU and CUDA): the same update
        as the per-tensor loop, 3× faster on a CPU."""
        params = list(params)
        try:  # capturable: the step counter lives on the GPU, as a captured graph needs
            return torch.optim.Adam(params, lr=lr, betas=betas, fused=True, capturable=self.cuda_graph)
        except (RuntimeError, TypeError, ValueError):
            return torch.optim.Adam(params, lr=lr, betas=betas)


def add_forward_options(group, label_map_convs=None):
    """--forward, for models whose nets have a fast implementation, and --semantic_window where some
    of their convs read only the label map (``label_map_convs`` names them for --help)."""
    group.add_argument('--forward', choices=list(IMPLS[::-1]), default=DEFAULT_IMPL,
                       help="fast: the fused implementation (the same numbers up to float rounding before "
                            "quantisation, see docs/performance.md); reference: the paper's computation, module by "
                            "module, as the authors' code runs it, which writes their PNG bit for bit")
    if label_map_convs:
        group.add_argument('--semantic_window', choices=['auto', 'on', 'off'], default='auto',
                           help=f'fast forward: compute {label_map_convs} only around the edited region (exact). '
                                f'auto = on for CPUs, off for GPUs (measured: docs/performance.md)')
