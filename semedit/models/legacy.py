"""Checkpoints in layouts other than ours, for every model in one place (as NVlabs/stylegan3's
``legacy.py``): each model registers the foreign formats it can read (a test and a conversion to
the native dict of ``util/checkpoint.py``) and the files it recognises but cannot use (a test and
what to give instead). ``load_checkpoint`` is what test.py, train.py and the scripts call;
``convert_checkpoint`` turns a checkpoint into either layout (scripts/convert_checkpoint.py).

A converted file's ``arch`` holds what its weights show: ``ndf`` only where a discriminator is in
the file (without one, the width it had is unknown: training continued from the file takes
``--ndf``). The authors' layouts keep the epoch but no iteration count.
"""
from typing import Callable, NamedTuple

import torch

from semedit.data.siedob_constants import THING_CLASSES
from semedit.util.checkpoint import describe_keys, is_native, make_checkpoint, read_checkpoint
from semedit.util.errors import UserError


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


def to_upstream_spmpgan(ckpt):
    """Ours -> the authors' trainer.py layout (nets and optimisers at top level, same names)."""
    out = {'epoch': int(ckpt.get('epoch', 0))}
    out.update(ckpt['nets'])
    out.update(ckpt.get('optimizers', {}))
    return out


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

#: stage -> the authors' file (upstream fusion/submodels/, fusion/test_one_image.py), in their loading order
SIEDOB_FILES = {'object_inpainting': 'object_inpainting.pth', 'object_style': 'object_style.pth',
                'background': 'bg.pth', 'fusion': 'Fnet.pth'}
SIEDOB_PARTS = {'background': f'background generator (netG_BG, the authors\' {SIEDOB_FILES["background"]})',
                'fusion': f'fusion network (netG_F, the authors\' {SIEDOB_FILES["fusion"]})',
                'object_inpainting': f'object-inpainting generator (the authors\' {SIEDOB_FILES["object_inpainting"]})',
                'object_style': f'object-style generator (the authors\' {SIEDOB_FILES["object_style"]})'}
SIEDOB_SUPPORTED = ('background', 'object_inpainting', 'object_style', 'fusion')
#: the authors' object files: netG is their training wrapper, whose net sits under this prefix
SIEDOB_OBJECT_PREFIXES = {'object_inpainting': 'fg_inpainting.', 'object_style': 'fg_style.'}
SIEDOB_OBJECT_D = {'object_inpainting': 'netD_inp', 'object_style': 'netD_style'}

#: our optimiser names -> the authors' (background/trainer.py)
SIEDOB_BACKGROUND_OPTIMIZERS = {'optimizer_G_BG': 'optimizer_G_BG', 'optimizer_D_BG': 'optimizer_D_bg',
                                'optimizer_D_patch': 'optimizer_D_patch'}
SIEDOB_BACKGROUND_NETS = ('netG_BG', 'netD_BG', 'netD_patch')


def siedob_part(ckpt):
    if 'netG_BG' in ckpt:
        return 'background'
    if 'netG_F' in ckpt:
        return 'fusion'
    for part, prefix in SIEDOB_OBJECT_PREFIXES.items():
        if _has_prefix(ckpt.get('netG'), prefix):
            return part
    return None


def _is_bg_generator(state):
    return _has_prefix(state, 'style1.stylelayer.') and _has_prefix(state, 'enc8.')


