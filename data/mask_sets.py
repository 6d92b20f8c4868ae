"""A deterministic evaluation mask set: DIR/0000.png, 0001.png, ... and DIR/masks.json
(``make_masks``; the command line is ``scripts/make_masks.py``).

    python scripts/make_masks.py --out_dir masks/ [--count 2000] [--size 256 | WxH] [--seed 0]
        [--mix brush,right_half,outpainting,box] [--dataroot D --dataset_name X] [--overwrite]

Each file is an 8-bit greyscale PNG holding 0 and 255 only; 255 (white) = region to edit, as
``test.py --mask_dir`` reads it (paired with the test images by sorted name, as upstream).

**Deterministic.** Mask i draws only from ``random.Random(a_i)`` and ``np.random.RandomState(b_i)``
where (a_i, b_i) = ``np.random.SeedSequence([seed, i]).generate_state(2)``: no global RNG, so
mask i does not depend on the count, on the other masks or on the order of generation. The PNG
bytes are written by a small built-in encoder (filter 0, fixed-Huffman deflate with run-length
matches) rather than by the installed zlib/Pillow build, so equal masks give equal bytes on any
machine. The masks themselves come from Python's ``random``, numpy's legacy ``RandomState`` (both
stable across versions) and, for the brush, Pillow's ``ImageDraw`` line/ellipse rasteriser;
masks.json records every file's sha256 and the software versions, to verify a copy elsewhere.

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

Files are written to a temporary name and renamed; masks.json is written last. A folder that is not
empty is refused unless ``--overwrite`` (which also removes numbered masks left by a larger set).
"""
import hashlib
import json
import math
import os
import platform
import random
import re
import struct
import zlib

import numpy as np

from data import dataset_folder, masks as mask_gen
from data.preprocess import parse_wxh
from util.atomic import atomic_write
from util.errors import UserError
from util.image_io import IMAGE_EXTENSIONS

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


# ---- deterministic PNG -----------------------------------------------------------------------

def _length_table():
    """length 3..258 -> (symbol, n_extra, extra) (RFC 1951 §3.2.5)."""
    bases = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
             131, 163, 195, 227, 258]
    extra = [0] * 8 + [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4 + [5] * 4 + [0]
    table = {}
    for sym, (base, n) in enumerate(zip(bases, extra), start=257):
        for length in range(base, base + (1 << n)):
            if length <= 258 and length not in table:
                table[length] = (sym, n, length - base)
    table[258] = (285, 0, 0)
    return table


def _fixed_codes():
    """Fixed Huffman literal/length codes (RFC 1951 §3.2.6), bit-reversed for LSB-first writing."""
    codes = []
    for sym in range(288):
        if sym < 144:
            code, n = 0x30 + sym, 8
        elif sym < 256:
            code, n = 0x190 + sym - 144, 9
        elif sym < 280:
            code, n = sym - 256, 7
        else:
            code, n = 0xC0 + sym - 280, 8
        codes.append((int(format(code, f'0{n}b')[::-1], 2), n))
    return codes


_LENGTHS = _length_table()
_CODES = _fixed_codes()


def _deflate_runs(data):
    """zlib stream of ``data`` (bytes): one fixed-Huffman block, each run of equal bytes coded as a
    literal and distance-1 matches. Depends on nothing but the input bytes."""
    arr = np.frombuffer(data, np.uint8)
    starts = np.concatenate(([0], np.nonzero(np.diff(arr))[0] + 1))
    ends = np.concatenate((starts[1:], [arr.size]))
    out = bytearray()
    acc, nbits = 0, 0

    def put(value, n):
        nonlocal acc, nbits
        acc |= value << nbits
        nbits += n
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8

    put(1, 1)        # BFINAL
    put(1, 2)        # BTYPE = 01, fixed Huffman
    for s, e, value in zip(starts.tolist(), ends.tolist(), arr[starts].tolist()):
        put(*_CODES[value])
        left = e - s - 1
        while left >= 3:
            length = min(left, 258)
            if 0 < left - length < 3 and length > 3:   # keep the remainder a match where possible
                length -= 3 - (left - length)
            sym, n_extra, extra = _LENGTHS[length]
            put(*_CODES[sym])
            if n_extra:
                put(extra, n_extra)
            put(0, 5)    # distance code 0 = distance 1, no extra bits
            left -= length
        for _ in range(left):
            put(*_CODES[value])
    put(*_CODES[256])  # end of block
    if nbits:
        out.append(acc & 0xFF)
    return b'\x78\x01' + bytes(out) + struct.pack('>I', zlib.adler32(data) & 0xFFFFFFFF)


def _chunk(kind, payload):
    return struct.pack('>I', len(payload)) + kind + payload + struct.pack('>I', zlib.crc32(kind + payload) & 0xFFFFFFFF)


def encode_png(mask_u8):
    """H×W uint8 -> PNG bytes (8-bit greyscale, no ancillary chunks): same array, same bytes."""
    h, w = mask_u8.shape
    raw = np.zeros((h, w + 1), np.uint8)          # filter type 0 on every row
    raw[:, 1:] = mask_u8
    header = struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0)
    return (b'\x89PNG\r\n\x1a\n' + _chunk(b'IHDR', header) + _chunk(b'IDAT', _deflate_runs(raw.tobytes()))
            + _chunk(b'IEND', b''))


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
        from data import find_dataset_using_name
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
        from PIL import Image
        path = os.path.join(self.image_dir, self.names[i])
        try:
            with Image.open(path) as im:
                w, h = im.size
        except OSError as exc:
            raise UserError(f'cannot read test image {path}: {exc}') from None
        return h, w

    def label(self, i):
        from util.image_io import read_label
        return read_label(os.path.join(self.root, 'labels', self.stem(i) + '.png'), self.label_nc)

    def instance(self, i):
        if self.kind == 'none':
            return None
        from util.image_io import read_instance
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
                                    f'but the image is {width}×{height}; run python -m data.check first')
                if family == 'instance_box':
                    instance = split.instance(i)
        mask, fallback = make_mask(family, seed, i, height, width, label, instance,
                                   split.kind if split is not None else 'none', inclusive_box)
        u8 = (mask > 0.5).astype(np.uint8) * 255
        data = encode_png(u8)
        name = file_name(i, count)
        atomic_write(os.path.join(out_dir, name), data)
        names.add(name)
        rec = {'file': name, 'family': family, 'coverage': round(float((u8 > 0).mean()), 6),
               'width': int(width), 'height': int(height), 'sha256': hashlib.sha256(data).hexdigest()}
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
        'format': 1,
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
