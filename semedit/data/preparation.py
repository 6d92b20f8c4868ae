"""What the dataset preparation scripts (scripts/prepare_*.py) share: resizing images for a dataset,
writing its files atomically with one-line errors, their common flags and their command-line
wrapper. Label and instance ids are resized with ``data.preprocess.resize_nearest`` (values are
only ever copied)."""
import os
import sys

import numpy as np
from PIL import Image

from semedit.util.atomic import atomic_path
from semedit.util.errors import UserError, exit_on_user_error
from semedit.util.image_io import IMAGE_FORMATS


def resize_rgb(a, size):
    """H×W×3 uint8 -> size (h, w). Integer downscale factors use the exact area (box) filter;
    other downscales Lanczos (PIL antialiases when shrinking), upscales bicubic."""
    h, w = size
    src_h, src_w = a.shape[:2]
    if (src_h, src_w) == (h, w):
        return a
    if src_h % h == 0 and src_w % w == 0:
        resample = Image.BOX
    elif src_h >= h and src_w >= w:
        resample = Image.LANCZOS
    else:
        resample = Image.BICUBIC
    return np.asarray(Image.fromarray(a).resize((w, h), resample))


def write_atomic(path, image, **save_kwargs):
    """Save a PIL image atomically (util/atomic.py); a write error is one line."""
    fmt = IMAGE_FORMATS.get(os.path.splitext(path)[1].lower(), 'PNG')
    try:
        with atomic_path(path) as tmp:
            image.save(tmp, format=fmt, **save_kwargs)
    except OSError as exc:
        raise UserError(f'cannot write {path}: {exc}') from None


def save_jpeg(path, rgb, quality):
    write_atomic(path, Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)), quality=quality)


def check_fits(ids, top, source, what, where):
    if ids is not None and ids.size and (ids.min() < 0 or ids.max() > top):
        bad = int(ids.max()) if ids.max() > top else int(ids.min())
        hint = '; Cityscapes instanceIds are at most 33999: is this the right file?' if top == 65535 else ''
        raise UserError(f'{source} has {what} {bad}, which does not fit {where} (0..{top}){hint}')


def save_label(path, ids, source):
    """8-bit single-channel ('L') PNG; an id outside 0..255 cannot be stored and is refused."""
    check_fits(ids, 255, source, 'label id', 'an 8-bit label PNG')
    write_atomic(path, Image.fromarray(np.ascontiguousarray(ids, dtype=np.uint8)))


def save_instance16(path, ids, source):
    """16-bit single-channel PNG; an id outside 0..65535 cannot be stored and is refused."""
    check_fits(ids, 65535, source, 'instance id', 'a 16-bit PNG')
    write_atomic(path, Image.fromarray(np.ascontiguousarray(ids, dtype=np.uint16)))


def save_rgb_png(path, rgb):
    write_atomic(path, Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)))


def parse_list(value, allowed, flag):
    items = [v.strip() for v in str(value).split(',') if v.strip()]
    if not items:
        raise UserError(f'{flag} is empty; choose from {", ".join(allowed)}')
    for v in items:
        if v not in allowed:
            raise UserError(f'{flag}: unknown value {v!r}; choose from {", ".join(allowed)}')
    return list(dict.fromkeys(items))


def check_quality(q):
    if not 1 <= q <= 100:
        raise UserError(f'--jpeg_quality {q}: give a value in 1..100 (95 is the default)')


def run_cli(run, args):
    """Run ``run(args)``; a UserError becomes one line ``error: ...`` on stderr and exit code 2."""
    try:
        with exit_on_user_error():
            run(args)
    except KeyboardInterrupt:
        print('interrupted: every file written so far is complete; run the same command with '
              '--skip_existing to resume', file=sys.stderr)
        raise SystemExit(130)


def fmt_time(seconds):
    return f'{seconds:.1f} s' if seconds < 120 else f'{seconds / 60:.1f} min'


def add_common_args(p, limit_help):
    """Flags every prepare_* script takes (prepare_ade20k.py uses this too)."""
    p.add_argument('--out_root', default='datasets', help='where the prepared datasets go (train.py --dataroot)')
    p.add_argument('--jpeg_quality', type=int, default=95, help='JPEG quality of the images (1..100)')
    p.add_argument('--limit', type=int, default=None, help=limit_help)
    p.add_argument('--skip_existing', action='store_true',
                   help='keep output files that already exist (resume an interrupted run)')
