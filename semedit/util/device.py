"""--device auto|cpu|cuda[:N]: nothing else in the code names a device."""
import torch

from semedit.util.errors import UserError


def resolve_device(name='auto', local_rank=None):
    if name == 'auto':
        if torch.cuda.is_available():
            return torch.device('cuda', local_rank or 0)
        return torch.device('cpu')
    if name.startswith('cuda'):
        if not torch.cuda.is_available():
            raise UserError(f'--device {name} asked for, but PyTorch sees no CUDA GPU; use --device cpu or auto')
        if local_rank is not None and name == 'cuda':
            return torch.device('cuda', local_rank)
        return torch.device(name)
    if name == 'cpu':
        return torch.device('cpu')
    raise UserError(f'unknown --device {name!r}: use auto, cpu, cuda or cuda:N')


def keep_freed_memory():
    """CPU runs: glibc hands every freed block above its mmap threshold back to the OS, and the
    next step faults the same pages in again (about 0.4 s of a 4 s training iteration of the
    paper-sized generator at 256² on two cores). Raise the threshold to its maximum (32 MiB) and stop trimming, so the
    same big activations reuse the same memory. Returns whether it took effect (glibc only)."""
    import ctypes
    import ctypes.util
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, 32 * 2 ** 20)) and bool(mallopt(M_TRIM_THRESHOLD, 2 ** 31 - 1))


def configure_backends(device):
    """Per-device settings for training and editing: cudnn autotuning on CUDA (the fast path
    keeps the number of distinct conv shapes small), the allocator setting above on a CPU."""
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True
    elif device.type == 'cpu':
        keep_freed_memory()
