"""A deterministic evaluation mask set: DIR/0000.png, 0001.png, ... and DIR/masks.json
(``make_masks``; the command line is ``scripts/make_masks.py``).

    python scripts/make_masks.py --out_dir masks/ [--count 2000] [--size 256 | WxH] [--seed 0]
        [--mix brush,right_half,outpainting,box] [--dataroot D --dataset_name X] [--overwrite]
    python scripts/make_masks.py --verify masks/        # a copy still holds the masks of its masks.json

Each file is an 8-bit greyscale PNG holding 0 and 255 only; 255 (white) = region to edit, as
``test.py --mask_dir`` reads it (paired with the test images by sorted name, as upstream).

**Deterministic.** Mask i draws only from ``random.Random(a_i)`` and ``np.random.RandomState(b_i)``
where (a_i, b_i) = ``np.random.SeedSequence([seed, i]).generate_state(2)``: no global RNG, so
mask i does not depend on the count, on the other masks or on the order of generation. The masks
come from Python's ``random``, numpy's legacy ``RandomState`` (both stable across versions) and,
for the brush, Pillow's ``ImageDraw`` line/ellipse rasteriser. The PNGs are written by Pillow, whose
compressed bytes may differ between zlib builds; what is reproducible is the pixels.

**masks.json** (``"format": 2``) records, besides the arguments, the software versions and the
coverage of each mask, each file's ``pixels_sha256``: the sha256 of the ASCII header ``"H W uint8\\n"``
(height, width, dtype) followed by the H·W pixel bytes row by row (``pixels_sha256()``), so a copy
re-compressed by another tool still verifies (``verify_mask_set()``, ``scripts/make_masks.py
--verify DIR``). Sets written before (``"format": 1``, by a hand-written PNG encoder) record
``sha256`` of each file's bytes instead; they are verified by those bytes.

**Families** (the type of mask i is ``mix[i % len(mix)]``, round-robin, so any prefix of the set
keeps the mix; list a family twice to weight it):

* ``brush``       -- data/masks.py ``brush_stroke_mask`` (the training free-form stroke);
* ``right_half``  -- columns [W/2, W) edited (``right_half_mask``);
* ``outpainting`` -- everything edited except an (H/2)×(W/2) known window (``outpainting_mask``);
* ``box``         -- one random rectangle (defined here, not a training type). Draws, in order, from
  the mask's ``random.Random``: area fraction a ~ U(0.10, 0.50); aspect factor rho = exp(U(ln 1/2,
  ln 2)) relative to the image's own aspect; height bh = round(H·sqrt(a/rho)) (at least 1), width
  bw = round(a·H·W / bh), then bw is nudged by single columns until bh·bw / (H·W) lies in
  [0.10, 0.50] (so the coverage is always in that range); top ~ randint(0, H−bh), left ~
  randint(0, W−bw) (inclusive).
* ``class``, ``instance_box`` -- need ``--dataroot/--dataset_name``: mask i is built from test
  image i's (sorted) label map / instance map with ``class_mask`` / ``instance_box_mask``
  (end-exclusive box as upstream unless ``--inclusive_box``; a map without instances falls back to
  a brush stroke, recorded as ``fallback`` in masks.json).

With ``--dataroot/--dataset_name`` every mask takes the size of its paired test image (``--size``
is then refused) and ``--count`` defaults to the number of test images.

Files are written to a temporary name and renamed (``util.image_io.save_image_atomic``); masks.json
is written last. A folder that is not empty is refused unless ``--overwrite`` (which also removes
numbered masks left by a larger set).
"""
import hashlib
import json
import math
import os
import platform
import random
import re

import numpy as np
from PIL import Image

from semedit.data import dataset_folder, masks as mask_gen
from semedit.data.preprocess import parse_wxh
from semedit.util.atomic import atomic_write
from semedit.util.errors import UserError
from semedit.util.image_io import IMAGE_EXTENSIONS, image_size, save_image_atomic

FAMILIES = ('brush', 'right_half', 'outpainting', 'box', 'class', 'instance_box')
LABEL_FAMILIES = ('class', 'instance_box')
DEFAULT_MIX = ('brush', 'right_half', 'outpainting', 'box')
DEFAULT_COUNT = 2000
BOX_MIN, BOX_MAX = 0.10, 0.50      # box coverage range (fraction of the image)
BOX_ASPECT = 2.0                   # rho in [1/BOX_ASPECT, BOX_ASPECT], log-uniform
MIN_SIDE = 64                      # data/masks.py generators are meant for sides >= 64


# ---- randomness ------------------------------------------------------------------------------

def mask_rngs(seed, index):
    """The two generators of mask ``index``: derived from (seed, index) only."""
    a, b = np.random.SeedSequence([int(seed), int(index)]).generate_state(2)
    return random.Random(int(a)), np.random.RandomState(int(b))