def _from_upstream_siedob_background(ckpt, path):
    """The authors' ``bg.pth`` (``{'netG_BG', ...}``, maybe with ``netD_BG``, ``netD_patch``, their
    optimisers and ``epoch``): BGR images; label_nc and ngf follow from the weight shapes."""
    g = ckpt['netG_BG']
    if not _is_bg_generator(g):
        raise UserError(f'{path}: netG_BG is not a SIEDOB background generator (no enc8.* / style1.* entries); '
                        f'is the file complete?')
    try:
        w = g['init_conv.conv.weight']
    except KeyError:
        raise UserError(f'{path} looks like SIEDOB\'s bg.pth but lacks init_conv.conv.weight; is it complete?') \
            from None
    label_nc = int(w.shape[1]) - 5  # masked image 3, labels, edge 1, mask 1
    arch = {'label_nc': label_nc, 'ngf': int(w.shape[0]), 'color_order': 'bgr',
            'object_classes': list(THING_CLASSES) if label_nc == 34 else [], 'keep_label_0': False}
    nets = {k: ckpt[k] for k in SIEDOB_BACKGROUND_NETS if isinstance(ckpt.get(k), dict)}
    if 'netD_BG' in nets:
        arch['ndf'] = int(nets['netD_BG']['dis_model.0.conv.weight_orig'].shape[0])
    optimizers = {ours: ckpt[theirs] for ours, theirs in SIEDOB_BACKGROUND_OPTIMIZERS.items()
                  if isinstance(ckpt.get(theirs), dict)}
    return make_checkpoint('siedob', arch, nets, optimizers, epoch=ckpt.get('epoch', 0), stage='background',
                           format='upstream-siedob-background', format_version=0)


def to_upstream_siedob_background(ckpt):
    """Ours -> the authors' background/trainer.py layout (what their fusion code reads as bg.pth)."""
    out = {'epoch': int(ckpt.get('epoch', 0))}
    out.update({k: v for k, v in ckpt['nets'].items() if k in SIEDOB_BACKGROUND_NETS})
    out.update({SIEDOB_BACKGROUND_OPTIMIZERS[k]: v for k, v in ckpt.get('optimizers', {}).items()
                if k in SIEDOB_BACKGROUND_OPTIMIZERS})
    return out


def _from_upstream_siedob_object(part):
    """The authors' object_inpainting.pth / object_style.pth: ``{'netG': {'fg_…' + key}, netD_…,
    optimizer_G, optimizer_D_…, 'epoch'}`` (instance_*/trainer.py's save), BGR; ngf and ndf from the
    weight shapes. Our generator is their wrapper's inner net: the prefix goes."""
    prefix, d_name = SIEDOB_OBJECT_PREFIXES[part], SIEDOB_OBJECT_D[part]

    def convert(ckpt, path):
        g = {k.replace(prefix, '', 1): v for k, v in ckpt['netG'].items()}
        if 'init_conv.conv.weight' not in g:
            raise UserError(f'{path} looks like SIEDOB\'s {part} file but lacks {prefix}init_conv.conv.weight; '
                            f'is it complete?')
        nets = {'netG': g}
        arch = {'ngf': int(g['init_conv.conv.weight'].shape[0]), 'color_order': 'bgr'}
        if isinstance(ckpt.get(d_name), dict):
            nets[d_name] = ckpt[d_name]
            arch['ndf'] = int(ckpt[d_name]['dis_model.0.conv.weight_orig'].shape[0])
        optimizers = {k: ckpt[k] for k in ('optimizer_G', 'optimizer_' + d_name[3:]) if isinstance(ckpt.get(k), dict)}
        return make_checkpoint('siedob', arch, nets, optimizers, epoch=ckpt.get('epoch', 0), stage=part,
                               format=f'upstream-siedob-{part}', format_version=0)
    return convert


def _to_upstream_siedob_object(part):
    def export(ckpt):
        out = {'epoch': int(ckpt.get('epoch', 0))}
        out['netG'] = {SIEDOB_OBJECT_PREFIXES[part] + k: v for k, v in ckpt['nets']['netG'].items()}
        out.update({k: v for k, v in ckpt['nets'].items() if k != 'netG'})
        out.update(ckpt.get('optimizers', {}))  # the authors' names: optimizer_G, optimizer_D_inp / _style
        return out
    return export


register_format('siedob', "the authors' SIEDOB object-inpainting generator (object_inpainting.pth)",
                lambda c: siedob_part(c) == 'object_inpainting', _from_upstream_siedob_object('object_inpainting'))
register_format('siedob', "the authors' SIEDOB object-style generator (object_style.pth)",
                lambda c: siedob_part(c) == 'object_style', _from_upstream_siedob_object('object_style'))

