"""Prepare Cityscapes for SPM-PGAN / SIEDOB from the official download (nothing is downloaded).

    python scripts/prepare_cityscapes.py --cityscapes_root ~/data/cityscapes                  # SPM-PGAN layout
    python scripts/prepare_cityscapes.py --cityscapes_root ~/data/cityscapes --layout both --limit 20

Input (unzip leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip into one folder)::

    DIR/leftImg8bit/{train,val}/<city>/<city>_<seq>_<frame>_leftImg8bit.png       2048x1024 RGB
    DIR/gtFine/{train,val}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png        8-bit ids 0..33
    DIR/gtFine/{train,val}/<city>/<city>_<seq>_<frame>_gtFine_instanceIds.png     16-bit class*1000+k

Output (stem ``<city>_<seq>_<frame>``)::

    --layout spmpgan   <out_root>/cityscapes/train/{images/<stem>.jpg, labels/<stem>.png, inst_map/<stem>.png}
                       512x256 (W x H), from train
                       <out_root>/cityscapes/test/...  <stem>_l / <stem>_r: the left and right 256x256 halves
                       of each val frame resized to 512x256 (upstream: two overlapping random crops)
    --layout siedob    <out_root>/cityscapes512x256/train/{images,labels,inst_map}  (512x256)
                       <out_root>/cityscapes512x256/train/images2048/<stem>.jpg      (original 2048x1024)
                       <out_root>/cityscapes512x256/test/...  (the same halves)
    --layout both      both of the above, each frame read once

Images are downscaled with an area (box) filter when the factor is an integer (2048 -> 512 is 4x), with
Lanczos otherwise; label and instance ids with nearest neighbour only (pixel centres, like PIL NEAREST),
so no id is ever interpolated. Labels are 8-bit 'L' PNGs, instance maps 16-bit PNGs. Every file is
written to a temporary name and renamed, so an interrupted run leaves no half file; ``--skip_existing``
resumes. The helpers at the top are shared with ``prepare_ade20k.py``.
"""
import argparse
import os
import sys
import time

import numpy as np
from PIL import Image
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from util.errors import UserError, exit_on_user_error  # noqa: E402
from util.image_io import check_same_size, read_image, read_instance, read_label  # noqa: E402


# ---- shared helpers (prepare_ade20k.py imports these) -----------------------------------------------

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


def resize_ids(a, size):
    """Label / instance ids (H×W or H×W×C) -> size (h, w) by nearest neighbour at pixel centres
    (source index floor((i + 0.5) · src / dst), as PIL's NEAREST): values are only ever copied."""
    h, w = size
    src_h, src_w = a.shape[:2]
    if (src_h, src_w) == (h, w):
        return a
    rows = np.minimum(((np.arange(h) + 0.5) * src_h / h).astype(np.int64), src_h - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * src_w / w).astype(np.int64), src_w - 1)
    return a[rows][:, cols]


