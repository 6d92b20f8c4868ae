"""FID on the test split during training (upstream evaluates every 20 epochs and keeps the best)."""
import json
import os
import types

from engine.editing import edit_test_split
from util.metrics import FID


class TrainFID:
    """Built at the start of training, so a missing Inception file fails before hours of work."""

    def __init__(self, opt, device):
        self.opt = opt
        self.fid = FID(device, opt.inception_path, random_init=opt.metric_stand_ins, color_order=opt.fid_color_order)
        self.log_path = os.path.join(opt.checkpoints_dir, opt.name, 'metrics_log.jsonl')
        self.best = min((r['FID'] for r in self._history()), default=float('inf'))
        import data
        test_opt = types.SimpleNamespace(**vars(opt))
        test_opt.mask_dir = opt.eval_mask_dir
        self.dataset = data.create_dataset(test_opt, 'test')  # checks --eval_mask_dir now, not after an epoch

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
