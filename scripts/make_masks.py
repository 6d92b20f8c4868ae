"""Write a deterministic evaluation mask set, or verify a copy of one (what it holds and how it is
drawn: ``--help``, or ``data/mask_sets.py``):

    python scripts/make_masks.py --out_dir masks/ [--count 2000] [--size 256 | WxH] [--seed 0]
        [--mix brush,right_half,outpainting,box] [--dataroot D --dataset_name X] [--overwrite]
    python scripts/make_masks.py --verify masks/
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from semedit.data import mask_sets  # noqa: E402
from semedit.data.mask_sets import DEFAULT_COUNT, DEFAULT_MIX, FAMILIES, make_masks, verify_mask_set  # noqa: E402
from semedit.util.errors import ArgumentParser, exit_on_user_error  # noqa: E402


def main(argv=None):
    p = ArgumentParser(description=mask_sets.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument('--out_dir', help='folder for NNNN.png and masks.json')
    target.add_argument('--verify', metavar='DIR', help='check that DIR holds the masks its masks.json records')
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
    with exit_on_user_error():
        if a.verify:
            meta = verify_mask_set(a.verify)
            print(f'OK: the {len(meta["masks"])} masks in {a.verify} match its masks.json (format {meta["format"]})')
        else:
            make_masks(a.out_dir, count=a.count, size=a.size, seed=a.seed, mix=a.mix, dataroot=a.dataroot,
                       dataset_name=a.dataset_name, label_nc=a.label_nc, instance_format=a.instance_format,
                       inclusive_box=a.inclusive_box, overwrite=a.overwrite)
    return 0


if __name__ == '__main__':
    sys.exit(main())
