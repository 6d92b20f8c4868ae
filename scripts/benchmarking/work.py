"""The work each path executes: GFLOP as run (PyTorch's FlopCounterMode counts 2 per multiply-add
of every convolution and matmul, the fast path's windows at their real size). At equal arithmetic
efficiency, the reference's work over the fast path's is the speed-up."""
import torch

from scripts.benchmarking.options import eager
from scripts.benchmarking.timing import training_step


def count_onednn_convs():
    """FlopCounterMode knows aten.convolution; fast.kernels.conv2d calls aten.mkldnn_convolution directly
    for small CPU inference convs, which it would otherwise leave out."""
    from torch.utils import flop_counter
    op = torch.ops.aten.mkldnn_convolution
    if op in flop_counter.flop_registry or op.default in flop_counter.flop_registry:
        return

    @flop_counter.register_flop_formula(op)
    def onednn_conv_flop(x_shape, w_shape, *args, out_shape=None, **kwargs):
        return flop_counter.conv_flop_count(x_shape, w_shape, out_shape, transposed=False)


def executed_gflop(fn):
    """GFLOP that ``fn()`` executes. Only eager models count: a replayed CUDA graph or a compiled net
    is invisible to the counter."""
    from torch.utils.flop_counter import FlopCounterMode
    count_onednn_convs()
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops() / 1e9


def edit_gflops(model, batch):
    """GFLOP per image of ``model.edit`` as executed (``model`` eager; the reference's is the full
    work of its generator)."""
    with torch.inference_mode():
        return executed_gflop(lambda: model.edit(batch)) / batch['image'].shape[0]


def training_gflops(opt, device, fast):
    """GFLOP of one training iteration as executed (forward and backward of G, D's and VGG19),
    counted on an eager model."""
    return executed_gflop(training_step(eager(opt), device, fast))
