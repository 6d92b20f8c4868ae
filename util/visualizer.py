"""Image grids, label colouring, TensorBoard logging, and the loss log (written and read back)."""
import os
import re

import numpy as np
import torch

from util.tensors import tensor_to_image
from util.image_io import save_image_atomic

# Cityscapes labelIds 0..33 -> colour (the official palette; ids without a colour are black).
CITYSCAPES_COLORS = {
    4: (20, 20, 20), 5: (111, 74, 0), 6: (81, 0, 81), 7: (128, 64, 128), 8: (244, 35, 232),
    9: (250, 170, 160), 10: (230, 150, 140), 11: (70, 70, 70), 12: (102, 102, 156), 13: (190, 153, 153),
    14: (180, 165, 180), 15: (150, 100, 100), 16: (150, 120, 90), 17: (153, 153, 153), 18: (153, 153, 153),
    19: (250, 170, 30), 20: (220, 220, 0), 21: (107, 142, 35), 22: (152, 251, 152), 23: (70, 130, 180),
    24: (220, 20, 60), 25: (255, 0, 0), 26: (0, 0, 142), 27: (0, 0, 70), 28: (0, 60, 100),
    29: (0, 0, 90), 30: (0, 0, 110), 31: (0, 80, 100), 32: (0, 0, 230), 33: (119, 11, 32),
}


def label_palette(label_nc):
    """Cityscapes colours for 34-class data, a fixed pseudo-random palette otherwise."""
    rng = np.random.RandomState(1234)
    pal = rng.randint(0, 256, size=(max(label_nc, 256), 3)).astype(np.uint8)
    pal[0] = 0
    if label_nc == 34:
        pal[:34] = 0
        for k, c in CITYSCAPES_COLORS.items():
            pal[k] = c
    return pal


def colorize_label(label, label_nc):
    """H×W ids -> H×W×3 uint8."""
    return label_palette(label_nc)[np.clip(np.asarray(label), 0, None) % max(label_nc, 256)]


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