# ---- families --------------------------------------------------------------------------------

def box_mask(height, width, rng):
    """One rectangle covering BOX_MIN..BOX_MAX of the image (distribution in the module docstring)."""
    total = height * width
    area = rng.uniform(BOX_MIN, BOX_MAX)
    rho = math.exp(rng.uniform(-math.log(BOX_ASPECT), math.log(BOX_ASPECT)))
    bh = min(height, max(1, int(round(height * math.sqrt(area / rho)))))
    bw = min(width, max(1, int(round(area * total / bh))))
    while bh * bw > BOX_MAX * total and bw > 1:
        bw -= 1
    while bh * bw < BOX_MIN * total and bw < width:
        bw += 1
    top = rng.randint(0, height - bh)
    left = rng.randint(0, width - bw)
    mask = np.zeros((height, width), np.float32)
    mask[top:top + bh, left:left + bw] = 1.0
    return mask


def make_mask(family, seed, index, height, width, label=None, instance=None, instance_kind='none',
              inclusive=False):
    """Mask ``index`` of the set as float32 {0, 1}; returns (mask, fallback or None)."""
    rng, np_rng = mask_rngs(seed, index)
    if family == 'brush':
        return mask_gen.brush_stroke_mask(height, width, rng, np_rng), None
    if family == 'right_half':
        return mask_gen.right_half_mask(height, width), None
    if family == 'outpainting':
        return mask_gen.outpainting_mask(height, width, rng), None
    if family == 'box':
        return box_mask(height, width, rng), None
    if family == 'class':
        return mask_gen.class_mask(label, rng), None
    if family == 'instance_box':
        fallback = None
        if mask_gen.instance_candidates(instance, instance_kind).size == 0:
            fallback = 'brush'
        return mask_gen.instance_box_mask(instance, instance_kind, rng, np_rng, inclusive=inclusive,
                                          height=height, width=width), fallback
    raise ValueError(f'unknown mask family {family!r}')


# ---- masks.json: the hash of a mask, verifying a set ------------------------------------------

FORMAT = 2          # format 1: before the PNGs came from Pillow; each record held its file's sha256
MAX_SHOWN = 5       # problems named in a failed verification's one line


def pixels_sha256(pixels):
    """The hash masks.json records for a mask (format 2): sha256 of the ASCII header ``"H W dtype\\n"``
    followed by the pixel bytes row by row. How the PNG was compressed does not enter it."""
    height, width = pixels.shape
    digest = hashlib.sha256(f'{height} {width} {pixels.dtype.name}\n'.encode('ascii'))
    digest.update(np.ascontiguousarray(pixels).tobytes())
    return digest.hexdigest()


def read_pixels(path):
    """A mask file's decoded pixels (H×W uint8); a file that is not an 8-bit greyscale image is a UserError."""
    try:
        with Image.open(path) as im:
            if im.mode != 'L':
                raise UserError(f'{path} is not an 8-bit greyscale image (mode {im.mode})')
            return np.asarray(im)
    except OSError as exc:
        raise UserError(f'cannot read {path}: {exc}') from None


def file_pixels_sha256(path):
    return pixels_sha256(read_pixels(path))


def file_bytes_sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


# masks.json format -> (the key of each record's hash, how a file is hashed, what that hash covers)
RECORDED_HASH = {1: ('sha256', file_bytes_sha256, 'file bytes'),
                 2: ('pixels_sha256', file_pixels_sha256, 'pixels')}


def read_masks_json(folder):
    path = os.path.join(folder, 'masks.json')
    try:
        with open(path, encoding='utf-8') as f:
            meta = json.load(f)
    except FileNotFoundError:
        raise UserError(f'{path} not found; give a folder written by scripts/make_masks.py') from None
    except (OSError, ValueError) as exc:
        raise UserError(f'cannot read {path}: {exc}') from None
    fmt = meta.get('format') if isinstance(meta, dict) else None
    if fmt not in RECORDED_HASH:
        raise UserError(f'{path} has format {fmt!r}; this version reads formats '
                        f'{", ".join(map(str, RECORDED_HASH))}')
    return meta


def mask_problem(folder, record, fmt):
    """Why the file of ``record`` does not hold the mask masks.json recorded, or None."""
    key, file_hash, what = RECORDED_HASH[fmt]
    path = os.path.join(folder, record['file'])
    if not os.path.isfile(path):
        return f'{record["file"]} is missing'
    try:
        if file_hash(path) != record.get(key):
            return f'{record["file"]}: {what} differ from masks.json ({key})'
    except UserError as exc:
        return str(exc)
    return None


