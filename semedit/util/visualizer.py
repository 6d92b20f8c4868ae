"""Image grids, label colouring, TensorBoard logging, and the loss log (written and read back)."""
import os
import re

import numpy as np
import torch

from semedit.util.image_io import save_image_atomic
from semedit.util.label_classes import palette
from semedit.util.tensors import tensor_to_image


def colorize_label(label, label_nc):
    """H×W ids -> H×W×3 uint8, each id its colour of ``util.label_classes``."""
    return palette(label_nc)[np.clip(np.asarray(label), 0, None) % max(label_nc, 256)]


def visuals_to_images(visuals, label_nc, color_order, index=0):
    """Dict of N×C×H×W tensors -> dict of H×W×3 uint8 RGB images (sample ``index``)."""
    out = {}
    for name, t in visuals.items():
        t = t[index]
        if name.startswith('label'):
            out[name] = colorize_label(t[0].cpu().numpy(), label_nc)
        elif t.shape[0] == 1:
            a = (t[0].float().cpu().clamp(0, 1).numpy() * 255).astype(np.uint8)
            out[name] = np.stack([a] * 3, -1)
        else:
            out[name] = tensor_to_image(t, color_order)
    return out


def make_row(images):
    """Side by side with a 4-pixel white gap; all images are resized (nearest) to the first's height."""
    h = next(iter(images)).shape[0]
    parts = []
    for im in images:
        if im.shape[0] != h:
            idx = (np.arange(h) * im.shape[0] / h).astype(int)
            im = im[idx][:, (np.arange(int(im.shape[1] * h / im.shape[0])) * im.shape[0] / h).astype(int)]
        parts += [im, np.full((h, 4, 3), 255, np.uint8)]
    return np.concatenate(parts[:-1], axis=1)


class Visualizer:
    """Writes image grids to checkpoints/<name>/web/images/ and TensorBoard logs to
    checkpoints/<name>/logs/ (rank 0 only; the caller checks)."""

    def __init__(self, opt, label_nc, color_order):
        self.dir = os.path.join(opt.checkpoints_dir, opt.name)
        self.image_dir = os.path.join(self.dir, 'web', 'images')
        self.label_nc = label_nc
        self.color_order = color_order
        self.writer = None
        if not getattr(opt, 'no_tensorboard', False):
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(os.path.join(self.dir, 'logs'))
        self.log_path = os.path.join(self.dir, 'loss_log.txt')

    def log_losses(self, losses, step, epoch):
        line = f'(epoch {epoch}, iters {step}) ' + ' '.join(f'{k}: {v:.4f}' for k, v in sorted(losses.items()))
        with open(self.log_path, 'a') as f:
            f.write(line + '\n')
        if self.writer is not None:
            for k, v in losses.items():
                self.writer.add_scalar(f'loss/{k}', v, step)
        return line

    def log_metrics(self, metrics, step):
        if self.writer is not None:
            for k, v in metrics.items():
                self.writer.add_scalar(f'metrics/{k}', v, step)

    def display(self, visuals, step):
        images = visuals_to_images(visuals, self.label_nc, self.color_order)
        row = make_row(list(images.values()))
        path = os.path.join(self.image_dir, f'iter_{step:08d}.png')
        save_image_atomic(row, path)
        if self.writer is not None:
            self.writer.add_image('visuals/' + '|'.join(images), torch.from_numpy(row).permute(2, 0, 1), step)
        return path

    def close(self):
        if self.writer is not None:
            self.writer.close()


LOSS_LINE = re.compile(r'\(epoch (\d+), iters (\d+)\) (.*)')


def parse_loss_log(path):
    """loss_log.txt (``Visualizer.log_losses``) -> {loss name: [(iteration, value), ...]}"""
    series = {}
    with open(path) as f:
        for line in f:
            m = LOSS_LINE.match(line.strip())
            if not m:
                continue
            step = int(m.group(2))
            for name, value in re.findall(r'(\S+): (-?[\d.]+(?:e-?\d+)?)', m.group(3)):
                series.setdefault(name, []).append((step, float(value)))
    return series