def _is_fusion_network(state):
    """F_stage's entries: a 5-channel init_conv (image, mask, edges) and six encoders."""
    w = state.get('init_conv.conv.weight') if isinstance(state, dict) else None
    return torch.is_tensor(w) and w.dim() == 4 and w.shape[1] == 5 and _has_prefix(state, 'enc6.') \
        and not _has_prefix(state, 'enc7.')


SIEDOB_FUSION_OPTIMIZERS = ('optimizer_G_F', 'optimizer_D_F')


def _from_upstream_siedob_fusion(ckpt, path):
    """The authors' ``Fnet.pth`` (``{'netG_F', ...}``, maybe with ``netD_F``, ``optimizer_G_F``,
    ``optimizer_D_F`` and ``epoch``; fusion/trainer.py's save), BGR; ngf from the weight shapes."""
    g = ckpt['netG_F']
    if not _is_fusion_network(g):
        raise UserError(f'{path}: netG_F is not a SIEDOB fusion network (no 5-channel init_conv.conv.weight / '
                        f'enc6.* entries); is the file complete?')
    nets = {'netG_F': g}
    arch = {'ngf': int(g['init_conv.conv.weight'].shape[0]), 'color_order': 'bgr'}
    if isinstance(ckpt.get('netD_F'), dict):
        nets['netD_F'] = ckpt['netD_F']
        arch['ndf'] = int(ckpt['netD_F']['dis_model.0.conv.weight_orig'].shape[0])
    optimizers = {k: ckpt[k] for k in SIEDOB_FUSION_OPTIMIZERS if isinstance(ckpt.get(k), dict)}
    return make_checkpoint('siedob', arch, nets, optimizers, epoch=ckpt.get('epoch', 0), stage='fusion',
                           format='upstream-siedob-fusion', format_version=0)


def to_upstream_siedob_fusion(ckpt):
    """Ours -> the authors' fusion/trainer.py layout (what their test_one_image.py reads as Fnet.pth)."""
    out = {'epoch': int(ckpt.get('epoch', 0))}
    out.update({k: v for k, v in ckpt['nets'].items() if k in ('netG_F', 'netD_F')})
    out.update({k: v for k, v in ckpt.get('optimizers', {}).items() if k in SIEDOB_FUSION_OPTIMIZERS})
    return out


register_format('siedob', "the authors' SIEDOB fusion network (Fnet.pth)",
                lambda c: isinstance(c.get('netG_F'), dict), _from_upstream_siedob_fusion)
register_format('siedob', 'a bare SIEDOB fusion-network state dict', _is_fusion_network,
                lambda c, path: _from_upstream_siedob_fusion({'netG_F': c}, path))

#: (model, stage) -> the function writing the authors' layout (scripts/convert_checkpoint.py --to upstream)
UPSTREAM_EXPORTS = {('spmpgan', None): to_upstream_spmpgan, ('siedob', 'background'): to_upstream_siedob_background,
                    ('siedob', 'object_inpainting'): _to_upstream_siedob_object('object_inpainting'),
                    ('siedob', 'object_style'): _to_upstream_siedob_object('object_style'),
                    ('siedob', 'fusion'): to_upstream_siedob_fusion}


def to_upstream(ckpt):
    """A native checkpoint in its authors' layout; a one-line error for a model or stage without one."""
    key = (ckpt.get('model'), ckpt.get('stage'))
    if key not in UPSTREAM_EXPORTS:
        have = ', '.join(m + (f' --stage {s}' if s else '') for m, s in UPSTREAM_EXPORTS)
        raise UserError(f'no authors\' layout is known for {key[0]}' + (f' --stage {key[1]}' if key[1] else '')
                        + f'; known: {have}')
    return UPSTREAM_EXPORTS[key](ckpt)


register_format('siedob', "the authors' SIEDOB background generator (bg.pth)",
                lambda c: isinstance(c.get('netG_BG'), dict), _from_upstream_siedob_background)