def unlisted_images(folder, meta):
    """Images in ``folder`` that masks.json does not list: the loader would pair them with test images too."""
    listed = {r['file'] for r in meta['masks']}
    return sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS) and f not in listed)


def verify_mask_set(folder):
    """Check that ``folder`` holds the masks its masks.json records (format 2: their pixels; format 1:
    the files' bytes) and no other image. Returns masks.json's dict; a mismatch is a UserError that
    names the files."""
    meta = read_masks_json(folder)
    problems = [p for r in meta['masks'] if (p := mask_problem(folder, r, meta['format']))]
    problems += [f'{f} is not listed in masks.json' for f in unlisted_images(folder, meta)]
    if problems:
        shown = '; '.join(problems[:MAX_SHOWN]) + ('; ...' if len(problems) > MAX_SHOWN else '')
        raise UserError(f'{folder} does not match its masks.json ({len(problems)} problem(s)): {shown}')
    return meta


# ---- command line ----------------------------------------------------------------------------

def parse_size(value):
    """'256' -> (256, 256); '512x256' (W×H) -> (h, w) = (256, 512)."""
    h, w = parse_wxh(value, '--size')
    if min(h, w) < MIN_SIDE:
        raise UserError(f'--size {value}: both sides must be at least {MIN_SIDE}')
    return h, w


def parse_mix(value, with_labels):
    mix = [m.strip() for m in str(value).split(',') if m.strip()]
    if not mix:
        raise UserError('--mix is empty; give e.g. brush,right_half,outpainting,box')
    for m in mix:
        if m not in FAMILIES:
            raise UserError(f'--mix: unknown family {m!r}; choose from {", ".join(FAMILIES)}')
        if m in LABEL_FAMILIES and not with_labels:
            raise UserError(f'--mix {m} needs the test labels: give --dataroot and --dataset_name')
    return mix


def file_name(index, count):
    return f'{index:0{max(4, len(str(count - 1)))}d}.png'


def prepare_out_dir(out_dir, overwrite):
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UserError(f'--out_dir {out_dir} is a file, not a folder')
    if os.path.isdir(out_dir):
        present = sorted(os.listdir(out_dir))
        if present and not overwrite:
            raise UserError(f'--out_dir {out_dir} is not empty ({len(present)} entries, e.g. {present[0]}); '
                            f'choose an empty folder or pass --overwrite')
    os.makedirs(out_dir, exist_ok=True)


