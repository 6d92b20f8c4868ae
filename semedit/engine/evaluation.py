"""Metrics of edited images: FID, LPIPS, masked L1 / PSNR / SSIM, mIoU (scripts/evaluate.py), and
FID on the test split during training (upstream evaluates every 20 epochs and keeps the best)."""
import importlib.util
import json
import os
import types

import numpy as np

from semedit.engine.editing import edit_test_split
from semedit.util.errors import UserError
from semedit.util.image_io import read_image, read_label, read_mask
from semedit.util.metrics import FID, LPIPS, masked_metrics


class TrainFID:
    """Built at the start of training, so a missing Inception file fails before hours of work."""

    def __init__(self, opt, device, items='edit'):
        self.opt = opt
        self.fid = FID(device, opt.inception_path, color_order=opt.fid_color_order)
        self.log_path = os.path.join(opt.checkpoints_dir, opt.name, 'metrics_log.jsonl')
        self.best = min((r['FID'] for r in self._history()), default=float('inf'))
        from semedit import data
        test_opt = types.SimpleNamespace(**vars(opt))
        test_opt.mask_dir = opt.eval_mask_dir
        # the model's kind of samples (its dataset_items); checks --eval_mask_dir now, not after an epoch
        self.dataset = data.create_dataset(test_opt, 'test', items)

    def _history(self):
        if not os.path.isfile(self.log_path):
            return []
        with open(self.log_path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def __call__(self, model, epoch, total_iters):
        """Returns (fid, is_best) and appends to metrics_log.jsonl."""
        model.eval()
        try:
            reals, fakes = [], []
            for _, s, out, _ in edit_test_split(model, self.dataset, how_many=self.opt.eval_how_many, progress=False):
                reals.append(s['image'])
                fakes.append(out)
        finally:
            model.train()
        fid = self.fid.distance(reals, fakes)
        is_best = fid < self.best
        self.best = min(self.best, fid)
        with open(self.log_path, 'a') as f:
            f.write(json.dumps({'epoch': epoch, 'iters': total_iters, 'FID': fid}) + '\n')
        return fid, is_best


def load_seg_model(spec):
    path, _, fn = spec.rpartition(':')
    if not path or not os.path.isfile(path):
        raise UserError(f'--seg_model {spec}: give FILE.py:function (file not found: {path or spec})')
    mod_spec = importlib.util.spec_from_file_location('user_seg_model', path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    if not hasattr(module, fn):
        raise UserError(f'--seg_model {spec}: {path} defines no function {fn!r}')
    return getattr(module, fn)


def mean_iou(confusion):
    inter = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - inter
    valid = union > 0
    return float((inter[valid] / union[valid]).mean()) if valid.any() else float('nan')


def metric_networks(device, opt):
    """(FID, LPIPS or None), built before any editing: a missing weights file stops the run at once."""
    fid = FID(device, opt.inception_path, color_order=opt.fid_color_order)
    lpips = None if opt.no_lpips else LPIPS(device, opt.lpips_backbone_path)
    return fid, lpips


#: below this many images FID says little: two samples of one distribution already differ by tens
#: (the papers' test splits: 500 Cityscapes, 2,000 ADE20K images)
FEW_FOR_FID = 100


def compute_metrics(pairs, networks, label_nc, seg_fn=None):
    """pairs: list of (edited path, real path, mask path, label path); networks: metric_networks()."""
    fid, lpips = networks
    if len(pairs) < FEW_FOR_FID:
        print(f'note: FID over {len(pairs)} images is only a rough indication (two samples of one distribution '
              f'that small already differ by tens); the papers report it over whole test splits')
    fakes = [read_image(p) for p, _, _, _ in pairs]
    reals = [read_image(p) for _, p, _, _ in pairs]
    result = {'fid': fid.distance(reals, fakes)}
    per = [masked_metrics(f, r, read_mask(m)) for f, r, (_, _, m, _) in zip(fakes, reals, pairs)]
    for key in ('l1', 'psnr', 'ssim'):
        vals = [p[key] for p in per if np.isfinite(p[key])]
        result[key] = float(np.mean(vals)) if vals else float('nan')
    if lpips is not None:
        result['lpips'] = float(np.mean([lpips(f, r) for f, r in zip(fakes, reals)]))
    if seg_fn is not None:
        conf = np.zeros((label_nc, label_nc), np.int64)
        for f, (_, _, _, lab) in zip(fakes, pairs):
            pred = np.asarray(seg_fn(f)).astype(np.int64)
            gt = read_label(lab, label_nc)
            ok = (pred >= 0) & (pred < label_nc)
            conf += np.bincount(gt[ok] * label_nc + pred[ok], minlength=label_nc ** 2).reshape(label_nc, label_nc)
        result['miou'] = mean_iou(conf)
    return result
