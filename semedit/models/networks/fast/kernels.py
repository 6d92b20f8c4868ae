"""Kernels of the fast path: oneDNN routing for small CPU convs, an NHWC-keeping instance norm,
strided nearest downsampling (see ``__init__.py``)."""
import torch
import torch.nn.functional as F


# PyTorch runs batch-1 float32 CPU convs whose input has at most this many elements on its native
# kernel, which parallelises over the batch: one thread. That is most of the generator's
# low-resolution convs and the windowed semantic convs.
_NATIVE_CONV_MAX_NUMEL = 20480


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """F.conv2d for the fast path's inference. On a multi-threaded CPU, without autograd, a small
    batch-1 float32 input goes to oneDNN (all threads) instead of PyTorch's single-threaded native
    kernel: on the 2-core VM that halves those convs (41 → 23 ms per 256² edit). Not for weights
    above 5 M elements or inputs above 768 channels, where oneDNN's per-call weight reordering
    costs more than it saves. Same numbers up to float summation order."""
    if (x.device.type == 'cpu' and x.dtype == torch.float32 and x.dim() == 4 and x.shape[0] == 1
            and not torch.is_grad_enabled() and torch.get_num_threads() > 1 and torch.backends.mkldnn.is_available()
            and x.numel() <= _NATIVE_CONV_MAX_NUMEL and weight.numel() <= 5_000_000 and x.shape[1] <= 768):
        return torch.ops.aten.mkldnn_convolution(x, weight, bias, _pair(padding), _pair(stride), [1, 1], 1)
    return F.conv2d(x, weight, bias, stride, padding)


def _pair(v):
    return [v, v] if isinstance(v, int) else list(v)


def nearest_downsample(x, size):
    """Legacy nearest resize (source index floor(i·in/out)). For whole-number factors this is a
    strided slice, the same pixels without upsample_nearest2d's full-size contiguous copy."""
    h, w = x.shape[-2:]
    oh, ow = size
    if h % oh == 0 and w % ow == 0:
        return x[:, :, ::h // oh, ::w // ow]
    return F.interpolate(x, size=size, mode='nearest')


def memory_format_of(t):
    """torch.channels_last for a 4-D tensor stored NHWC (and not also NCHW, as maps with one
    channel or one pixel are), else torch.contiguous_format."""
    if t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def instance_norm(x, eps=1e-5):
    """F.instance_norm (no affine, no running stats), keeping an NHWC input NHWC. PyTorch's own
    makes the input contiguous and returns NCHW: with --channels_last that is a copy here, another
    at the next conv, and elementwise ops between them that mix the two layouts."""
    if memory_format_of(x) == torch.channels_last:
        return _InstanceNormNHWC.apply(x, eps)
    return F.instance_norm(x, eps=eps)


class _InstanceNormNHWC(torch.autograd.Function):
    """y = (x − mean) / sqrt(var + eps) per sample and channel over H×W (the batch-norm formula
    per instance), in any layout; backward dx = (g − mean(g) − y·mean(g·y)) / sqrt(var + eps)."""

    @staticmethod
    def forward(ctx, x, eps):
        var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
        rstd = torch.rsqrt(var + eps)
        y = torch.addcmul(-mean * rstd, x, rstd)  # one full-size pass
        ctx.save_for_backward(y, rstd)
        return y

    @staticmethod
    def backward(ctx, grad):
        y, rstd = ctx.saved_tensors
        mean_g = grad.mean((2, 3), keepdim=True)
        mean_gy = (grad * y).mean((2, 3), keepdim=True)
        return torch.addcmul(grad - mean_g, y, mean_gy, value=-1) * rstd, None