class TestSplit:
    """Test image i (sorted as the loader sorts them): its size, and its label / instance maps."""

    def __init__(self, dataroot, dataset_name, label_nc, instance_format):
        from semedit.data import find_dataset_using_name
        try:
            cls = find_dataset_using_name(dataset_name)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        if cls.default_label_nc is None:       # custom
            self.kind = instance_format or 'none'
        else:
            self.kind = cls.instance_kind
        self.label_nc = label_nc if label_nc is not None else cls.default_label_nc
        self.root = os.path.join(dataroot, dataset_folder(dataset_name), 'test')
        image_dir = os.path.join(self.root, 'images')
        if not os.path.isdir(image_dir):
            raise UserError(f'test images not found: {image_dir}')
        names = sorted(f for f in os.listdir(image_dir) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not names:
            raise UserError(f'no images in {image_dir}')
        self.names = names
        self.image_dir = image_dir

    def __len__(self):
        return len(self.names)

    def stem(self, i):
        return os.path.splitext(self.names[i])[0]

    def size(self, i):
        path = os.path.join(self.image_dir, self.names[i])
        try:
            w, h = image_size(path)
        except OSError as exc:
            raise UserError(f'cannot read test image {path}: {exc}') from None
        return h, w

    def label(self, i):
        from semedit.util.image_io import read_label
        return read_label(os.path.join(self.root, 'labels', self.stem(i) + '.png'), self.label_nc)

    def instance(self, i):
        if self.kind == 'none':
            return None
        from semedit.util.image_io import read_instance
        return read_instance(os.path.join(self.root, 'inst_map', self.stem(i) + '.png'), self.kind)


def make_masks(out_dir, count=None, size=None, seed=0, mix=DEFAULT_MIX, dataroot=None, dataset_name=None,
               label_nc=None, instance_format=None, inclusive_box=False, overwrite=False, quiet=False):
    """Write the set; returns the masks.json dict. Raises UserError for bad use."""
    with_labels = dataroot is not None or dataset_name is not None
    if with_labels and (dataroot is None or dataset_name is None):
        raise UserError('--dataroot and --dataset_name go together')
    mix = parse_mix(','.join(mix) if not isinstance(mix, str) else mix, with_labels)
    if int(seed) < 0:
        raise UserError(f'--seed must be >= 0, got {seed}')
    split = None
    if with_labels:
        if size is not None:
            raise UserError('--size cannot be used with --dataroot: each mask takes the size of its test image')
        split = TestSplit(dataroot, dataset_name, label_nc, instance_format)
        if count is None:
            count = len(split)
        if count > len(split):
            raise UserError(f'--count {count}: the test split {split.root} has only {len(split)} images to pair with')
    else:
        height, width = parse_size(size if size is not None else 256)
        count = DEFAULT_COUNT if count is None else count
    if count < 1:
        raise UserError(f'--count must be at least 1, got {count}')
    prepare_out_dir(out_dir, overwrite)

    records = []
    names = set()
    for i in range(count):
        family = mix[i % len(mix)]
        label = instance = None
        if split is not None:
            height, width = split.size(i)
            if family in LABEL_FAMILIES:
                label = split.label(i)
                if label.shape != (height, width):
                    raise UserError(f'label map of test image {split.names[i]} is {label.shape[1]}×{label.shape[0]} '
                                    f'but the image is {width}×{height}; run python scripts/check_dataset.py first')
                if family == 'instance_box':
                    instance = split.instance(i)
        mask, fallback = make_mask(family, seed, i, height, width, label, instance,
                                   split.kind if split is not None else 'none', inclusive_box)
        u8 = (mask > 0.5).astype(np.uint8) * 255
        name = file_name(i, count)
        save_image_atomic(u8, os.path.join(out_dir, name))
        names.add(name)
        rec = {'file': name, 'family': family, 'coverage': round(float((u8 > 0).mean()), 6),
               'width': int(width), 'height': int(height), 'pixels_sha256': pixels_sha256(u8)}
        if fallback:
            rec['fallback'] = fallback
        if split is not None:
            rec['image'] = split.names[i]
        records.append(rec)

    if overwrite:  # numbered masks of an earlier, larger set would be paired with test images too
        for f in os.listdir(out_dir):
            if re.fullmatch(r'\d+\.png', f) and f not in names:
                os.remove(os.path.join(out_dir, f))
    summary = {}
    for fam in dict.fromkeys(mix):
        cov = [r['coverage'] for r in records if r['family'] == fam]
        if cov:
            summary[fam] = {'count': len(cov), 'mean': round(float(np.mean(cov)), 6),
                            'min': min(cov), 'max': max(cov)}
    meta = {
        'format': FORMAT,
        'args': {'count': count, 'size': None if split is not None else f'{width}x{height}', 'seed': int(seed),
                 'mix': mix, 'dataroot': dataroot, 'dataset_name': dataset_name,
                 'label_nc': split.label_nc if split is not None else None,
                 'instance_format': split.kind if split is not None else None, 'inclusive_box': bool(inclusive_box)},
        'convention': '8-bit greyscale PNG, 255 = edited, 0 = known; file i pairs with test image i (sorted)',
        'seeding': 'mask i: random.Random(a), np.random.RandomState(b), (a, b) = '
                   'np.random.SeedSequence([seed, i]).generate_state(2)',
        'families': {'box': f'area a~U({BOX_MIN},{BOX_MAX}); rho=exp(U(-ln {BOX_ASPECT:g}, ln {BOX_ASPECT:g})); '
                            'bh=round(H*sqrt(a/rho)); bw=round(a*H*W/bh) nudged into the coverage range; '
                            'top~randint(0,H-bh), left~randint(0,W-bw)'},
        'pixels_sha256': 'sha256 of the ASCII header "H W uint8\\n" followed by the pixel bytes row by row',
        'software': {'python': platform.python_version(), 'numpy': np.__version__, 'pillow': _pillow_version()},
        'summary': summary,
        'masks': records,
    }
    atomic_write(os.path.join(out_dir, 'masks.json'), (json.dumps(meta, indent=1) + '\n').encode())
    if not quiet:
        print(format_summary(meta, out_dir))
    return meta


def _pillow_version():
    import PIL
    return PIL.__version__


def format_summary(meta, out_dir):
    lines = [f'Wrote {len(meta["masks"])} masks to {out_dir}/ (seed {meta["args"]["seed"]}, '
             f'mix {",".join(meta["args"]["mix"])}) and masks.json',
             f'{"family":<13}{"count":>7}{"mean %":>9}{"min %":>8}{"max %":>8}']
    for fam, s in meta['summary'].items():
        lines.append(f'{fam:<13}{s["count"]:>7}{100 * s["mean"]:>9.1f}{100 * s["min"]:>8.1f}{100 * s["max"]:>8.1f}')
    n_fallback = sum(1 for r in meta['masks'] if r.get('fallback'))
    if n_fallback:
        lines.append(f'{n_fallback} instance_box mask(s) fell back to a brush stroke (no instances in the map)')
    return '\n'.join(lines)
