"""Checkpoints in layouts other than ours, for every model in one place (as NVlabs/stylegan3's
``legacy.py``): each model registers the foreign formats it can read (a test and a conversion to
the native dict of ``util/checkpoint.py``) and the files it recognises but cannot use (a test and
what to give instead). ``load_checkpoint`` is what test.py, train.py and the scripts call.
"""
from typing import Callable, NamedTuple

import torch

from util.checkpoint import describe_keys, is_native, make_checkpoint, read_checkpoint
from util.errors import UserError


class ForeignFormat(NamedTuple):
    model: str
    name: str
    detect: Callable    # dict -> bool
    convert: Callable   # (dict, path) -> native dict


class Refusal(NamedTuple):
    detect: Callable    # dict -> bool
    message: Callable   # (dict, path) -> the one-line error


FORMATS = []
REFUSALS = []


def register_format(model, name, detect, convert):
    FORMATS.append(ForeignFormat(model, name, detect, convert))


def register_refusal(detect, message, first=False):
    """``first``: tried before the refusals registered so far (a more specific test)."""
    REFUSALS.insert(0 if first else len(REFUSALS), Refusal(detect, message))


def load_checkpoint(path):
    """Read any supported checkpoint and return it in the native layout (tensors on the CPU)."""
    ckpt = read_checkpoint(path)
    if is_native(ckpt):
        return ckpt
    for fmt in FORMATS:
        if fmt.detect(ckpt):
            return fmt.convert(ckpt, path)
    for refusal in REFUSALS:
        if refusal.detect(ckpt):
            raise UserError(refusal.message(ckpt, path))
    known = ' or '.join(dict.fromkeys(f.name for f in FORMATS))
    raise UserError(f'{path} is not a recognised checkpoint (top-level keys: {describe_keys(ckpt)}); expected a '
                    f'file written by train.py, {known}')


def _has_prefix(state, prefix):
    return isinstance(state, dict) and any(str(k).startswith(prefix) for k in state)


# ---- SPM-PGAN: the authors' release (WuyangLuo/SPMPGAN trainer.py's save) --------------------

#: what test.py needs instead of a file without an SPM-PGAN generator
SPMPGAN_GIVE_GENERATOR = ('give the file that holds the generator instead: latest.pth (or epoch_N.pth) written '
                          'by train.py, or the authors\' cityscapes.pth / ade20k.pth')
SPMPGAN_NETS = ('netG', 'netD_1', 'netD_2', 'netD_3')
SPMPGAN_OPTIMIZERS = ('optimizer_G', 'optimizer_D_1', 'optimizer_D_2', 'optimizer_D_3')


def _from_upstream_spmpgan(ckpt, path):
    """The authors' file ``{'netG', 'netD_1'..'netD_3', 'optimizer_*', 'epoch'}``: nets at top level,
    trained on BGR images; label_nc, ngf and the hidden width follow from the weight shapes."""
    g = ckpt['netG']
    try:
        label_nc = g['G1.enc1.mlp_shared_2.0.weight'].shape[1] - 2
        ngf = g['G1.enc1.conv2d.weight'].shape[0]
        hidden = g['G1.enc1.mlp_shared.0.weight'].shape[0]
    except KeyError as exc:
        raise UserError(f'{path} looks like an SPM-PGAN checkpoint but lacks {exc}; is it complete?') from None
    nets = {k: ckpt[k] for k in SPMPGAN_NETS if isinstance(ckpt.get(k), dict)}
    arch = {'label_nc': int(label_nc), 'ngf': int(ngf), 'hidden': int(hidden), 'color_order': 'bgr'}
    if 'netD_1' in nets:
        arch['ndf'] = int(nets['netD_1']['dis_model.0.conv.weight_orig'].shape[0])
    optimizers = {k: ckpt[k] for k in SPMPGAN_OPTIMIZERS if isinstance(ckpt.get(k), dict)}
    return make_checkpoint('spmpgan', arch, nets, optimizers, epoch=ckpt.get('epoch', 0),
                           format='upstream-spmpgan', format_version=0)


register_format('spmpgan', "the authors' SPM-PGAN release (cityscapes.pth, ade20k.pth)",
                lambda c: _has_prefix(c.get('netG'), 'G1.enc1.'), _from_upstream_spmpgan)
register_format('spmpgan', 'a bare SPM-PGAN generator state dict',
                lambda c: _has_prefix(c, 'G1.enc1.'), lambda c, path: _from_upstream_spmpgan({'netG': c}, path))


