"""The objects of an edited scene and the background around them, as SIEDOB's scene datasets find
them (upstream ``background/dataset.py`` and ``fusion/dataset.py``, ``SIE_Dataset.__getitem__``,
``select_inst_cor``, ``gen_inst_bbox``).

An object is an instance (id ≥ 1000 in the instance map) that the edit mask touches and whose
pixels under the mask are mostly of a foreground class (person or car by default); its mask
is the instance's pixels of that class over the whole image. Each object class then keeps the
objects that pass its rule (how much of it is edited, how well it fills its box, its aspect), and
the kept objects make the foreground mask Fg; the rest of the image, other objects included, is
the background Bg = 1 − Fg.
"""
from typing import NamedTuple

import numpy as np

from semedit.data.siedob_constants import CAR, FOREGROUND_CLASSES, PERSON


class SelectionRule(NamedTuple):
    """Which objects of one class SIEDOB generates separately, and the crop it uses for them."""
    masked_fraction: float   # keep if (edited pixels / pixels) > this
    min_fill: float          # ... and pixels / box area > this
    aspect: tuple            # ... and lo < box height / box width < hi
    crop: tuple              # (h, w) of the object crops
    max_num: int             # crops per image (padding with zeros up to this)


#: the background stage's rules (upstream background/dataset.py)
BACKGROUND_RULES = {CAR: SelectionRule(0.4, 0.6, (0, 100), (64, 64), 50),
                    PERSON: SelectionRule(0.4, 0.35, (2, 6), (64, 32), 50)}
#: the fusion stage's rules (upstream fusion/dataset.py)
FUSION_RULES = {CAR: SelectionRule(0.0, 0.6, (0, 100), (64, 64), 180),
                PERSON: SelectionRule(0.0, 0.35, (0, 100), (64, 64), 180)}


class SceneObject(NamedTuple):
    mask: np.ndarray          # H×W bool: the instance's pixels of its class, in the whole image
    label: int                # its class (the vote under the edit mask)
    partly_visible: bool      # some of its pixels lie outside the edit mask


def touched_objects(label, instance, mask, classes=FOREGROUND_CLASSES):
    """The objects the edit ``mask`` (H×W, 1 = edited) touches, partly visible ones first, each list
    in ascending instance id. The class is the foreground class with the most pixels of the
    instance under the mask (ties: the smaller class id, as upstream's ascending scan)."""
    label = np.asarray(label)
    instance = np.asarray(instance)
    edited = np.asarray(mask) > 0.5
    partly, fully = [], []
    for iid in np.unique(instance[instance >= 1000]):
        under = (instance == iid) & edited
        if not under.any():
            continue
        votes = {int(c): int(n) for c, n in zip(*np.unique(label[under], return_counts=True)) if int(c) in classes}
        if not votes:
            continue
        best = max(sorted(votes), key=lambda c: votes[c])  # max keeps the first (smallest id) of equal counts
        obj_mask = (instance == iid) & (label == best)
        visible = bool(((instance == iid) & ~edited).any())
        (partly if visible else fully).append(SceneObject(obj_mask, best, visible))
    return partly + fully


def object_box(obj_mask, limits=(255, 255), margin=2):
    """[row_min, row_max, col_min, col_max] of the object, grown by ``margin`` and clamped to
    [0, limits] (upstream's inclusive 255, so the last row and column stay outside a box that ends
    there; the fusion dataset's (512, 256) clamp is upstream's too), or None for an object that spans
    fewer than two rows or two columns."""
    rows, cols = np.nonzero(obj_mask)
    r0, r1, c0, c1 = int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())
    if min(r1 - r0, c1 - c0) <= 0:
        return None
    return [max(0, r0 - margin), min(r1 + margin, limits[0]), max(0, c0 - margin), min(c1 + margin, limits[1])]