register_format('siedob', 'a bare SIEDOB background-generator state dict', _is_bg_generator,
                lambda c, path: _from_upstream_siedob_background({'netG_BG': c}, path))


# ---- converting between layouts (scripts/convert_checkpoint.py) ------------------------------------

def convert_checkpoint(ckpt, to, color_order=None, fold_sn=False):
    """A native checkpoint dict in the layout ``to`` ('ours' or 'upstream': its authors'), its
    colour channels permuted to ``color_order`` and its spectral norm folded (``fold_sn``), both
    SPM-PGAN only -> (object to save, summary lines)."""
    arch = dict(ckpt['arch'])
    nets = dict(ckpt['nets'])
    optimizers = dict(ckpt.get('optimizers', {}))
    what = ckpt.get('model', '?') + (f' --stage {ckpt["stage"]}' if ckpt.get('stage') else '')
    labels = f'label_nc {arch["label_nc"]}, ' if 'label_nc' in arch else ''
    notes = [f'input: {ckpt["format"]} format, {what}, {labels}ngf {arch["ngf"]}, '
             f'colour order {arch["color_order"]}, nets {", ".join(sorted(nets))}']
    if (color_order and color_order != arch['color_order'] or fold_sn) and ckpt.get('model') != 'spmpgan':
        raise UserError(f'--color_order and --fold_sn convert SPM-PGAN weights; this is {what}: '
                        f'convert it without them')
    if color_order and color_order != arch['color_order']:
        nets = swap_color_order(nets)
        optimizers = {}  # Adam moments belong to the old channel order
        notes.append(f'permuted the colour channels of the weights: {arch["color_order"]} -> {color_order} '
                     f'(optimiser states dropped)')
        arch['color_order'] = color_order
    if fold_sn:
        if not arch.get('spectral_norm', True):
            raise UserError('the spectral norm of this checkpoint is already folded')
        before = len(nets['netG'])
        nets = {'netG': fold_spectral_norm(nets['netG'])}
        optimizers = {}
        arch['spectral_norm'] = False
        notes.append(f'folded the spectral norm of {(before - len(nets["netG"])) // 2} decoder convs into plain '
                     f'weights (netG only; for test.py, not for training)')
    if to == 'upstream':
        if arch['color_order'] != 'bgr':
            raise UserError('the authors\' code feeds BGR images: add --color_order bgr to convert the weights')
        if not arch.get('spectral_norm', True):
            raise UserError('the authors\' code needs the spectral-norm layout: do not use --fold_sn with '
                            '--to upstream')
        # hard-coded in their networks (object_style: 32)
        authors_ngf = {'object_inpainting': 64}.get(ckpt.get('stage'), 32)
        if arch.get('hidden', 2 * arch['ngf']) != 2 * authors_ngf or arch['ngf'] != authors_ngf:
            notes.append(f'note: ngf {arch["ngf"]} differs from the authors\' {authors_ngf}; their code cannot '
                         f'build this net')
        if ckpt.get('total_iters'):
            notes.append(f'note: the authors\' layout keeps the epoch ({int(ckpt.get("epoch", 0))}) but not the '
                         f'iteration count ({ckpt["total_iters"]}): keep this file to continue training with train.py')
        out = to_upstream(dict(ckpt, arch=arch, nets=nets, optimizers=optimizers))
        sizes = ', '.join(f'{k} {len(v)} entries' for k, v in out.items() if k.startswith('net'))
        notes.append(f'output: authors\' layout, keys {", ".join(out)}; {sizes}')
        return out, notes
    out = make_checkpoint(ckpt['model'], arch, nets, optimizers, ckpt.get('epoch', 0), ckpt.get('epoch_iter', 0),
                          ckpt.get('total_iters', 0), ckpt.get('rng'), ckpt.get('opt'), stage=ckpt.get('stage'))
    notes.append(f'output: our format, nets {", ".join(sorted(nets))}, colour order {arch["color_order"]}'
                 + (', spectral norm folded' if not arch.get('spectral_norm', True) else ''))
    return out, notes
