"""A procedurally generated toy street-scene dataset in the Cityscapes format.

Why it exists
-------------
Cityscapes (and ADE20K) need a registration and a large download, and the code does no
resizing, so they must also be prepared offline (upstream's ``dataset.py``). To let a user train
and edit images straight after installing, this module *draws* a small dataset instead: no
download, no network, a few seconds on a laptop CPU.

Each sample is a crude forward-looking street scene -- sky at the top, buildings and trees
along a vanishing point, a sidewalk on both sides and the road at the bottom, with a few cars
and pedestrians on top. Every class has a distinct base colour and a mild texture of its own
(blue sky gradient, grey/brown facades with a darker window grid, blotchy green vegetation,
dark noisy road, light pinkish paving, saturated car bodies, people in clothes colours), so a
small generator can visibly learn the mapping "class -> colour/texture" within minutes.

What it writes
--------------
Exactly the upstream layout, so the same loader reads Cityscapes and the demo::

    <root>/demo/train/images/<stem>.jpg     RGB JPEG (quality 95), 512x256 (W x H)
    <root>/demo/train/labels/<stem>.png     8-bit single-channel ('L') Cityscapes labelIds
    <root>/demo/train/inst_map/<stem>.png   16-bit single-channel PNG, Cityscapes instanceIds
    <root>/demo/train/images2048/<stem>.jpg the image at 4× (2048x1024, bicubic), as Cityscapes' originals
                                            beside the 512x256 copies (SIEDOB's high-resolution targets)
    <root>/demo/test/...                    the same, 256x256 (like the Cityscapes test crops)

Stems are ``demo_00000``, ``demo_00001``, ... Label ids are the Cityscapes labelIds of
``DEMO_CLASSES``. Instance maps follow the Cityscapes convention: a stuff pixel holds its class
id (< 1000); each person / car is its own instance ``classId * 1000 + k`` with k = 0, 1, 2, ...
per class and image (e.g. 26000, 26001, 24000).

Generation is deterministic (the same seed and index always give byte-identical files; every
sample has its own ``numpy.random.Generator`` seeded from (seed, split, index), the global RNG is
never touched) and atomic (it is written into a temporary sibling directory that is renamed
into place at the end, together with a ``.complete`` marker holding the parameters as JSON), so
an interrupted run never leaves a half dataset that looks complete.

Usage::

    from semedit.data.demo import ensure_demo_dataset
    dataroot = ensure_demo_dataset('datasets')      # -> 'datasets/demo', generated on first use

    python -m data.demo --root datasets             # (re)generate from the command line
"""
import json
import os
import shutil
import uuid

import numpy as np
from PIL import Image

from semedit.data.siedob_constants import CAR, HIGH_RES_DIR, PERSON
from semedit.util.errors import ArgumentParser

# Cityscapes labelIds of the classes the demo draws.
DEMO_CLASSES = {'road': 7, 'sidewalk': 8, 'building': 11, 'vegetation': 21, 'sky': 23,
                'person': PERSON, 'car': CAR}

# Bump whenever the drawing code changes, so that ensure_demo_dataset regenerates old copies.
DEMO_VERSION = 2

DEMO_DIRNAME = 'demo'
MARKER_NAME = '.complete'
SUBDIRS = ('images', 'labels', 'inst_map')
HIGH_RES_FACTOR = 4  # images2048/: the training split only, as SIEDOB's Cityscapes layout
# split -> (seed-stream code, height, width)
SPLITS = {'train': (0, 256, 512), 'test': (1, 256, 256)}

_ROAD, _SIDEWALK, _BUILDING = DEMO_CLASSES['road'], DEMO_CLASSES['sidewalk'], DEMO_CLASSES['building']
_VEG, _SKY, _PERSON, _CAR = DEMO_CLASSES['vegetation'], DEMO_CLASSES['sky'], DEMO_CLASSES['person'], \
    DEMO_CLASSES['car']

# Palettes (RGB). Car bodies avoid green / white / grey so they never look like vegetation,
# sidewalk or road.
_BUILDING_COLOURS = np.array([[125, 125, 130], [145, 135, 122], [150, 112, 88], [112, 98, 84],
                              [165, 152, 135], [102, 104, 114], [135, 100, 80]], np.float32)
_CAR_COLOURS = np.array([[205, 30, 30], [30, 65, 200], [230, 200, 35], [235, 120, 20],
                         [140, 35, 165], [25, 150, 200], [200, 40, 120]], np.float32)
