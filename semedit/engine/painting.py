"""From a painted label canvas to an edit's inputs: the web editor's arithmetic, without a browser.

The canvas shows the label map in the model's palette (``util.label_classes``), at most
``MAX_CANVAS`` pixels on its long side; the user paints with class colours, and with one colour
that is no class's (``repaint only``: the mask grows, the classes stay). What comes back is the
painted canvas (PNG, lossless): painted pixels are those that differ from what was shown, each read
as the class whose palette colour, blended with what was shown there, comes nearest (a brush's
anti-aliased edge covers part of a pixel).
"""
import numpy as np
from PIL import Image
from scipy import ndimage

from semedit.data.siedob_constants import FOREGROUND_CLASSES
from semedit.util.label_classes import palette

#: the long side of the canvas, in pixels: larger label maps are shown scaled down (nearest)
MAX_CANVAS = 1024
#: the id a "repaint only" stroke reads as: no class's
REPAINT_ONLY = -1


def canvas_scale(size):
    """The factor from a label map of ``size`` (H, W) to its canvas: at most 1."""
    return min(1.0, MAX_CANVAS / max(size))


def canvas_size(size):
    scale = canvas_scale(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def repaint_only_colour(label_nc):
    """The colour of the "repaint only" brush: of a few strong colours, the farthest from every class's."""
    pal = palette(label_nc)[:label_nc].astype(np.int64)
    candidates = np.array([(255, 0, 255), (0, 255, 255), (255, 255, 255), (255, 128, 0), (128, 0, 255)])
    distance = ((candidates[:, None] - pal[None]) ** 2).sum(-1).min(1)
    return tuple(int(v) for v in candidates[distance.argmax()])


def show(labels, label_nc):
    """The canvas of a label map: its palette colours at the canvas size (nearest), RGB uint8."""
    return palette(label_nc)[to_size(labels, canvas_size(labels.shape))]


def read_strokes(shown, painted, label_nc):
    """(painted pixels, their ids) of a canvas: ``shown`` what the canvas showed, ``painted`` what came
    back (H×W×3 or ×4 uint8 at the canvas size); ids by nearest palette colour, REPAINT_ONLY for the
    repaint-only brush's."""
    painted = np.asarray(painted)[..., :3].astype(np.int64)
    if painted.shape != shown.shape:
        raise ValueError(f'the painted canvas is {painted.shape[1]}×{painted.shape[0]}, '
                         f'the label map was shown at {shown.shape[1]}×{shown.shape[0]}')
    where = (painted != shown).any(-1)
    ids = np.zeros(where.shape, np.int64)
    if where.any():
        pairs, inverse = np.unique(np.concatenate([painted[where], shown[where]], 1), axis=0, return_inverse=True)
        choices = np.concatenate([palette(label_nc)[:label_nc], [repaint_only_colour(label_nc)]]).astype(np.int64)
        nearest = blended_class(pairs[:, :3], pairs[:, 3:], choices)
        nearest[nearest == label_nc] = REPAINT_ONLY
        ids[where] = nearest[inverse.reshape(-1)]
    return where, ids


def blended_class(painted, shown, choices):
    """For each painted colour, the choice c whose blend a·c + (1 - a)·shown (a in [0, 1]: a brush's
    edge covers part of a pixel) comes nearest; ties go to the fuller cover."""
    v = (painted - shown)[:, None].astype(np.float64)            # N×1×3
    d = (choices[None] - shown[:, None]).astype(np.float64)      # N×K×3
    a = np.clip((v * d).sum(-1) / np.maximum((d * d).sum(-1), 1e-9), 0, 1)
    residual = ((v - a[..., None] * d) ** 2).sum(-1)
    return np.lexsort((-a, residual.round(6)), axis=-1)[:, 0] if residual.size else np.zeros(0, np.int64)


def to_size(array, size):
    """A canvas-sized array at the label map's size (nearest)."""
    if array.shape == tuple(size):
        return array
    resized = Image.fromarray(array.astype(np.int32)).resize((size[1], size[0]), Image.NEAREST)
    return np.asarray(resized).astype(array.dtype)


def edit_from_strokes(labels, shown, painted, label_nc, grow):
    """(edited labels, mask) at the label map's size: painted pixels take their class (the repaint-only
    brush's keep theirs); the mask is every painted pixel grown by ``grow`` pixels of the label map."""
    where, ids = read_strokes(shown, painted, label_nc)
    scale = canvas_scale(labels.shape)
    if grow > 0 and where.any():
        where_grown = ndimage.distance_transform_edt(~where) <= grow * scale
    else:
        where_grown = where
    full_where, full_ids = to_size(where, labels.shape), to_size(ids, labels.shape)
    edited = labels.copy()
    relabel = full_where & (full_ids != REPAINT_ONLY)
    edited[relabel] = full_ids[relabel]
    return edited, to_size(where_grown, labels.shape)


def instances_after_edit(instance, labels, edited, classes=FOREGROUND_CLASSES):
    """The Cityscapes instance map of an edited label map: relabelled pixels hold their new class id
    (as stuff does), and each connected region newly painted with an object class (car, person) is a
    new instance of it (class·1000 + the next free number)."""
    out = instance.copy()
    changed = edited != labels
    out[changed] = edited[changed]
    for c in classes:
        regions, n = ndimage.label(changed & (edited == c))
        taken = instance[(instance // 1000) == c]
        first = (int(taken.max()) + 1) if taken.size else c * 1000
        for k in range(n):
            out[regions == k + 1] = first + k
    return out


def paint_region(labels, instance, mask, cls):
    """The label map with the masked region made class ``cls``, and its instance map to match
    (None stays None): test.py's --paint_class."""
    edited = np.where(np.asarray(mask) > 0, cls, labels).astype(labels.dtype)
    return edited, None if instance is None else instances_after_edit(instance, labels, edited)
