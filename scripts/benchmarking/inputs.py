"""The benchmark's inputs: the four mask families and a batch for the measured model."""
import random

import numpy as np
import torch

from semedit.data.masks import brush_stroke_mask, outpainting_mask, right_half_mask
from semedit.data.siedob_constants import CAR, class_map as siedob_class_map
from scripts.benchmarking import siedob_editor
from scripts.benchmarking.options import is_siedob_editor

FAMILIES = ('box', 'brush', 'right_half', 'outpainting')


def make_mask(family, size, seed=0):
    h, w = size
    rng, np_rng = random.Random(seed), np.random.RandomState(seed)
    if family == 'box':  # a 15 % box, like the authors' data_test masks
        m = np.zeros(size, np.float32)
        bh, bw = int(h * 0.35), int(w * 0.43)
        m[h // 3:h // 3 + bh, w // 4:w // 4 + bw] = 1
        return m
    if family == 'brush':
        return brush_stroke_mask(h, w, rng, np_rng)
    if family == 'right_half':
        return right_half_mask(h, w)
    return outpainting_mask(h, w, rng)


def make_batch(n, size, family, seed=0):
    """Sky, road and a car (an instance of its own, and a selected object: outside ``bg_mask``)."""
    g = torch.Generator().manual_seed(seed)
    h, w = size
    label = torch.full((n, 1, h, w), 7, dtype=torch.long)
    label[:, :, : h // 3] = 23
    car = (slice(None), slice(None), slice(h // 2, h // 2 + h // 5), slice(w // 3, w // 3 + w // 4))
    label[car] = CAR
    instance = label.clone()
    instance[car] = CAR * 1000
    bg_mask = torch.ones(n, 1, h, w)
    bg_mask[car] = 0
    mask = torch.from_numpy(make_mask(family, size, seed))[None, None].repeat(n, 1, 1, 1)
    # for the object networks: a car filling the middle of the crop (an ellipse), its class map
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing='ij')
    inst_mask = ((yy / 0.8) ** 2 + (xx / 0.9) ** 2 <= 1).float()[None, None].repeat(n, 1, 1, 1)
    class_map = siedob_class_map(inst_mask, [CAR] * n)
    return {'image': torch.rand((n, 3, h, w), generator=g) * 2 - 1, 'label': label, 'mask': mask,
            'instance': instance, 'bg_mask': bg_mask, 'inst_mask': inst_mask, 'class_map': class_map}


def batch_for(opt, n, family, seed=0):
    """The input batch for the measured model (SIEDOB's editor: three objects and references)."""
    size = (opt.size, opt.size)
    if is_siedob_editor(opt):
        return siedob_editor.make_batch(n, size, make_mask(family, size, seed))
    return make_batch(n, size, family, seed)


def to_device(batch, device):
    return {k: to_device(v, device) if isinstance(v, dict) else v.to(device) for k, v in batch.items()}
