"""SIEDOB's object datasets, cut from a scene dataset (the authors ship crops but no script; the
rule below reproduces their shipped crops: PSNR ≥ 39.8 dB, masks pixel-exact).

For each instance of an object class (id // 1000 = the class: car or person), in ascending id:

1. its mask m = (instance == id) ∧ (label == class), on the scene's label and instance maps;
2. its box with a 2-pixel margin, end-exclusive ``[r_min − 2, r_max + 2) × [c_min − 2, c_max + 2)``
   (``data/scene_objects.object_box``), kept if the class's rule holds: it fills more than 60 % (car)
   / 35 % (person, whose box is also 2 to 6 times as tall as wide) of the box;
3. the image crop from the high-resolution copy (``images2048/``, 4× the box; the image itself if
   there is none) resized bilinearly without antialiasing, as the authors' crops, to 64×64 (car) or
   64 rows × 32 columns (person); the mask crop resized nearest, 0/255.

Written as ``<scene folder>/object_datasets/{car,person}/{train,test}/{images,inst_mask}/
<class>_<scene stem>_<kk>.{jpg,png}`` (kk numbers the kept objects of a class in one scene), plus
``object_datasets/object_mask/NNNN.png``, a fixed set of 64×64 evaluation holes.
"""
import os
import random

import numpy as np
import torch
import torch.nn.functional as F

from semedit.data.masks import brush_stroke_mask
from semedit.data.scene_objects import BACKGROUND_RULES, object_box
from semedit.data.siedob_constants import CLASS_NAMES, EVAL_MASK_DIR, HIGH_RES_DIR, OBJECT_DIR, OBJECT_ORDER
from semedit.util.errors import UserError
from semedit.util.image_io import IMAGE_EXTENSIONS, read_image, read_instance, read_label, save_image_atomic


def resize_bilinear(image, size):
    """H×W×3 uint8 -> size (h, w), bilinear without antialiasing (half-pixel centres), rounded half up.
    Bilinear weights often land exactly on .5; float rounding noise, which changes with torch's thread
    count (loader workers run one thread), would decide those ties: float64 keeps the noise below
    1e-9, far below the 1e-6 the ties are lifted by."""
    t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].double()
    out = F.interpolate(t, size=size, mode='bilinear', align_corners=False, antialias=False)
    return torch.floor(out[0].permute(1, 2, 0) + (0.5 + 1e-6)).clamp(0, 255).to(torch.uint8).numpy()


def resize_nearest_legacy(a, size):
    """PyTorch's legacy 'nearest' (source index floor(i · in / out)), as the authors' masks."""
    h, w = size
    rows = (np.arange(h) * a.shape[0]) // h
    cols = (np.arange(w) * a.shape[1]) // w
    return a[rows][:, cols]


def scene_objects(label, instance, classes=OBJECT_ORDER):
    """[(class, instance id, mask, [r0, r1, c0, c1])] of the objects a crop is cut for, in the
    order of ``classes`` then ascending id."""
    out = []
    for c in classes:
        rule = BACKGROUND_RULES[c]
        for iid in np.unique(instance[(instance // 1000) == c]):
            m = (instance == iid) & (label == c)
            if not m.any():
                continue
            box = object_box(m, limits=label.shape)
            if box is None:
                continue
            height, width = box[1] - box[0], box[3] - box[2]
            if m.sum() / (height * width) > rule.min_fill and rule.aspect[0] < height / width < rule.aspect[1]:
                out.append((c, int(iid), m, box))
    return out


def crop_objects(image, label, instance, high_res=None, classes=OBJECT_ORDER):
    """[(class, kk, image crop uint8, mask crop uint8 0/255)] of one scene."""
    factor = 1
    if high_res is not None:
        factor = high_res.shape[0] // label.shape[0]
        if high_res.shape[:2] != (factor * label.shape[0], factor * label.shape[1]):
            raise ValueError(f'the high-resolution image is {high_res.shape[1]}×{high_res.shape[0]}, not a whole '
                             f'multiple of {label.shape[1]}×{label.shape[0]}')
    source = high_res if high_res is not None else image
    crops, counts = [], {}
    for c, _, m, (r0, r1, c0, c1) in scene_objects(label, instance, classes):
        size = BACKGROUND_RULES[c].crop
        kk = counts.get(c, 0)
        counts[c] = kk + 1
        img = resize_bilinear(source[factor * r0:factor * r1, factor * c0:factor * c1], size)
        mask = resize_nearest_legacy(m[r0:r1, c0:c1], size).astype(np.uint8) * 255
        crops.append((c, kk, img, mask))
    return crops


def evaluation_masks(count, size=64, seed=0):
    """A fixed set of object-level holes: brush strokes as the object-inpainting training draws them
    (3..6 vertices, widths 30..59), one seeded generator per mask."""
    return [brush_stroke_mask(size, size, random.Random(seed * 100003 + i), np.random.RandomState(seed + i),
                              vertices=(3, 6), widths=(30, 60), width_scale=1) for i in range(count)]


def object_folder(scene_root):
    return os.path.join(scene_root, OBJECT_DIR)


def write_object_dataset(scene_root, splits=('train', 'test'), num_masks=None, progress=None):
    """Cut every split's objects into ``<scene_root>/object_datasets/``; returns {(class, split): count}.
    Files are written atomically; the evaluation masks number the test crops (at least 1)."""
    counts = {}
    for split in splits:
        base = os.path.join(scene_root, split)
        image_dir = os.path.join(base, 'images')
        if not os.path.isdir(image_dir):
            raise UserError(f'{image_dir} not found: give the scene dataset folder (with train/ and test/ '
                            f'holding images/, labels/, inst_map/)')
        if not os.path.isdir(os.path.join(base, 'inst_map')):
            raise UserError(f'{base}/inst_map/ not found: the objects are found from Cityscapes-format instance maps')
        stems = sorted(os.path.splitext(f)[0] for f in os.listdir(image_dir) if f.lower().endswith(IMAGE_EXTENSIONS))
        for c in CLASS_NAMES.values():
            counts[(c, split)] = 0
        for stem in (progress(stems, split) if progress else stems):
            image = read_image(_find(image_dir, stem))
            label = read_label(os.path.join(base, 'labels', stem + '.png'))
            instance = read_instance(os.path.join(base, 'inst_map', stem + '.png'), 'cityscapes')
            hr_dir = os.path.join(base, HIGH_RES_DIR)
            high_res = read_image(_find(hr_dir, stem)) if os.path.isdir(hr_dir) else None
            for c, kk, img, mask in crop_objects(image, label, instance, high_res):
                name = f'{CLASS_NAMES[c]}_{stem}_{kk:02d}'
                out = os.path.join(object_folder(scene_root), CLASS_NAMES[c], split)
                save_image_atomic(img, os.path.join(out, 'images', name + '.jpg'))
                save_image_atomic(mask, os.path.join(out, 'inst_mask', name + '.png'))
                counts[(CLASS_NAMES[c], split)] += 1
    if 'test' in splits:
        n = num_masks if num_masks is not None else max(1, sum(v for (c, s), v in counts.items() if s == 'test'))
        for i, m in enumerate(evaluation_masks(n)):
            save_image_atomic((m * 255).astype(np.uint8), os.path.join(object_folder(scene_root), EVAL_MASK_DIR,
                                                                       f'{i:04d}.png'))
    return counts


def _find(folder, stem):
    for ext in IMAGE_EXTENSIONS:
        path = os.path.join(folder, stem + ext)
        if os.path.isfile(path):
            return path
    raise UserError(f'{folder}/{stem}.jpg not found: every image needs its counterpart there (same stem)')
