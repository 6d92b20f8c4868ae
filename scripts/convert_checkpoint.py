"""Convert checkpoints between the authors' layouts and ours.

    python scripts/convert_checkpoint.py IN.pth OUT.pth --to ours       # authors' cityscapes.pth / bg.pth -> ours
    python scripts/convert_checkpoint.py IN.pth OUT.pth --to upstream   # ours (BGR) -> authors' layout
    python scripts/convert_checkpoint.py IN.pth OUT.pth --to ours --color_order rgb   # SPM-PGAN: RGB weights
    python scripts/convert_checkpoint.py IN.pth OUT.pth --to ours --fold_sn           # SPM-PGAN: plain convs

The authors' layouts (their trainers' saves, BGR weights): SPM-PGAN ``{'netG', 'netD_1'..'netD_3',
'optimizer_*', 'epoch'}``; SIEDOB's background stage (bg.pth) ``{'netG_BG', 'netD_BG', 'netD_patch',
'optimizer_G_BG', 'optimizer_D_bg', 'optimizer_D_patch', 'epoch'}``. For SPM-PGAN ``--color_order``
permutes the colour channels of the weights, exactly; ``--fold_sn`` folds the eval-mode spectral
norm of the decoder convs into plain weights, giving identical eval outputs, and keeps only netG.
test.py reads every result directly.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from models.legacy import fold_spectral_norm, load_checkpoint, swap_color_order, to_upstream  # noqa: E402
from util.checkpoint import make_checkpoint, save_checkpoint  # noqa: E402
from util.errors import UserError, exit_on_user_error  # noqa: E402


def convert(ckpt, to, color_order=None, fold_sn=False):
    """Native checkpoint dict -> (object to save, list of summary lines)."""
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
            raise UserError('the authors\' code needs the spectral-norm layout: do not use --fold_sn with --to upstream')
        authors_ngf = {'object_inpainting': 64}.get(ckpt.get('stage'), 32)  # object_style: 32  # hard-coded in their networks
        if arch.get('hidden', 2 * arch['ngf']) != 2 * authors_ngf or arch['ngf'] != authors_ngf:
            notes.append(f'note: ngf {arch["ngf"]} differs from the authors\' {authors_ngf}; their code cannot '
                         f'build this net')
        out = to_upstream(dict(ckpt, arch=arch, nets=nets, optimizers=optimizers))
        sizes = ', '.join(f'{k} {len(v)} entries' for k, v in out.items() if k.startswith('net'))
        notes.append(f'output: authors\' layout, keys {", ".join(out)}; {sizes}')
        return out, notes
    out = make_checkpoint(ckpt['model'], arch, nets, optimizers, ckpt.get('epoch', 0), ckpt.get('epoch_iter', 0),
                          ckpt.get('total_iters', 0), ckpt.get('rng'), ckpt.get('opt'), stage=ckpt.get('stage'))
    notes.append(f'output: our format, nets {", ".join(sorted(nets))}, colour order {arch["color_order"]}'
                 + (', spectral norm folded' if not arch.get('spectral_norm', True) else ''))
    return out, notes


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('input', help='checkpoint to read (ours or the authors\')')
    p.add_argument('output', help='file to write')
    p.add_argument('--to', choices=['ours', 'upstream'], required=True, help='layout of the output')
    p.add_argument('--color_order', choices=['bgr', 'rgb'], default=None,
                   help='permute the weights to this colour order (exact); default: keep')
    p.add_argument('--fold_sn', action='store_true', help='fold the decoder spectral norm into plain weights')
    a = p.parse_args(argv)
    with exit_on_user_error():
        if os.path.abspath(a.input) == os.path.abspath(a.output):
            raise UserError('the output must be a new file, not the input')
        out, notes = convert(load_checkpoint(a.input), a.to, a.color_order, a.fold_sn)
        save_checkpoint(out, a.output)
    for line in notes:
        print(line)
    print(f'wrote {a.output} ({os.path.getsize(a.output) / 2 ** 20:.1f} MiB)')


if __name__ == '__main__':
    main()
