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
test.py reads every result directly. The conversion rules are ``models.legacy.convert_checkpoint``.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from semedit.models.legacy import convert_checkpoint, load_checkpoint  # noqa: E402
from semedit.util.checkpoint import save_checkpoint  # noqa: E402
from semedit.util.errors import ArgumentParser, UserError, exit_on_user_error  # noqa: E402


def main(argv=None):
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
        out, notes = convert_checkpoint(load_checkpoint(a.input), a.to, a.color_order, a.fold_sn)
        save_checkpoint(out, a.output)
    for line in notes:
        print(line)
    print(f'wrote {a.output} ({os.path.getsize(a.output) / 2 ** 20:.1f} MiB)')


if __name__ == '__main__':
    main()
