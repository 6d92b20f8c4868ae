"""Checkpoint I/O: atomic writes, one native format, foreign formats converted at load time.

Native file (one per save)::

    {'format': 'semedit', 'format_version': 1, 'model': '<--model>', 'stage': None or '<--stage>',
     'arch': {...everything the model needs to rebuild its nets: label_nc, widths, colour order...},
     'epoch': int, 'epoch_iter': int, 'total_iters': int,
     'nets': {'<net name>': state_dict, ...}, 'optimizers': {...}, 'scaler': ..., 'rng': {...}, 'opt': {...}}

Files in other layouts (the authors' releases) are recognised and converted to this dict by
``models/legacy.py``; nothing else in the code needs to know they exist.
"""
import io
import os

import torch

from semedit.util.atomic import atomic_write
from semedit.util.errors import UserError

FORMAT = 'semedit'
FORMAT_VERSION = 1


def save_checkpoint(state, path):
    """Serialise to memory, then write a temporary file and rename it: an interrupted save never
    leaves a truncated checkpoint behind."""
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write(path, buf.getvalue())


def make_checkpoint(model, arch, nets, optimizers=None, epoch=0, epoch_iter=0, total_iters=0, rng=None,
                    opt=None, stage=None, scaler=None, format=FORMAT, format_version=FORMAT_VERSION):
    """The native checkpoint dict (module docstring); every writer and converter builds it here."""
    return {'format': format, 'format_version': format_version, 'model': model, 'stage': stage, 'arch': arch,
            'epoch': int(epoch), 'epoch_iter': int(epoch_iter), 'total_iters': int(total_iters),
            'nets': nets, 'optimizers': optimizers or {}, 'scaler': scaler, 'rng': rng or {}, 'opt': opt or {}}


def is_native(ckpt):
    return isinstance(ckpt, dict) and ckpt.get('format') == FORMAT


def describe_model(ckpt):
    """'<model>' or '<model> --stage <stage>' of a native checkpoint, for messages."""
    return (ckpt.get('model') or 'unknown') + (f' --stage {ckpt["stage"]}' if ckpt.get('stage') else '')


def describe_keys(state):
    keys = [str(k) for k in list(state)[:3]]
    return ', '.join(keys) + (', ...' if len(state) > 3 else '')


def read_tensors(path):
    """torch.load, memory-mapped where the file's format allows (torch's zip format since 1.6): the
    tensors are read from the page cache when used, not copied up front. Older files are read whole."""
    for mmap in (True, False):
        try:
            return torch.load(path, map_location='cpu', weights_only=True, mmap=mmap)
        except Exception:
            continue
    raise UserError(f'cannot read checkpoint {path}: not a PyTorch checkpoint, truncated, or holding '
                    f'objects other than tensors and plain containers; re-download or re-save it')


def read_checkpoint(path):
    """The dict stored at ``path`` (tensors on the CPU): a native checkpoint, checked for its
    version, or a foreign one as it is (``models/legacy.py`` converts those)."""
    if not path:
        raise UserError('no checkpoint given (--checkpoint FILE, or --name NAME with a trained experiment)')
    if not os.path.isfile(path):
        raise UserError(f'checkpoint not found: {path}')
    ckpt = read_tensors(path)
    if not isinstance(ckpt, dict):
        raise UserError(f'{path} is not a checkpoint dict (got {type(ckpt).__name__})')
    if is_native(ckpt) and ckpt.get('format_version', 0) > FORMAT_VERSION:
        raise UserError(f'{path} was written by a newer version of this code (format {ckpt["format_version"]})')
    return ckpt


def load_state_strict(net, state, path, net_name, hint='', assign=False):
    """Strict load with one readable error: missing / unexpected / mis-shaped keys and the likely cause."""
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shaped = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or shaped:
        parts = []
        if missing:
            parts.append(f'{len(missing)} missing (e.g. {missing[0]})')
        if unexpected:
            parts.append(f'{len(unexpected)} unexpected (e.g. {unexpected[0]})')
        if shaped:
            k = shaped[0]
            parts.append(f'{len(shaped)} with other shapes (e.g. {k}: file {tuple(state[k].shape)} vs '
                         f'model {tuple(own[k].shape)})')
        raise UserError(f'{path}: {net_name} does not fit the model: ' + '; '.join(parts)
                        + (f'. {hint}' if hint else ''))
    net.load_state_dict(state, strict=True, assign=assign)


def capture_rng_state():
    import random
    import numpy as np
    np_state = np.random.get_state()
    state = {'python': random.getstate(), 'torch': torch.get_rng_state(),
             'numpy': (np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:])}
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state):
    import random
    import numpy as np
    if not state:
        return
    if 'python' in state:
        v = state['python']
        random.setstate((v[0], tuple(v[1]), v[2]))
    if 'torch' in state:
        torch.set_rng_state(state['torch'])
    if 'numpy' in state:
        n = state['numpy']
        np.random.set_state((n[0], n[1].numpy(), *n[2:]))
    if 'cuda' in state and torch.cuda.is_available() and len(state['cuda']) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state['cuda'])
