"""Training-mask generators (upstream ``dataset.py``).

Every mask is an ``np.float32`` array of shape (H, W) holding exactly 0.0 or 1.0,
where **1 = region to edit / generate** and 0 = known pixels.

Randomness comes only from explicit generators, never from global state:

* ``rng``    -- a ``random.Random``; supplies every draw except the ones below.
* ``np_rng`` -- a ``numpy.random.RandomState``; supplies the brush radii and the two
  discarded flip draws. This mirrors upstream's split between Python ``random`` and
  numpy.

Upstream's numbers are for a 256×256 canvas (upstream hard-codes it). Each
generator here takes any H×W (both >= 64 intended, not necessarily square); at
256×256 it reproduces upstream exactly and elsewhere it scales the numbers.

Upstream quirks kept on purpose:

* the mask type is fixed by the sample index (``index % num_types``);
* type 2 is called "center" upstream but is really *outpainting*: the known
  window is the square and the border around it is generated;
* the brush draws only ONE stroke and its two flips are discarded (no flip ever
  happens), but the two N(0,1) draws still consume numpy state;
* the instance box is END-EXCLUSIVE (last row / column left out; a one-pixel-thick
  instance gives an empty mask). ``inclusive=True`` is the documented fix;
* ADE20k-room instance id 0 (the non-instance area) is a valid candidate.

Known deviation: upstream also draws a class id and an instance id for every
sample even when the mask type does not use them. We do not make those
unused draws, so RNG streams are not step-for-step identical to upstream; each
mask's own parameter draws follow upstream's order.
"""
from __future__ import annotations

import math
import random

import numpy as np
from PIL import Image, ImageDraw

MASK_TYPES = ('brush', 'right_half', 'outpainting', 'class', 'instance_box')

INSTANCE_KINDS = ('cityscapes', 'ade', 'none')

# Brush-stroke constants (upstream ``brush_stroke_mask``). Widths are for a 256-pixel short side.
_MIN_VERTEX, _MAX_VERTEX = 4, 8
_MEAN_ANGLE = 2 * math.pi / 5
_ANGLE_RANGE = 2 * math.pi / 15
_MIN_WIDTH, _MAX_WIDTH = 50, 140


def _check_size(height: int, width: int) -> tuple[int, int]:
    height, width = int(height), int(width)
    if height < 1 or width < 1:
        raise ValueError(f'mask size must be positive, got {height}x{width}')
    return height, width


def _as_2d(arr, name: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[0] == 1:  # tolerate a 1×H×W map
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f'{name} must be an (H, W) array, got shape {arr.shape}')
    return arr