def write_atomic(path, image, **save_kwargs):
    """Save a PIL image under a temporary name in the same folder, then rename it into place."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f'.{os.path.basename(path)}.{os.getpid()}.tmp')
    fmt = 'JPEG' if path.lower().endswith(('.jpg', '.jpeg')) else 'PNG'
    try:
        os.makedirs(folder, exist_ok=True)
        image.save(tmp, format=fmt, **save_kwargs)
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        raise UserError(f'cannot write {path}: {exc}') from None
    except BaseException:
        _remove(tmp)
        raise


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


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


# ---- Cityscapes ------------------------------------------------------------------------------------

SPLIT_TO_PHASE = {'train': 'train', 'val': 'test'}
LAYOUT_DIRS = {'spmpgan': 'cityscapes', 'siedob': 'cityscapes512x256'}
TRAIN_SIZE = (256, 512)   # (h, w): upstream's 512×256 (W×H) frames
CROP = 256                # test halves: columns [0, 256) -> _l, [256, 512) -> _r
IMAGE_SUFFIX = '_leftImg8bit.png'
LABEL_SUFFIX = '_gtFine_labelIds.png'
INSTANCE_SUFFIX = '_gtFine_instanceIds.png'
NUM_LABEL_IDS = 34        # labelIds 0..33


def find_frames(root, split):
    """Sorted list of (stem, image, label, instance paths) of one split."""
    image_dir = os.path.join(root, 'leftImg8bit', split)
    if not os.path.isdir(image_dir):
        raise UserError(f'{image_dir} not found: the official leftImg8bit/ folder has train/ and val/ '
                        f'(unzip leftImg8bit_trainvaltest.zip into {root})')
    frames = []
    for city in sorted(os.listdir(image_dir)):
        city_dir = os.path.join(image_dir, city)
        if not os.path.isdir(city_dir):
            continue
        for name in sorted(os.listdir(city_dir)):
            if not name.endswith(IMAGE_SUFFIX):
                continue
            stem = name[:-len(IMAGE_SUFFIX)]
            gt = os.path.join(root, 'gtFine', split, city)
            frames.append((stem, os.path.join(city_dir, name), os.path.join(gt, stem + LABEL_SUFFIX),
                           os.path.join(gt, stem + INSTANCE_SUFFIX)))
    if not frames:
        raise UserError(f'no *{IMAGE_SUFFIX} files in {image_dir}/<city>/')
    frames.sort(key=lambda f: f[0])
    return frames


def check_annotations(frames):
    """Every image needs its labelIds and instanceIds file: name the first missing one."""
    missing = [(f[1], p) for f in frames for p in (f[2], f[3]) if not os.path.isfile(p)]
    if missing:
        image, path = missing[0]
        what = 'label' if path.endswith(LABEL_SUFFIX) else 'instance'
        more = f' (and {len(missing) - 1} more missing annotation files)' if len(missing) > 1 else ''
        raise UserError(f'{what} file missing: {path} (for {image}){more}; unzip gtFine_trainvaltest.zip '
                        f'into the same folder as leftImg8bit/')


def planned_outputs(stem, split, layouts, out_root):
    """[(path, kind, half)] for one frame; kind in image / label / instance / image2048."""
    phase = SPLIT_TO_PHASE[split]
    out = []
    for layout in layouts:
        base = os.path.join(out_root, LAYOUT_DIRS[layout], phase)
        halves = (None,) if phase == 'train' else ('l', 'r')
        for half in halves:
            name = stem if half is None else f'{stem}_{half}'
            out += [(os.path.join(base, 'images', name + '.jpg'), 'image', half),
                    (os.path.join(base, 'labels', name + '.png'), 'label', half),
                    (os.path.join(base, 'inst_map', name + '.png'), 'instance', half)]
        if layout == 'siedob' and phase == 'train':
            out.append((os.path.join(base, 'images2048', stem + '.jpg'), 'image2048', None))
    return out


def process_frame(frame, outputs, quality):
    """Read one frame, resize it to 512×256, write the requested outputs. Returns the set of
    label ids ≥ 34 seen (for a warning)."""
    stem, image_path, label_path, instance_path = frame
    image = read_image(image_path)
    label = read_label(label_path)
    instance = read_instance(instance_path, 'cityscapes')
    check_same_size([(image_path, image), (label_path, label), (instance_path, instance)])
    check_fits(label, 255, label_path, 'label id', 'an 8-bit label PNG')   # before any file of the frame is written
    check_fits(instance, 65535, instance_path, 'instance id', 'a 16-bit PNG')
    small = {'image': resize_rgb(image, TRAIN_SIZE), 'label': resize_ids(label, TRAIN_SIZE),
             'instance': resize_ids(instance, TRAIN_SIZE)}
    sources = {'image': image_path, 'label': label_path, 'instance': instance_path}
    for path, kind, half in outputs:
        if kind == 'image2048':
            save_jpeg(path, image, quality)
            continue
        a = small[kind]
        if half is not None:
            a = a[:, :CROP] if half == 'l' else a[:, CROP:2 * CROP]
        if kind == 'image':
            save_jpeg(path, a, quality)
        elif kind == 'label':
            save_label(path, a, sources[kind])
        else:
            save_instance16(path, a, sources[kind])
    return {int(v) for v in np.unique(label) if v >= NUM_LABEL_IDS}


def run(args):
    t0 = time.time()
    root = args.cityscapes_root
    if not os.path.isdir(root):
        raise UserError(f'--cityscapes_root {root} is not a folder')
    for sub, zipname in (('leftImg8bit', 'leftImg8bit_trainvaltest.zip'), ('gtFine', 'gtFine_trainvaltest.zip')):
        if not os.path.isdir(os.path.join(root, sub)):
            raise UserError(f'{root} has no {sub}/ folder; expected the official Cityscapes layout '
                            f'{root}/leftImg8bit/{{train,val}}/<city>/ and {root}/gtFine/{{train,val}}/<city>/ '
                            f'(unzip {zipname} there)')
    if 'test' in [v.strip() for v in args.splits.split(',')]:
        raise UserError('--splits test: the Cityscapes test labels are not public (gtFine/test holds dummy '
                        'annotations); upstream\'s test set comes from val, so use --splits train,val')
    splits = parse_list(args.splits, list(SPLIT_TO_PHASE), '--splits')
    layouts = ['spmpgan', 'siedob'] if args.layout == 'both' else [args.layout]
    check_quality(args.jpeg_quality)
    if args.limit is not None and args.limit < 1:
        raise UserError(f'--limit {args.limit}: give a positive number of frames')

    work = {}
    for split in splits:
        frames = find_frames(root, split)
        if args.limit:
            frames = frames[:args.limit]
        check_annotations(frames)
        work[split] = frames

    counts = {}     # (layout, phase) -> files per folder
    skipped = 0
    odd_ids = set()
    for split, frames in work.items():
        written = 0
        for frame in tqdm(frames, desc=f'cityscapes {split}', unit='frame', dynamic_ncols=True):
            outputs = planned_outputs(frame[0], split, layouts, args.out_root)
            if args.skip_existing:
                outputs = [o for o in outputs if not os.path.exists(o[0])]
                if not outputs:
                    skipped += 1
                    continue
            odd_ids |= process_frame(frame, outputs, args.jpeg_quality)
            written += 1
        for layout in layouts:
            counts[(layout, SPLIT_TO_PHASE[split])] = (len(frames), written)

    print(f'done in {fmt_time(time.time() - t0)}')
    for (layout, phase), (n, written) in counts.items():
        folder = os.path.join(args.out_root, LAYOUT_DIRS[layout], phase)
        what = (f'{n} frames (512x256)' + (' + images2048/' if layout == 'siedob' else '') if phase == 'train'
                else f'{2 * n} crops (256x256 halves _l/_r of {n} val frames)')
        print(f'  {layout:8s} {phase:5s} {what} -> {folder}  ({written} frames processed in this run)')
    if args.skip_existing:
        print(f'  {skipped} frames skipped (all outputs already there)')
    if odd_ids:
        print(f'warning: label ids {sorted(odd_ids)} are outside Cityscapes labelIds 0..33; '
              f'train with --label_nc {max(odd_ids) + 1} or remap them')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--cityscapes_root', required=True,
                   help='folder holding the official leftImg8bit/ and gtFine/ folders')
    p.add_argument('--layout', choices=['spmpgan', 'siedob', 'both'], default='spmpgan',
                   help='spmpgan: <out_root>/cityscapes/; siedob: <out_root>/cityscapes512x256/ with images2048/')
    p.add_argument('--splits', default='train,val', help='Cityscapes splits to convert: train -> train/, val -> test/')
    add_common_args(p, 'only the first N frames of each split (sorted by name)')
    return p.parse_args(argv)


def add_common_args(p, limit_help):
    """Flags every prepare_* script takes (prepare_ade20k.py uses this too)."""
    p.add_argument('--out_root', default='datasets', help='where the prepared datasets go (train.py --dataroot)')
    p.add_argument('--jpeg_quality', type=int, default=95, help='JPEG quality of the images (1..100)')
    p.add_argument('--limit', type=int, default=None, help=limit_help)
    p.add_argument('--skip_existing', action='store_true',
                   help='keep output files that already exist (resume an interrupted run)')


def main(argv=None):
    run_cli(run, parse_args(argv))


if __name__ == '__main__':
    main()