def select_objects(objects, mask, label, rule, limits=(255, 255)):
    """The objects of class ``label`` that ``rule`` keeps, with their boxes, in ``objects`` order."""
    edited = np.asarray(mask) > 0.5
    kept = []
    for obj in objects:
        if obj.label != label:
            continue
        box = object_box(obj.mask, limits)
        if box is None:
            continue
        height, width = box[1] - box[0], box[3] - box[2]
        pixels = int(obj.mask.sum())
        fill = pixels / (height * width)
        if (obj.mask & edited).sum() / pixels > rule.masked_fraction and fill > rule.min_fill \
                and rule.aspect[0] < height / width < rule.aspect[1]:
            kept.append((obj, box))
    return kept


def foreground(label, instance, mask, rules=BACKGROUND_RULES, limits=(255, 255)):
    """{'fg': H×W float32 {0, 1}, 'bg': 1 − fg, 'objects': {class: [(SceneObject, box), ...]}} for an
    edit: the objects SIEDOB generates separately, per class in ``rules``, and their union."""
    objects = touched_objects(label, instance, mask, tuple(sorted(rules)))
    kept = {c: select_objects(objects, mask, c, rule, limits) for c, rule in rules.items()}
    fg = np.zeros(np.asarray(label).shape, np.float32)
    for pairs in kept.values():
        for obj, _ in pairs:
            fg[obj.mask] = 1
    return {'fg': fg, 'bg': 1 - fg, 'objects': kept}


def object_crops(image, masked, label, mask, kept, size, image_hr=None, max_num=None):
    """The crops of the kept objects of one class, as upstream's ``inst_crop``: for each (object,
    [r0, r1, c0, c1]) of ``kept``, rows r0..r1−1 and columns c0..c1−1 of the image, the masked
    image (bilinear), the label map (nearest), the object's mask (bilinear, then > 0.5), the edit
    mask (nearest), all resized to ``size`` (h, w); with ``image_hr`` (the high-resolution copy,
    a whole multiple of the image) the same box scaled up. Inputs are C×H×W tensors. Returns a dict
    of n×C×h×w tensors and ``boxes`` n×4 (int64), zero-padded to ``max_num`` objects when given."""
    import torch
    import torch.nn.functional as F

    def resize(t, mode):
        return F.interpolate(t[None].float(), size=size, mode=mode)[0]  # align_corners False, as upstream

    out = {k: [] for k in ('image', 'masked', 'label', 'object_mask', 'mask', 'boxes')
           + (('image_hr',) if image_hr is not None else ())}
    factor = image_hr.shape[-1] // image.shape[-1] if image_hr is not None else 1
    for obj, (r0, r1, c0, c1) in kept:
        win = (slice(None), slice(r0, r1), slice(c0, c1))
        out['image'].append(resize(image[win], 'bilinear'))
        out['masked'].append(resize(masked[win], 'bilinear'))
        out['label'].append(resize(label[win], 'nearest'))
        obj_mask = torch.from_numpy(np.ascontiguousarray(obj.mask))[None].to(image.device)
        out['object_mask'].append((resize(obj_mask[win], 'bilinear') > 0.5).float())
        out['mask'].append(resize(mask[win], 'nearest'))
        out['boxes'].append(torch.tensor([r0, r1, c0, c1], dtype=torch.int64))
        if image_hr is not None:
            out['image_hr'].append(resize(image_hr[:, factor * r0:factor * r1, factor * c0:factor * c1], 'bilinear'))
    channels = {'image': image.shape[0], 'masked': image.shape[0], 'label': 1, 'object_mask': 1, 'mask': 1,
                'image_hr': image.shape[0]}
    stacked = {}
    for k, items in out.items():
        empty = torch.zeros((0, 4), dtype=torch.int64) if k == 'boxes' else torch.zeros((0, channels[k]) + tuple(size))
        t = torch.stack(items) if items else empty
        if max_num is not None:
            if len(items) > max_num:
                raise ValueError(f'{len(items)} objects of one class, more than max_num {max_num}')
            t = torch.cat([t, t.new_zeros((max_num - len(items),) + t.shape[1:])])
        stacked[k] = t
    return stacked
