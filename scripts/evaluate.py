"""Evaluate a checkpoint on a test split with predefined masks: FID, LPIPS, masked L1/PSNR/SSIM
(and mIoU with a segmentation network you supply). Usually called through scripts/eval_fid.sh.

    python scripts/evaluate.py --name city_spmpgan --dataset_name cityscapes --mask_dir masks/cityscapes
    python scripts/evaluate.py --checkpoint cityscapes.pth --name authors --dataset_name cityscapes --mask_dir M

Writes results/<name>/test_<which_epoch>/{edited,masked,masks}/, metrics.json and metrics.md, and
appends a row to results/runs.md (and runs.jsonl) for comparing checkpoints.
"""
import datetime
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from semedit.engine.evaluation import compute_metrics, load_seg_model, metric_networks  # noqa: E402
from semedit.engine.inference import build_model, parse_with_checkpoint, run_test_split  # noqa: E402
from semedit.options.test_options import TestOptions  # noqa: E402
from semedit.options.train_options import add_metric_options  # noqa: E402
from semedit.util.atomic import atomic_write  # noqa: E402
from semedit.util.errors import UserError, exit_on_user_error  # noqa: E402

METRIC_COLUMNS = ('fid', 'lpips', 'l1', 'psnr', 'ssim', 'miou')


class EvalOptions(TestOptions):
    description = __doc__.split('\n\n')[0]

    def initialize(self, parser):
        TestOptions.initialize(self, parser)
        g = parser.add_argument_group('evaluation')
        add_metric_options(g)
        g.add_argument('--skip_test', action='store_true',
                       help='reuse the images already in results/<name>/test_<which_epoch>/ instead of editing again')
        g.add_argument('--no_lpips', action='store_true', help='skip LPIPS')
        g.add_argument('--seg_model', default=None,
                       help='FILE.py:function taking an H×W×3 uint8 RGB image and returning H×W label ids; '
                            'adds mIoU of the edited images against their label maps')
        g.add_argument('--runs_table', default=None, help='Markdown table to append to (default results/runs.md)')
        return parser


def markdown_row(cells):
    return '| ' + ' | '.join(str(c) for c in cells) + ' |'


def fmt(v):
    return '–' if v is None or (isinstance(v, float) and not np.isfinite(v)) else f'{v:.4f}'


def write_reports(record, out_dir, runs_table):
    atomic_write(os.path.join(out_dir, 'metrics.json'), json.dumps(record, indent=2) + '\n')
    header = ['name', 'epoch', 'dataset', 'masks', 'n'] + [c.upper() if c != 'lpips' else 'LPIPS' for c in METRIC_COLUMNS]
    name = record['name']
    row = [name, record['which_epoch'], record['dataset'], os.path.basename(record['mask_dir'].rstrip('/')),
           record['n_images']] + [fmt(record['metrics'].get(c)) for c in METRIC_COLUMNS]
    sep = markdown_row(['---'] * len(header))
    atomic_write(os.path.join(out_dir, 'metrics.md'), '\n'.join([markdown_row(header), sep, markdown_row(row)]) + '\n')
    existing = open(runs_table).read() if os.path.isfile(runs_table) else markdown_row(header) + '\n' + sep + '\n'
    atomic_write(runs_table, existing + markdown_row(row) + '\n')
    jsonl = os.path.splitext(runs_table)[0] + '.jsonl'
    existing = open(jsonl).read() if os.path.isfile(jsonl) else ''
    atomic_write(jsonl, existing + json.dumps(record) + '\n')
    return markdown_row(header) + '\n' + sep + '\n' + markdown_row(row)


def main(argv=None):
    with exit_on_user_error():
        options = EvalOptions()
        opt, ckpt, ckpt_path = parse_with_checkpoint(options, argv)
        if not opt.mask_dir:
            raise UserError('--mask_dir is required: predefined masks make results comparable (scripts/make_masks.py)')
        from semedit import data
        # everything that can fail is checked before the test split is edited (hours on Cityscapes)
        from semedit import models
        items = models.find_model_using_name(ckpt['model'], ckpt.get('stage')).dataset_items
        dataset = data.create_dataset(opt, 'test', items)  # checks the masks' count and sizes
        seg_fn = load_seg_model(opt.seg_model) if opt.seg_model else None
        model, ckpt_path = build_model(opt, ckpt, ckpt_path, options.parser)
        networks = metric_networks(model.device, opt)
        out_dir = os.path.join(opt.results_dir, opt.name, f'test_{opt.which_epoch}')
        if not opt.skip_test:
            run_test_split(opt, model, dataset)
        n = len(dataset) if opt.how_many is None else min(opt.how_many, len(dataset))
        pairs = []
        for i in range(n):
            stem = dataset.stems[i]
            edited = os.path.join(out_dir, 'edited', stem + '.png')
            if not os.path.isfile(edited):
                raise UserError(f'{edited} is missing: run without --skip_test')
            pairs.append((edited, dataset.image_paths[i], dataset.mask_paths[i], dataset._label_path(i)))
        metrics = compute_metrics(pairs, networks, model.label_nc, seg_fn)
        record = {'name': opt.name, 'checkpoint': ckpt_path, 'which_epoch': opt.which_epoch,
                  'dataset': opt.dataset_name, 'mask_dir': opt.mask_dir, 'n_images': n,
                  'fid_color_order': opt.fid_color_order,
                  'time': datetime.datetime.now().isoformat(timespec='seconds'), 'metrics': metrics}
        table = write_reports(record, out_dir, opt.runs_table or os.path.join(opt.results_dir, 'runs.md'))
    print(table)
    print(f'Wrote {os.path.join(out_dir, "metrics.json")} and metrics.md')
    return record


if __name__ == '__main__':
    main()
