"""Check a dataset before training on it: every file read with the project's own readers, one report
per split, a verdict line (what it checks: ``data/check.py``).

    python scripts/check_dataset.py --dataroot datasets --dataset_name cityscapes [--splits train,test]
        [--label_nc N] [--instance_format none|cityscapes|ade] [--mask_dir DIR] [--max_files N]
        [--crop_size 256|WxH] [--model M [--stage S]] [--json FILE]

Exit code: 0 without errors, 1 with errors, 2 for bad command-line use (one line ``error: ...``).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from semedit import models  # noqa: E402
from semedit.data import check  # noqa: E402
from semedit.util.atomic import atomic_write  # noqa: E402
from semedit.util.errors import ArgumentParser, UserError  # noqa: E402


def size_rule_of(model, stage):
    """The image sizes the model (default: train.py's default --model; ``stage``: one of its stages) accepts."""
    try:
        return models.find_model_using_name(model or models.DEFAULT_MODEL, stage).size_rule
    except ValueError as exc:
        raise UserError(str(exc)) from None


def main(argv=None):
    """Prints the report; returns 0 (no errors) or 1 (errors). Bad use: ``error: ...`` and SystemExit(2)."""
    p = ArgumentParser(description=check.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--dataroot', default='datasets', help='folder holding <dataset_name>/ (default: datasets)')
    p.add_argument('--dataset_name', required=True, help='cityscapes, ade20k, ADE20k-room, ADE20k-landscape, demo '
                                                          'or custom')
    p.add_argument('--label_nc', type=int, default=None, help='number of label ids (required for custom)')
    p.add_argument('--instance_format', choices=['none', 'cityscapes', 'ade'], default=None,
                   help='custom data: format of inst_map/ files (default none)')
    p.add_argument('--splits', default='train,test', help='comma-separated splits to check (default train,test)')
    p.add_argument('--mask_dir', default=None, help='predefined test masks to check against the test split')
    p.add_argument('--max_files', type=int, default=None, help='check only the first N files (sorted) per split')
    p.add_argument('--crop_size', default='256', help='training crop, N or WxH (default 256)')
    p.add_argument('--model', default=None, help='the model whose size rule the crop and the test images are '
                                                 'checked against (default: train.py\'s default --model)')
    p.add_argument('--stage', default=None, help='the stage of a model trained in parts (--model siedob --stage '
                                                 'background)')
    p.add_argument('--json', default=None, metavar='FILE', help='also write the findings as JSON')
    a = p.parse_args(argv)
    try:
        result = check.check_dataset(a.dataroot, a.dataset_name, label_nc=a.label_nc,
                                     instance_format=a.instance_format, splits=a.splits, mask_dir=a.mask_dir,
                                     max_files=a.max_files, crop_size=a.crop_size,
                                     size_rule=size_rule_of(a.model, a.stage))
    except UserError as exc:
        print(f'error: {exc}', file=sys.stderr)
        raise SystemExit(2)
    print(check.format_report(result))
    if a.json:
        atomic_write(a.json, json.dumps(result, indent=2))
    return 0 if result['ok'] else 1


if __name__ == '__main__':
    sys.exit(main())