def brush_stroke_mask(height: int, width: int, rng: random.Random,
                      np_rng: np.random.RandomState, vertices=(_MIN_VERTEX, _MAX_VERTEX),
                      widths=(_MIN_WIDTH, _MAX_WIDTH), width_scale=None) -> np.ndarray:
    """Free-form brush mask, type 0 (upstream ``brush_stroke_mask``).

    Draw order (Python ``rng`` unless noted): n_vert; angle_min and angle_max
    offsets; n_vert angles; start vertex x then y; n_vert radii (``np_rng``);
    stroke width; then two discarded ``np_rng.normal()`` flip tests.
    Only one stroke is drawn (upstream quirk, unlike DeepFill-v2's 1-3).
    ``vertices`` and ``widths``: the inclusive vertex count and the stroke width range, scaled by
    ``width_scale`` (default: the short side / 256). SIEDOB's object masks use (3, 6) vertices and
    widths (30, 60) unscaled on 64×64 crops (upstream ``instance_inpainting/dataset.py``).
    """
    height, width = _check_size(height, width)
    avg_r = math.sqrt(height * height + width * width) / 8  # 45.2548 at 256²
    std = avg_r // 2  # floor division as upstream: 22.0 at 256²

    n_vert = rng.randint(*vertices)  # inclusive
    angle_min = _MEAN_ANGLE - rng.uniform(0, _ANGLE_RANGE)
    angle_max = _MEAN_ANGLE + rng.uniform(0, _ANGLE_RANGE)
    angles = []
    for i in range(n_vert):
        if i % 2 == 0:
            angles.append(2 * math.pi - rng.uniform(angle_min, angle_max))
        else:
            angles.append(rng.uniform(angle_min, angle_max))

    # Start vertex: inclusive bounds, so x == W / y == H is possible (as upstream).
    vertices = [(rng.randint(0, width), rng.randint(0, height))]
    for angle in angles:
        r = float(np.clip(np_rng.normal(avg_r, std), 0, 2 * avg_r))
        x0, y0 = vertices[-1]
        new_x = np.clip(x0 + r * math.cos(angle), 0, width)
        new_y = np.clip(y0 + r * math.sin(angle), 0, height)
        vertices.append((int(new_x), int(new_y)))

    # int(U(50, 140)) at a 256 short side; x*256/256 is exact in floating point.
    scale = min(height, width) / 256 if width_scale is None else width_scale
    wd = int(rng.uniform(*widths) * scale)

    canvas = Image.new('L', (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    draw.line(vertices, fill=1, width=wd)
    half = wd // 2
    for x, y in vertices:
        draw.ellipse((x - half, y - half, x + half, y + half), fill=1)

    # Upstream tests two random flips but discards the transposed images, so no
    # flip happens; the draws still consume numpy state.
    np_rng.normal()
    np_rng.normal()

    return (np.asarray(canvas) > 0).astype(np.float32)


def right_half_mask(height: int, width: int) -> np.ndarray:
    """Type 1: columns [int(W*0.5), W) are edited ([128, 256) at 256², as upstream)."""
    height, width = _check_size(height, width)
    mask = np.zeros((height, width), dtype=np.float32)
    mask[:, int(width * 0.5):] = 1.0
    return mask


def outpainting_mask(height: int, width: int, rng: random.Random) -> np.ndarray:
    """Type 2, upstream's "center" mask, which is really OUTPAINTING.

    Ones everywhere, then an (H//2)×(W//2) known window (128×128 at 256²) is set to
    0. Its top-left is drawn as ``w1`` FIRST, then ``h1`` (upstream order), each
    uniform over the inclusive range [S//8, 3S//8] (= [32, 96] at 256).
    """
    height, width = _check_size(height, width)
    w1 = rng.randint(width // 8, 3 * width // 8)
    h1 = rng.randint(height // 8, 3 * height // 8)
    mask = np.ones((height, width), dtype=np.float32)
    mask[h1:h1 + height // 2, w1:w1 + width // 2] = 0.0
    return mask


def class_mask(label, rng: random.Random) -> np.ndarray:
    """Type 3: 1 where ``label == id`` for one id drawn uniformly among the ids
    present in the (cropped) label map, as upstream."""
    label = _as_2d(label, 'label')
    ids = np.unique(label).tolist()
    chosen = rng.choice(ids)
    return (label == chosen).astype(np.float32)


def instance_candidates(instance, instance_kind: str) -> np.ndarray:
    """Sorted unique instance ids a box may be drawn around, as upstream.

    * ``'cityscapes'``: values >= 1000 (classId*1000 + k); smaller values are class
      ids of pixels without an instance.
    * ``'ade'``: ALL unique values, including 0 (upstream quirk: id 0 is the
      non-instance area and its box usually covers most of the image).
    * ``'none'`` or ``instance is None``: no candidates.
    """
    if instance_kind not in INSTANCE_KINDS:
        raise ValueError(f'unknown instance_kind {instance_kind!r}; expected one of {INSTANCE_KINDS}')
    if instance is None or instance_kind == 'none':
        return np.zeros((0,), dtype=np.int64)
    ids = np.unique(_as_2d(instance, 'instance'))
    if instance_kind == 'cityscapes':
        ids = ids[ids >= 1000]
    return ids


def instance_box_mask(instance, instance_kind: str, rng: random.Random,
                      np_rng: np.random.RandomState, *, inclusive: bool = False,
                      height: int | None = None, width: int | None = None) -> np.ndarray:
    """Type 4: bounding box of one uniformly chosen instance, as upstream.

    By default the box is rows [ymin, ymax) × cols [xmin, xmax): END-EXCLUSIVE as
    upstream, so the last row and column are left out and a one-pixel-thick instance
    gives an all-zero mask. ``inclusive=True`` is the fix: rows
    [ymin, ymax] × cols [xmin, xmax].

    With no candidates it falls back to a brush mask, as upstream. The canvas size for
    that fallback is the instance map's shape, or ``height``/``width`` when no map
    is given.
    """
    ids = instance_candidates(instance, instance_kind)
    if ids.size == 0:
        if instance is not None:
            height, width = _as_2d(instance, 'instance').shape
        if height is None or width is None:
            raise ValueError('instance_box_mask needs height and width when instance is None')
        return brush_stroke_mask(height, width, rng, np_rng)

    instance = _as_2d(instance, 'instance')
    chosen = rng.choice(ids.tolist())
    ys, xs = np.nonzero(instance == chosen)
    ymin, ymax = int(ys.min()), int(ys.max())
    xmin, xmax = int(xs.min()), int(xs.max())
    if inclusive:
        ymax += 1
        xmax += 1
    mask = np.zeros(instance.shape, dtype=np.float32)
    mask[ymin:ymax, xmin:xmax] = 1.0
    return mask


def training_mask(index: int, label, instance, rng: random.Random,
                  np_rng: np.random.RandomState, num_types: int = 5,
                  instance_kind: str = 'cityscapes', *, inclusive: bool = False) -> np.ndarray:
    """Training mask for dataset sample ``index`` (as upstream).

    The type is ``MASK_TYPES[index % num_types]``: fixed per index, so an image gets
    the same kind of mask every epoch and only its parameters change, as upstream.
    Use ``num_types=5`` for Cityscapes / ADE20k-room and ``4`` for
    ADE20k-landscape (never an instance box). The canvas is the label map's size.
    ``inclusive`` is passed to :func:`instance_box_mask`.
    """
    if not 1 <= num_types <= len(MASK_TYPES):
        raise ValueError(f'num_types must be in [1, {len(MASK_TYPES)}], got {num_types}')
    label = _as_2d(label, 'label')
    height, width = label.shape
    kind = MASK_TYPES[index % num_types]
    if kind == 'brush':
        return brush_stroke_mask(height, width, rng, np_rng)
    if kind == 'right_half':
        return right_half_mask(height, width)
    if kind == 'outpainting':
        return outpainting_mask(height, width, rng)
    if kind == 'class':
        return class_mask(label, rng)
    if instance is not None and _as_2d(instance, 'instance').shape != (height, width):
        raise ValueError('instance map and label map must have the same shape')
    return instance_box_mask(instance, instance_kind, rng, np_rng, inclusive=inclusive,
                             height=height, width=width)


# ---- SIEDOB's training masks (upstream background/dataset.py) -----------------------------------

def all_instance_boxes(instance, min_pixels=400, margin=5) -> np.ndarray:
    """The union of the boxes of every instance (id ≥ 1000, any class) with more than ``min_pixels``
    pixels, each grown by ``margin`` and clamped to [0, side − 1], end-exclusive: as upstream's
    ``load_inst_mask``, whose boxes therefore never reach the last row or column."""
    instance = _as_2d(instance, 'instance')
    height, width = instance.shape
    mask = np.zeros((height, width), dtype=np.float32)
    for iid in np.unique(instance[instance >= 1000]):
        ys, xs = np.nonzero(instance == iid)
        if len(ys) <= min_pixels:
            continue
        y0, y1 = max(0, int(ys.min()) - margin), min(height - 1, int(ys.max()) + margin)
        x0, x1 = max(0, int(xs.min()) - margin), min(width - 1, int(xs.max()) + margin)
        mask[y0:y1, x0:x1] = 1.0
    return mask


SIEDOB_MASK_TYPES = ('brush', 'right_half', 'outpainting')


def siedob_training_mask(index: int, instance, rng: random.Random, np_rng: np.random.RandomState) -> np.ndarray:
    """SIEDOB's training mask for sample ``index``: brush, right half or outpainting by
    ``index % 3``, then, when ``rng.random() > 0.5``, united with :func:`all_instance_boxes`."""
    instance = _as_2d(instance, 'instance')
    height, width = instance.shape
    kind = SIEDOB_MASK_TYPES[index % 3]
    if kind == 'brush':
        mask = brush_stroke_mask(height, width, rng, np_rng)
    elif kind == 'right_half':
        mask = right_half_mask(height, width)
    else:
        mask = outpainting_mask(height, width, rng)
    if rng.random() > 0.5:
        mask = np.maximum(mask, all_instance_boxes(instance))
    return (mask > 0.5).astype(np.float32)


# ---- SIEDOB's object masks (upstream instance_inpainting/dataset.py) ----------------------------

def side_band_mask(height: int, width: int, rng: random.Random) -> np.ndarray:
    """A band along one side of the crop (upstream ``load_right_mask``, despite its name any side):
    thickness int(side × (U(0, 1)/2 + 0.15)) (9..41 pixels at 64); with ``rng.random() > 0.5`` a
    vertical band, right (again > 0.5) or left, otherwise horizontal, bottom or top."""
    height, width = _check_size(height, width)
    rate = rng.uniform(0, 1) / 2 + 0.15
    mask = np.zeros((height, width), dtype=np.float32)
    if rng.random() > 0.5:
        t = int(width * rate)
        if rng.random() > 0.5:
            mask[:, width - t:] = 1.0
        else:
            mask[:, :t] = 1.0
    else:
        t = int(height * rate)
        if rng.random() > 0.5:
            mask[height - t:, :] = 1.0
        else:
            mask[:t, :] = 1.0
    return mask


def object_training_mask(index: int, height: int, width: int, rng: random.Random,
                         np_rng: np.random.RandomState) -> np.ndarray:
    """SIEDOB's object-inpainting hole for sample ``index``: a brush stroke (3..6 vertices, widths
    30..59) for ``index % 3`` in (0, 1), a side band for 2 (upstream's type is fixed per index)."""
    if index % 3 == 2:
        return side_band_mask(height, width, rng)
    return brush_stroke_mask(height, width, rng, np_rng, vertices=(3, 6), widths=(30, 60), width_scale=1)