def _partial(ckpt):
    """What a dict without a generator holds, in words, or None: discriminators only (the authors'
    trainer can leave ``{'netD_1': ..., 'epoch': 0}``), optimiser states only."""
    keys = [str(k) for k in ckpt]
    d_nets = sorted(k for k in keys if k.startswith('netD') and isinstance(ckpt[k], dict))
    optimisers = sorted(k for k in keys if k.startswith('optimizer') and isinstance(ckpt[k], dict))
    parts = []
    if d_nets:
        parts.append(f'discriminator weights ({", ".join(d_nets)})')
    if optimisers:
        parts.append(f'optimiser states ({", ".join(optimisers)})')
    return ' and '.join(parts) or None


register_refusal(lambda c: 'netG' not in c and _partial(c) is not None,
                 lambda c, path: f'{path} holds {_partial(c)} but no generator (netG); {SPMPGAN_GIVE_GENERATOR}')
register_refusal(lambda c: _has_prefix(c, 'dis_model.'),
                 lambda c, path: f'{path} is a discriminator state dict (dis_model.*), not a generator (netG); '
                                 f'{SPMPGAN_GIVE_GENERATOR}')
register_refusal(lambda c: 'state' in c and 'param_groups' in c,
                 lambda c, path: f'{path} is an optimiser state, not a model checkpoint: it holds no generator '
                                 f'(netG); {SPMPGAN_GIVE_GENERATOR}')


def swap_color_order(nets):
    """BGR <-> RGB weights of an SPM-PGAN checkpoint: the image enters only each stage's enc1 (main
    and style convs) and the D's last three input channels, and leaves only through dec1.
    Reversing those channels gives a network with G'(x) = P·G(P·x) exactly (P = channel reversal)."""
    out = {}
    for name, sd in nets.items():
        sd = dict(sd)
        if name == 'netG':
            for s in ('G1', 'G2', 'G3'):
                for k in (f'{s}.enc1.conv2d.weight', f'{s}.enc1.mlp_shared.0.weight'):
                    sd[k] = _permute_rgb(sd[k], 1, 0)
                sd[f'{s}.dec1.conv.weight'] = _permute_rgb(sd[f'{s}.dec1.conv.weight'], 0, 0)
        elif name.startswith('netD'):
            w = sd['dis_model.0.conv.weight_orig']
            c = w.shape[1]
            sd['dis_model.0.conv.weight_orig'] = _permute_rgb(w, 1, c - 3)
            v = sd['dis_model.0.conv.weight_v'].view(c, -1)  # v indexes the columns of W.view(out, in·k·k)
            sd['dis_model.0.conv.weight_v'] = _permute_rgb(v, 0, c - 3).reshape(-1)
        out[name] = sd
    return out


def _permute_rgb(t, dim, start):
    """Reverse the 3 colour channels at [start, start+3) along ``dim``."""
    idx = list(range(t.shape[dim]))
    idx[start:start + 3] = idx[start:start + 3][::-1]
    return t.index_select(dim, torch.tensor(idx))


def fold_spectral_norm(state):
    """Replace every (weight_orig, weight_u, weight_v) by the eval-mode weight W / (uᵀ W v): the
    same outputs in eval mode with plain convs (a deployment file: it cannot be trained further)."""
    out = {}
    for k, v in state.items():
        if k.endswith('.weight_orig'):
            base = k[:-len('_orig')]
            u, vec = state[base + '_u'], state[base + '_v']
            sigma = torch.dot(u, v.reshape(v.shape[0], -1) @ vec)
            out[base] = v / sigma
        elif not k.endswith(('.weight_u', '.weight_v')):
            out[k] = v
    return out


# ---- SIEDOB: the authors' four files (WuyangLuo/SIEDOB), recognised by their keys ------------

SIEDOB_PARTS = {'background': 'background generator (netG_BG, the authors\' bg.pth)',
                'fusion': 'fusion network (netG_F, the authors\' Fnet.pth)',
                'object-inpainting': 'object-inpainting generator (the authors\' object_inpainting.pth)',
                'object-style': 'object-style generator (the authors\' object_style.pth)'}


def siedob_part(ckpt):
    if 'netG_BG' in ckpt:
        return 'background'
    if 'netG_F' in ckpt:
        return 'fusion'
    for prefix, part in (('fg_inpainting.', 'object-inpainting'), ('fg_style.', 'object-style')):
        if _has_prefix(ckpt.get('netG'), prefix):
            return part
    return None


register_refusal(
    lambda c: siedob_part(c) is not None,
    lambda c, path: f'{path} is a SIEDOB {siedob_part(c)} checkpoint: it holds SIEDOB\'s '
                    f'{SIEDOB_PARTS[siedob_part(c)]}, not an SPM-PGAN generator, and SIEDOB is not supported '
                    f'yet; give an SPM-PGAN checkpoint', first=True)
