"""Checkpoint I/O: atomic writes, one native format, foreign formats converted at load time.

Native file (one per save)::

    {'format': 'semedit', 'format_version': 1, 'model': 'spmpgan', 'stage': None,
     'arch': {...everything needed to rebuild the nets: label_nc, ngf, ndf, color_order...},
     'epoch': int, 'epoch_iter': int, 'total_iters': int,
     'nets': {'netG': state_dict, 'netD_1': ...}, 'optimizers': {...}, 'rng': {...}, 'opt': {...}}

The authors' files (``{'netG': ..., 'netD_1': ..., 'optimizer_G': ..., 'epoch': ...}``, BGR) are
recognised by their keys and mapped to the same dict (spec SPMPGAN.md §12); nothing else in the
code needs to know they exist.
"""
import io
import os

import torch

from util.atomic import atomic_write
from util.errors import UserError

FORMAT = 'semedit'
FORMAT_VERSION = 1


def save_checkpoint(state, path):
    """Serialise to memory, then write a temporary file and rename it: an interrupted save never
    leaves a truncated checkpoint behind."""
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write(path, buf.getvalue())


def _is_upstream_spmpgan(ckpt):
    g = ckpt.get('netG')
    return isinstance(g, dict) and any(str(k).startswith('G1.enc1.') for k in g)


def _from_upstream_spmpgan(ckpt, path):
    """The authors' SPM-PGAN file: nets at top level, trained in BGR; label_nc and ngf follow
    from the weight shapes (spec §12.2)."""
    g = ckpt['netG']
    try:
        label_nc = g['G1.enc1.mlp_shared_2.0.weight'].shape[1] - 2
        ngf = g['G1.enc1.conv2d.weight'].shape[0]
        hidden = g['G1.enc1.mlp_shared.0.weight'].shape[0]
    except KeyError as exc:
        raise UserError(f'{path} looks like an SPM-PGAN checkpoint but lacks {exc}; is it complete?') from None
    nets = {k: ckpt[k] for k in ('netG', 'netD_1', 'netD_2', 'netD_3') if isinstance(ckpt.get(k), dict)}
    arch = {'label_nc': int(label_nc), 'ngf': int(ngf), 'hidden': int(hidden), 'color_order': 'bgr'}
    if 'netD_1' in nets:
        arch['ndf'] = int(nets['netD_1']['dis_model.0.conv.weight_orig'].shape[0])
    return {'format': 'upstream-spmpgan', 'format_version': 0, 'model': 'spmpgan', 'stage': None,
            'arch': arch, 'epoch': int(ckpt.get('epoch', 0)), 'epoch_iter': 0, 'total_iters': 0,
            'nets': nets, 'rng': {}, 'opt': {},
            'optimizers': {k: ckpt[k] for k in ('optimizer_G', 'optimizer_D_1', 'optimizer_D_2', 'optimizer_D_3')
                           if isinstance(ckpt.get(k), dict)}}


def _siedob_part(ckpt):
    """The authors' SIEDOB files (SIEDOB_scene.md §8.1), recognised by their keys."""
    if 'netG_BG' in ckpt:
        return 'background'
    if 'netG_F' in ckpt:
        return 'fusion'
    g = ckpt.get('netG')
    if isinstance(g, dict):
        for prefix, part in (('fg_inpainting.', 'object-inpainting'), ('fg_style.', 'object-style')):
            if any(str(k).startswith(prefix) for k in g):
                return part
    return None


def describe_keys(state):
    keys = [str(k) for k in list(state)[:3]]
    return ', '.join(keys) + (', ...' if len(state) > 3 else '')


# what test.py needs instead of a partial file
GIVE_GENERATOR = ('give the file that holds the generator instead: latest.pth (or epoch_N.pth) written by '
                  'train.py, or the authors\' cityscapes.pth / ade20k.pth')
SIEDOB_PARTS = {'background': 'background generator (netG_BG, the authors\' bg.pth)',
                'fusion': 'fusion network (netG_F, the authors\' Fnet.pth)',
                'object-inpainting': 'object-inpainting generator (the authors\' object_inpainting.pth)',
                'object-style': 'object-style generator (the authors\' object_style.pth)'}


def describe_partial(ckpt):
    """What a dict without a usable generator holds, in words, or None: discriminators only
    (the authors' trainer can leave ``{'netD_1': ..., 'epoch': 0}``), optimiser states only."""
    keys = [str(k) for k in ckpt]
    d_nets = sorted(k for k in keys if k.startswith('netD') and isinstance(ckpt[k], dict))
    optimisers = sorted(k for k in keys if k.startswith('optimizer') and isinstance(ckpt[k], dict))
    parts = []
    if d_nets:
        parts.append(f'discriminator weights ({", ".join(d_nets)})')
    if optimisers:
        parts.append(f'optimiser states ({", ".join(optimisers)})')
    return ' and '.join(parts) or None


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


def load_checkpoint(path):
    """Read any supported checkpoint and return it in the native layout (tensors on the CPU)."""
    if not path:
        raise UserError('no checkpoint given (--checkpoint FILE, or --name NAME with a trained experiment)')
    if not os.path.isfile(path):
        raise UserError(f'checkpoint not found: {path}')
    ckpt = read_tensors(path)
    if not isinstance(ckpt, dict):
        raise UserError(f'{path} is not a checkpoint dict (got {type(ckpt).__name__})')
    if ckpt.get('format') == FORMAT:
        if ckpt.get('format_version', 0) > FORMAT_VERSION:
            raise UserError(f'{path} was written by a newer version of this code (format {ckpt["format_version"]})')
        return ckpt
    if _is_upstream_spmpgan(ckpt):
        return _from_upstream_spmpgan(ckpt, path)
    keys = [str(k) for k in ckpt]
    siedob = _siedob_part(ckpt)
    if siedob:
        raise UserError(f'{path} is a SIEDOB {siedob} checkpoint: it holds SIEDOB\'s {SIEDOB_PARTS[siedob]}, not an '
                        f'SPM-PGAN generator, and SIEDOB is not supported yet; give an SPM-PGAN checkpoint')
    partial = describe_partial(ckpt)
    if partial and 'netG' not in ckpt:
        raise UserError(f'{path} holds {partial} but no generator (netG); {GIVE_GENERATOR}')
    if any(k.startswith('dis_model.') for k in keys):
        raise UserError(f'{path} is a discriminator state dict (dis_model.*), not a generator (netG); '
                        f'{GIVE_GENERATOR}')
    if 'state' in ckpt and 'param_groups' in ckpt:
        raise UserError(f'{path} is an optimiser state, not a model checkpoint: it holds no generator (netG); '
                        f'{GIVE_GENERATOR}')
    if any(k.startswith('G1.enc1.') for k in keys):
        # A bare netG state dict.
        return _from_upstream_spmpgan({'netG': ckpt}, path)
    raise UserError(f'{path} is not a recognised checkpoint (top-level keys: {describe_keys(ckpt)}); expected a '
                    f'file written by train.py or the authors\' SPM-PGAN release')


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
