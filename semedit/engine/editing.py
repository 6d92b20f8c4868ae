"""Editing numpy images of any size with a model (shared by test.py, evaluation and train-time FID)."""
import os

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from semedit.data.object_dataset import crop_tensors
from semedit.data.object_extraction import resize_bilinear, resize_nearest_legacy
from semedit.data.preprocess import paste_back, resize_image, resize_mask, resize_nearest
from semedit.data.siedob_constants import CLASS_VECTORS, CROP_SIZE, class_map, unknown_class
from semedit.util.errors import UserError
from semedit.util.tensors import image_to_tensor, tensor_to_image


def edit_arrays(model, image, label, mask, instance=None, preprocess='resize', load_size=256,
                quantize='truncate', source='the input'):
    """Returns (edited, masked input), H×W×3 uint8 RGB at the input size.

    At a size the generator accepts nothing is resized and the output is upstream's, bit for bit.
    Otherwise (``preprocess='resize'``) the inputs are resized to the working size, and the result is
    resized back and pasted only inside the mask: known pixels are the input's, exactly."""
    sample = {'image': image, 'label': label, 'mask': mask, 'instance': instance, 'path': source}
    return edit_samples(model, [sample], preprocess, load_size, quantize)[0]


def working_size(model, shape, preprocess, load_size, source):
    h, w = shape
    if preprocess == 'none':
        problem = model.size_rule.problem(h, w)
        if problem:
            raise UserError(f'{source}: {problem}; use --preprocess resize (the default) to edit any size')
        return (h, w)
    return model.size_rule.working_size(h, w, load_size)


def edit_samples(model, samples, preprocess='resize', load_size=256, quantize='truncate'):
    """[(edited, masked input)] of samples (dicts of arrays: image, label, mask, instance or None,
    path) edited as one batch; they must share one working size (``edit_test_split`` groups them)."""
    order, rounding = model.color_order, quantize == 'round'
    sizes = {working_size(model, s['image'].shape[:2], preprocess, load_size, s['path']) for s in samples}
    assert len(sizes) == 1, 'edit_samples: one working size per batch'
    size = sizes.pop()
    smalls = [(resize_image(s['image'], size), resize_nearest(s['label'], size), resize_mask(s['mask'], size))
              for s in samples]
    batch = {'image': torch.stack([image_to_tensor(a[0], order) for a in smalls]),
             'label': torch.stack([torch.from_numpy(np.ascontiguousarray(a[1]))[None] for a in smalls]),
             'mask': torch.stack([torch.from_numpy(np.ascontiguousarray(a[2], dtype=np.float32))[None] for a in smalls]),
             'path': samples[0]['path'] if len(samples) == 1 else ', '.join(s['path'] for s in samples)}
    if all(s.get('instance') is not None for s in samples):
        batch['instance'] = torch.stack([torch.from_numpy(np.ascontiguousarray(resize_nearest(s['instance'], size)))[None]
                                         for s in samples])
    edited = model.edit(batch)
    results = []
    for i, s in enumerate(samples):
        out = tensor_to_image(edited[i], order, rounding)
        if size == s['image'].shape[:2]:  # the masked input as the network saw it (upstream's masked_img.jpg)
            results.append((out, tensor_to_image(batch['image'][i] * (1 - batch['mask'][i]), order, rounding)))
        else:
            hole = s['mask'][..., None] > 0.5
            results.append((paste_back(s['image'], out, s['mask']), np.where(hole, np.uint8(127), s['image'])))
    return results


def edit_test_split(model, dataset, preprocess='resize', load_size=256, quantize='truncate', how_many=None,
                    progress=True, batch_size=1, edit=None):
    """Yields (stem, sample arrays, edited, masked input) for the first ``how_many`` test samples,
    edited ``batch_size`` at a time (consecutive samples of one working size); ``edit``: what edits
    a list of samples (test.py's editor, ``engine/editor.py``), else ``edit_samples``."""
    n = len(dataset) if how_many is None else min(how_many, len(dataset))
    pending, pending_size = [], None
    edit = edit or (lambda samples: edit_samples(model, samples, preprocess, load_size, quantize))

    def flush():
        for s, (out, masked) in zip(pending, edit(pending)):
            yield os.path.splitext(os.path.basename(s['path']))[0], s, out, masked
        pending.clear()

    with torch.inference_mode():
        for i in tqdm(range(n), desc='test', dynamic_ncols=True, disable=not progress):
            s = dataset.load_sample(i)
            size = working_size(model, s['image'].shape[:2], preprocess, load_size, s['path'])
            if pending and (len(pending) == batch_size or size != pending_size):
                yield from flush()
            pending.append(s)
            pending_size = size
        if pending:
            yield from flush()


def edit_object_crop(model, image, inst_mask, label, hole=None, ref_image=None, ref_mask=None,
                     quantize='truncate', source='the crop'):
    """SIEDOB's object networks on one crop of any size (H×W×3 uint8 RGB, masks H×W {0, 1}):
    resized to the 64×64 the networks see (bilinear, masks nearest), edited, resized back and pasted
    where the network repaints (the hole on the object for inpainting, the whole object for
    style), so every other pixel is the input's. ``label``: the object's class (car or person)."""
    if label not in CLASS_VECTORS:
        raise UserError(unknown_class(label))
    if not inst_mask.any():
        raise UserError(f'{source}: the instance mask is empty: it must mark the object (white pixels)')
    size = (CROP_SIZE, CROP_SIZE)
    order, rounding = model.color_order, quantize == 'round'

    def crop_batch(img, mask):
        x, k = crop_tensors(resize_bilinear(img, size), resize_nearest_legacy(mask, size), order)
        return x[None], k[None], class_map(k[None], [label])

    x, k, cmap = crop_batch(image, inst_mask)
    batch = {'image': x, 'inst_mask': k, 'class_map': cmap, 'path': source}
    region = inst_mask > 0.5
    if hole is not None:
        batch['mask'] = torch.from_numpy(np.ascontiguousarray(resize_nearest_legacy(hole, size),
                                                              dtype=np.float32))[None, None] * k
        region = region & (hole > 0.5)
    if ref_image is not None:
        batch['ref_image'], batch['ref_inst_mask'], batch['ref_class_map'] = crop_batch(ref_image, ref_mask)
    small = tensor_to_image(model.edit(batch)[0], order, rounding)
    big = resize_image(small, image.shape[:2], resample=Image.BILINEAR)
    return np.where(region[..., None], big, image)
