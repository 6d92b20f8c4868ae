"""Write a deterministic evaluation mask set (what it holds and how it is drawn: ``--help``, or
``data/mask_sets.py``):

    python scripts/make_masks.py --out_dir masks/ [--count 2000] [--size 256 | WxH] [--seed 0]
        [--mix brush,right_half,outpainting,box] [--dataroot D --dataset_name X] [--overwrite]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from data import mask_sets  # noqa: E402
from data.mask_sets import DEFAULT_COUNT, DEFAULT_MIX, FAMILIES, make_masks  # noqa: E402
from util.errors import UserError  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=mask_sets.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out_dir', required=True, help='folder for NNNN.png and masks.json')
    p.add_argument('--count', type=int, default=None,
                   help=f'number of masks (default {DEFAULT_COUNT}, or the number of test images with --dataroot)')
    p.add_argument('--size', default=None, help='N or WxH (default 256); not with --dataroot')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--mix', default=','.join(DEFAULT_MIX),
                   help=f'families, round-robin by index: {", ".join(FAMILIES)} (class and instance_box need '
                        f'--dataroot/--dataset_name)')
    p.add_argument('--dataroot', default=None, help='pair the masks with <dataroot>/<dataset_name>/test/images')
    p.add_argument('--dataset_name', default=None)
    p.add_argument('--label_nc', type=int, default=None, help='custom data: number of label ids')
    p.add_argument('--instance_format', choices=['none', 'cityscapes', 'ade'], default=None,
                   help='custom data: format of inst_map/ files (default none)')
    p.add_argument('--inclusive_box', action='store_true', help='instance_box includes its last row and column')
    p.add_argument('--overwrite', action='store_true', help='write into a folder that is not empty')
    a = p.parse_args(argv)
    try:
        make_masks(a.out_dir, count=a.count, size=a.size, seed=a.seed, mix=a.mix, dataroot=a.dataroot,
                   dataset_name=a.dataset_name, label_nc=a.label_nc, instance_format=a.instance_format,
                   inclusive_box=a.inclusive_box, overwrite=a.overwrite)
    except UserError as exc:
        print(f'error: {exc}', file=sys.stderr)
        raise SystemExit(2)
    return 0




if __name__ == '__main__':
    sys.exit(main())