_SKIN_COLOURS = np.array([[232, 192, 162], [205, 152, 112], [158, 108, 76], [105, 72, 52]], np.float32)
_SHIRT_COLOURS = np.array([[200, 50, 50], [50, 80, 170], [230, 190, 60], [150, 60, 150],
                           [240, 240, 235], [40, 40, 45], [220, 120, 60]], np.float32)
_TROUSER_COLOURS = np.array([[40, 42, 62], [62, 52, 42], [30, 30, 32], [82, 84, 104]], np.float32)


# ----------------------------------------------------------------------------------------------
# drawing helpers
# ----------------------------------------------------------------------------------------------
def _smooth_noise(rng, h, w, cell):
    """Value noise in [0, 1): a coarse random grid, smoothstep-interpolated to h x w."""
    cell = max(1.0, float(cell))
    gh, gw = int(h / cell) + 2, int(w / cell) + 2
    grid = rng.random((gh, gw), dtype=np.float32)
    y = np.arange(h, dtype=np.float32) / cell
    x = np.arange(w, dtype=np.float32) / cell
    y0, x0 = y.astype(np.int64), x.astype(np.int64)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)
    top, bot = grid[y0], grid[y0 + 1]
    a, b, c, d = top[:, x0], top[:, x0 + 1], bot[:, x0], bot[:, x0 + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


class _Canvas:
    """Label map, per-pixel object index and an RGB layer for the objects."""

    def __init__(self, h, w):
        self.h, self.w = h, w
        self.label = np.full((h, w), _SKY, np.uint8)
        self.obj = np.full((h, w), -1, np.int32)
        self.obj_rgb = np.zeros((h, w, 3), np.float32)
        self.objects = []  # class id of each drawn object, in drawing order

    def box(self, x0, x1, y0, y1):
        """Clipped integer box -> (slice_y, slice_x, local y column, local x row) or None."""
        xa, xb = max(0, int(np.floor(x0))), min(self.w, int(np.ceil(x1)) + 1)
        ya, yb = max(0, int(np.floor(y0))), min(self.h, int(np.ceil(y1)) + 1)
        if xa >= xb or ya >= yb:
            return None
        ly = np.arange(ya, yb, dtype=np.float32)[:, None]
        lx = np.arange(xa, xb, dtype=np.float32)[None, :]
        return (slice(ya, yb), slice(xa, xb), ly, lx)

    def new_object(self, cls):
        self.objects.append(cls)
        return len(self.objects) - 1

    def paint(self, box, mask, cls, oid, rgb):
        """Paint ``mask`` (local to ``box``) as object ``oid`` of class ``cls`` with colour ``rgb``."""
        sy, sx = box[0], box[1]
        mask = np.broadcast_to(mask, (sy.stop - sy.start, sx.stop - sx.start))
        self.label[sy, sx][mask] = cls
        self.obj[sy, sx][mask] = oid
        rgb = np.broadcast_to(np.asarray(rgb, np.float32), mask.shape + (3,))
        self.obj_rgb[sy, sx][mask] = rgb[mask]

    def instance_map(self):
        """Cityscapes instanceIds: class id on stuff, classId*1000 + k on visible objects."""
        inst = self.label.astype(np.int32)
        counters = {}
        for oid in np.unique(self.obj[self.obj >= 0]):  # ascending = drawing order
            cls = self.objects[oid]
            k = counters.get(cls, 0)
            counters[cls] = k + 1
            inst[self.obj == oid] = cls * 1000 + k
        return inst


def _superellipse(ly, lx, cx, cy, rx, ry, p=4.0):
    return (np.abs((lx - cx) / rx) ** p + np.abs((ly - cy) / ry) ** p) <= 1.0


def _draw_car(cv, rng, xc, yb, cw, ch):
    box = cv.box(xc - cw / 2, xc + cw / 2, yb - ch, yb)
    if box is None:
        return
    _, _, ly, lx = box
    oid = cv.new_object(_CAR)
    body = _CAR_COLOURS[rng.integers(len(_CAR_COLOURS))] * rng.uniform(0.85, 1.1)
    dark = np.array([22, 22, 26], np.float32)
    glass = np.array([38, 46, 60], np.float32)
    # wheels (two dark blocks at the bottom corners)
    wheels = (ly >= yb - 0.2 * ch) & (ly <= yb) & (
        (np.abs(lx - (xc - 0.36 * cw)) <= 0.11 * cw) | (np.abs(lx - (xc + 0.36 * cw)) <= 0.11 * cw))
    cv.paint(box, wheels, _CAR, oid, dark)
    # cabin: a trapezoid, narrower at the top, with a dark rear window inside
    t = np.clip((ly - (yb - ch)) / (0.45 * ch), 0, 1)  # 0 at the roof, 1 at the belt line
    half = cw * (0.33 + 0.12 * t)
    cabin = (ly >= yb - ch) & (ly <= yb - 0.5 * ch) & (np.abs(lx - xc) <= half)
    cv.paint(box, cabin, _CAR, oid, body * 0.9)
    window = (ly >= yb - 0.92 * ch) & (ly <= yb - 0.58 * ch) & (np.abs(lx - xc) <= half - 0.05 * cw)
    cv.paint(box, window, _CAR, oid, glass)
    # body: a rounded box with a little vertical shading
    bcy, bry = yb - 0.36 * ch, 0.2 * ch
    shade = (1.08 - 0.25 * np.clip((ly - (bcy - bry)) / (2 * bry), 0, 1))[..., None]
    cv.paint(box, _superellipse(ly, lx, xc, bcy, cw / 2, bry), _CAR, oid, body[None, None] * shade)
    # tail lights / number plate: small light patches keep it car-like
    lights = (np.abs(ly - (bcy - 0.25 * bry)) <= 0.18 * bry + 0.5) & (
        np.abs(np.abs(lx - xc) - 0.4 * cw) <= 0.05 * cw + 0.5)
    cv.paint(box, lights, _CAR, oid, np.array([250, 235, 200], np.float32))


def _draw_person(cv, rng, xc, yb, ph):
    pw = 0.3 * ph
    box = cv.box(xc - pw / 2, xc + pw / 2, yb - ph, yb)
    if box is None:
        return
    _, _, ly, lx = box
    oid = cv.new_object(_PERSON)
    skin = _SKIN_COLOURS[rng.integers(len(_SKIN_COLOURS))]
    shirt = _SHIRT_COLOURS[rng.integers(len(_SHIRT_COLOURS))]
    trousers = _TROUSER_COLOURS[rng.integers(len(_TROUSER_COLOURS))]
    top = yb - ph
    gap = 0.02 * ph
    legs = (ly >= top + 0.52 * ph) & (np.abs(lx - xc) >= gap) & (np.abs(lx - xc) <= 0.12 * ph)
    cv.paint(box, legs, _PERSON, oid, trousers)
    torso = _superellipse(ly, lx, xc, top + 0.36 * ph, 0.15 * ph, 0.21 * ph, p=3.0)
    cv.paint(box, torso, _PERSON, oid, shirt)
    head = _superellipse(ly, lx, xc, top + 0.08 * ph, 0.065 * ph, 0.08 * ph, p=2.0)
    cv.paint(box, head, _PERSON, oid, skin)


# ----------------------------------------------------------------------------------------------
# one sample
# ----------------------------------------------------------------------------------------------
def generate_demo_sample(seed, height=256, width=512):
    """Draw one toy street scene.

    ``seed`` is an int or a sequence of ints (fed to ``numpy.random.default_rng``); the same
    seed and size always give identical arrays. Returns ``(image, label, instance)``:
    ``image`` H x W x 3 uint8 RGB, ``label`` H x W uint8 Cityscapes labelIds (values from
    ``DEMO_CLASSES``), ``instance`` H x W int32 Cityscapes instanceIds.
    """
    H, W = int(height), int(width)
    if H < 32 or W < 32:
        raise ValueError(f'demo images must be at least 32x32, got {W}x{H}')
    rng = np.random.default_rng(seed)
    sc = H / 256.0  # object sizes follow the image height (train and test share it)
    yy = np.arange(H, dtype=np.float32)[:, None]
    xx = np.arange(W, dtype=np.float32)[None, :]
    cv = _Canvas(H, W)
    label = cv.label

    # --- geometry: a vanishing point on the horizon ---------------------------------------
    vy = H * rng.uniform(0.36, 0.5)
    vx = W * rng.uniform(0.35, 0.65)
    dx = np.abs(xx - vx)
    road_k = rng.uniform(1.2, 1.9)    # road half width per pixel of depth below the horizon
    base_s = rng.uniform(0.17, 0.28)  # slope of the facades' base line (sidewalk's outer edge)
    base = vy + base_s * dx           # 1 x W: where buildings meet the sidewalk
    road_edge = vy + dx / road_k      # 1 x W: where the sidewalk meets the road

    # --- buildings and parks in vertical segments ------------------------------------------
    seg_id = np.zeros(W, np.int64)
    seg_top = np.zeros(W, np.float32)
    seg_park = np.zeros(W, bool)
    x, i = 0, 0
    park_edge = _smooth_noise(rng, 1, W, 10 * sc)[0]
    while x < W:
        sw = int(max(6, W * rng.uniform(0.05, 0.16) * (0.35 + abs(x - vx) / (0.5 * W))))
        sl = slice(x, min(W, x + sw))
        h0 = H * rng.uniform(0.03, 0.12)
        tilt = rng.uniform(0.3, 1.0)
        top = vy - h0 - dx[0, sl] * tilt
        park = rng.random() < 0.15
        if park:  # a park: a low, bumpy treeline instead of a facade
            top = vy - (h0 + dx[0, sl] * tilt) * 0.4 - H * 0.06 * park_edge[sl]
        seg_id[sl], seg_top[sl], seg_park[sl] = i, np.maximum(top, 0.03 * H), park
        x, i = sl.stop, i + 1
    above_base = (yy >= seg_top[None, :]) & (yy < base)
    label[above_base & ~seg_park[None, :]] = _BUILDING
    label[above_base & seg_park[None, :]] = _VEG
    label[(yy >= base) & (yy < road_edge)] = _SIDEWALK
    label[yy >= road_edge] = _ROAD

    # --- trees on the sidewalk (vegetation; drawn as stuff, so no instance ids) ------------
    veg_noise = _smooth_noise(rng, H, W, 7 * sc)
    trunk = np.zeros((H, W), bool)
    for _ in range(int(rng.integers(2, 6))):
        # keep trees away from the vanishing point, where they would be tiny
        side = rng.choice([-1.0, 1.0])
        room = vx if side < 0 else W - vx
        tx = vx + side * room * rng.uniform(0.3, 1.0)
        tdx = abs(tx - vx)
        ty = vy + tdx * (base_s + rng.uniform(0.15, 0.5) * (1 / road_k - base_s))  # foot on the sidewalk
        r = min(0.3 * H, max(6 * sc, tdx * rng.uniform(0.15, 0.3)))
        trunk_h, trunk_w = 0.8 * r, max(1.5, 0.12 * r)
        cy = ty - trunk_h - 0.8 * r
        box = cv.box(tx - r, tx + r, cy - r, ty)
        if box is None:
            continue
        sy, sx, ly, lx = box
        d = ((lx - tx) / (0.85 * r)) ** 2 + ((ly - cy) / r) ** 2
        canopy = d <= 0.75 + 0.5 * veg_noise[sy, sx]
        stem = (np.abs(lx - tx) <= trunk_w) & (ly >= cy) & (ly <= ty)
        label[sy, sx][canopy | stem] = _VEG
        trunk[sy, sx] |= stem & ~canopy

    # --- cars on the road, pedestrians on the sidewalk; far ones first (occlusion) ---------
    objects = []
    ground = H - vy
    for _ in range(int(rng.integers(1, 5))):
        yb = vy + ground * rng.uniform(0.12, 1.08) ** 0.8
        s = (yb - vy) / ground
        cw = max(10 * sc, s * H * rng.uniform(0.5, 0.62))
        half_road = (yb - vy) * road_k
        xc = vx + rng.uniform(-1.0, 1.0) * max(0.0, 0.92 * half_road - 0.45 * cw)
        objects.append((yb, 'car', xc, cw, cw * rng.uniform(0.72, 0.85)))
    for _ in range(int(rng.integers(0, 4))):
        side = rng.choice([-1.0, 1.0])
        room = vx if side < 0 else W - vx
        xc = vx + side * room * rng.uniform(0.25, 0.98)
        pdx = abs(xc - vx)
        yb = vy + pdx * (base_s + rng.uniform(0.2, 0.95) * (1 / road_k - base_s))
        s = (yb - vy) / ground
        objects.append((yb, 'person', xc, max(12 * sc, s * H * rng.uniform(0.45, 0.58)), 0.0))
    objects.sort(key=lambda o: o[0])
    for yb, kind, xc, size, size2 in objects:
        if kind == 'car':
            _draw_car(cv, rng, xc, yb, size, size2)
        else:
            _draw_person(cv, rng, xc, yb, size)

    # --- colours and textures, one per class ------------------------------------------------
    n1 = _smooth_noise(rng, H, W, 24 * sc)   # large-scale variation
    fine = rng.random((H, W), dtype=np.float32) - 0.5
    img = np.zeros((H, W, 3), np.float32)

    def put(cls, rgb):
        m = label == cls
        img[m] = np.broadcast_to(rgb, (H, W, 3))[m]

    # sky: blue vertical gradient, lighter towards the horizon, with faint haze
    t = np.clip(yy / max(vy, 1.0), 0, 1)[..., None]
    sky_top = np.array([45, 100, 200], np.float32) * rng.uniform(0.9, 1.1)
    sky_hor = np.array([165, 198, 238], np.float32)
    put(_SKY, sky_top * (1 - t) + sky_hor * t + 18 * (n1[..., None] - 0.5))

    # buildings: one base colour per segment, darker window grid, fine noise
    n_seg = int(seg_id.max()) + 1
    seg_col = _BUILDING_COLOURS[rng.integers(len(_BUILDING_COLOURS), size=n_seg)]
    seg_col = seg_col * rng.uniform(0.85, 1.12, size=(n_seg, 1)).astype(np.float32)
    period = (rng.uniform(7, 13, size=n_seg) * sc).astype(np.float32)
    seg_x0 = np.array([np.argmax(seg_id == k) for k in range(n_seg)], np.float32)
    px = (xx - seg_x0[seg_id][None, :]) % period[seg_id][None, :] / period[seg_id][None, :]
    py = (yy - seg_top[None, :]) % (1.3 * period[seg_id][None, :]) / (1.3 * period[seg_id][None, :])
    windows = (px > 0.3) & (px < 0.8) & (py > 0.3) & (py < 0.8)
    bcol = seg_col[seg_id][None, :, :] * (1 + 0.1 * fine[..., None])
    bcol = np.where(windows[..., None], bcol * 0.45 + np.array([8, 12, 22], np.float32), bcol)
    put(_BUILDING, bcol)

    # vegetation: blotchy greens, brown trunks
    blot = 0.55 + 0.8 * veg_noise[..., None] + 0.15 * fine[..., None]
    put(_VEG, np.array([58, 118, 40], np.float32) * blot)
    img[trunk] = np.array([78, 62, 42], np.float32)

    # road: dark grey asphalt, lighter speckles, a dashed centre line in perspective
    depth = np.maximum(yy - vy, 1.0)
    road = 78 + 18 * fine + 10 * (n1 - 0.5)
    lane_x = vx + rng.uniform(-0.15, 0.15) * depth * road_k
    dash = (np.abs(xx - lane_x) <= 0.012 * depth + 0.3) & ((np.log(depth) * 5.0) % 1.0 < 0.5)
    road = np.where(dash, 175.0, road)[..., None] * np.array([1.0, 1.0, 1.05], np.float32)
    put(_ROAD, road)

    # sidewalk: light pinkish grey paving with darker joints
    joints = ((np.log(depth) * 9.0) % 1.0 < 0.12)
    paving = np.array([184, 166, 170], np.float32) * (1 + 0.06 * fine - 0.12 * joints)[..., None]
    put(_SIDEWALK, paving)

    # objects carry their own colours
    m = cv.obj >= 0
    img[m] = cv.obj_rgb[m] * (1 + 0.06 * fine[m])[:, None]

    # a little global exposure change and sensor noise
    img = img * rng.uniform(0.92, 1.08) + rng.normal(0.0, 2.5, size=img.shape).astype(np.float32)
    image = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return image, label.copy(), cv.instance_map()


# ----------------------------------------------------------------------------------------------
# the dataset on disk
# ----------------------------------------------------------------------------------------------
def _params(num_train, num_test, seed):
    return {'format': 'semedit-demo', 'version': DEMO_VERSION, 'seed': int(seed),
            'num_train': int(num_train), 'num_test': int(num_test),
            'sizes_wh': {split: [w, h] for split, (_, h, w) in SPLITS.items()}}


def _is_complete(path, params):
    """True if ``path`` holds a finished dataset generated with exactly ``params``."""
    try:
        with open(os.path.join(path, MARKER_NAME)) as f:
            if json.load(f) != params:
                return False
        for split, n in (('train', params['num_train']), ('test', params['num_test'])):
            for sub in _subdirs(split):
                if len(os.listdir(os.path.join(path, split, sub))) != n:
                    return False
    except (OSError, ValueError):
        return False
    return True


def _subdirs(split):
    return SUBDIRS + ((HIGH_RES_DIR,) if split == 'train' else ())


def _write_split(out_dir, split, n, seed):
    code, h, w = SPLITS[split]
    dirs = [os.path.join(out_dir, split, sub) for sub in _subdirs(split)]
    for d in dirs:
        os.makedirs(d)
    for i in range(n):
        image, label, inst = generate_demo_sample((seed, code, i), h, w)
        stem = f'demo_{i:05d}'
        Image.fromarray(image).save(os.path.join(dirs[0], stem + '.jpg'), quality=95)
        Image.fromarray(label).save(os.path.join(dirs[1], stem + '.png'))
        Image.fromarray(inst.astype(np.uint16)).save(os.path.join(dirs[2], stem + '.png'))
        if len(dirs) > 3:  # aligned with the image: pixel (r, c) covers [4r, 4r + 4) × [4c, 4c + 4)
            big = Image.fromarray(image).resize((w * HIGH_RES_FACTOR, h * HIGH_RES_FACTOR), Image.BICUBIC)
            big.save(os.path.join(dirs[3], stem + '.jpg'), quality=90)


def generate_demo_dataset(root, num_train=100, num_test=20, seed=0, overwrite=False):
    """Write the demo dataset to ``<root>/demo`` and return that path.

    Raises ``FileExistsError`` if ``<root>/demo`` exists and ``overwrite`` is False (use
    ``ensure_demo_dataset`` to generate only when needed). The new copy is built in a temporary
    sibling directory and swapped in at the end, so an interrupted run leaves no half dataset.
    """
    if int(num_train) < 0 or int(num_test) < 0 or int(seed) < 0:
        raise ValueError('num_train, num_test and seed must be non-negative integers')
    params = _params(num_train, num_test, seed)
    root = os.fspath(root)
    target = os.path.join(root, DEMO_DIRNAME)
    if os.path.lexists(target) and not overwrite:
        raise FileExistsError(f'{target} already exists; pass overwrite=True to regenerate it')
    os.makedirs(root, exist_ok=True)
    print(f'Generating the demo dataset ({params["num_train"]} train / {params["num_test"]} test) '
          f'in {target} ...', flush=True)
    # a unique sibling made with os.mkdir (normal permissions, unlike tempfile.mkdtemp's 0700)
    tmp = os.path.join(root, f'.{DEMO_DIRNAME}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}')
    os.mkdir(tmp)
    try:
        _write_split(tmp, 'train', params['num_train'], params['seed'])
        _write_split(tmp, 'test', params['num_test'], params['seed'])
        with open(os.path.join(tmp, MARKER_NAME), 'w') as f:
            json.dump(params, f, indent=1, sort_keys=True)
        old = None
        if os.path.lexists(target):  # a directory cannot be replaced in one step: move it aside
            old = tmp + '.old'
            os.rename(target, old)
        try:
            os.rename(tmp, target)
        except OSError:
            if not _is_complete(target, params):  # not another process finishing the same job
                if old is not None and not os.path.lexists(target):
                    os.rename(old, target)  # put the previous copy back
                raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def ensure_demo_dataset(root, **kw):
    """Return ``<root>/demo``, generating it first unless a complete copy with the same
    parameters (``num_train``, ``num_test``, ``seed``; see ``generate_demo_dataset``) is there."""
    allowed = {'num_train', 'num_test', 'seed'}
    if set(kw) - allowed:
        raise TypeError(f'unexpected arguments {sorted(set(kw) - allowed)}; allowed: {sorted(allowed)}')
    params = _params(kw.get('num_train', 100), kw.get('num_test', 20), kw.get('seed', 0))
    target = os.path.join(os.fspath(root), DEMO_DIRNAME)
    if _is_complete(target, params):
        return target
    return generate_demo_dataset(root, overwrite=True, **kw)


def main(argv=None):
    p = ArgumentParser(description='(Re)generate the procedural Cityscapes-format demo dataset in <root>/demo '
                                   '(no download needed).')
    p.add_argument('--root', default='datasets', help='parent directory (default: datasets)')
    p.add_argument('--num_train', '--num-train', type=int, default=100)
    p.add_argument('--num_test', '--num-test', type=int, default=20)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--if_missing', '--if-missing', action='store_true',
                   help='only generate when no complete copy with these parameters exists')
    a = p.parse_args(argv)
    kw = dict(num_train=a.num_train, num_test=a.num_test, seed=a.seed)
    path = ensure_demo_dataset(a.root, **kw) if a.if_missing else \
        generate_demo_dataset(a.root, overwrite=True, **kw)
    print(path)


if __name__ == '__main__':
    main()
