"""--device auto|cpu|cuda[:N]: nothing else in the code names a device."""
import torch

from util.errors import UserError


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
