"""Editing numpy images of any size with a model (shared by test.py, evaluation and train-time FID)."""
import os

import numpy as np
import torch
from tqdm import tqdm

from data.preprocess import paste_back, resize_image, resize_mask, resize_nearest
from util.tensors import image_to_tensor, tensor_to_image
from util.errors import UserError


def edit_arrays(model, image, label, mask, instance=None, preprocess='resize', load_size=256,
                quantize='truncate', source='the input'):
    """Returns (edited, masked input), H×W×3 uint8 RGB at the input size.

    At a size the generator accepts nothing is resized and the output is upstream's, bit for bit.
    Otherwise (``preprocess='resize'``) the inputs are resized to the working size, and the result is
    resized back and pasted only inside the mask: known pixels are the input's, exactly."""
    h, w = image.shape[:2]
    if preprocess == 'none':
        problem = model.size_rule.problem(h, w)
        if problem:
            raise UserError(f'{source}: {problem}; use --preprocess resize (the default) to edit any size')
        size = (h, w)
    else:
        size = model.size_rule.working_size(h, w, load_size)
    order, rounding = model.color_order, quantize == 'round'
    small = (resize_image(image, size), resize_nearest(label, size), resize_mask(mask, size))
    batch = {'image': image_to_tensor(small[0], order)[None],
             'label': torch.from_numpy(np.ascontiguousarray(small[1]))[None, None],
             'mask': torch.from_numpy(np.ascontiguousarray(small[2], dtype=np.float32))[None, None],
             'path': source}
    if instance is not None:
        batch['instance'] = torch.from_numpy(np.ascontiguousarray(resize_nearest(instance, size)))[None, None]
    out = tensor_to_image(model.edit(batch)[0], order, rounding)
    if size == (h, w):  # the masked input as the network saw it (upstream's masked_img.jpg)
        return out, tensor_to_image(batch['image'][0] * (1 - batch['mask'][0]), order, rounding)
    hole = mask[..., None] > 0.5
    return paste_back(image, out, mask), np.where(hole, np.uint8(127), image)


def edit_test_split(model, dataset, preprocess='resize', load_size=256, quantize='truncate', how_many=None,
                    progress=True):
    """Yields (stem, sample arrays, edited, masked input) for the first ``how_many`` test samples."""
    n = len(dataset) if how_many is None else min(how_many, len(dataset))
    with torch.inference_mode():
        for i in tqdm(range(n), desc='test', dynamic_ncols=True, disable=not progress):
            s = dataset.load_sample(i)
            stem = os.path.splitext(os.path.basename(s['path']))[0]
            out, masked = edit_arrays(model, s['image'], s['label'], s['mask'], s['instance'], preprocess,
                                      load_size, quantize, source=s['path'])
            yield stem, s, out, masked
