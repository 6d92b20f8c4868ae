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
resumes. What the two prepare_* scripts share is in ``data/preparation.py``.
"""
import argparse
import os
import sys
import time

import numpy as np
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from semedit.data.preparation import (add_common_args, check_fits, check_quality, fmt_time, parse_list, resize_rgb,  # noqa: E402
                              run_cli, save_instance16, save_jpeg, save_label)
from semedit.data.preprocess import resize_nearest  # noqa: E402
from semedit.util.errors import ArgumentParser, UserError  # noqa: E402
from semedit.util.image_io import check_same_size, read_image, read_instance, read_label  # noqa: E402


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
    small = {'image': resize_rgb(image, TRAIN_SIZE), 'label': resize_nearest(label, TRAIN_SIZE),
             'instance': resize_nearest(instance, TRAIN_SIZE)}
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
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--cityscapes_root', required=True,
                   help='folder holding the official leftImg8bit/ and gtFine/ folders')
    p.add_argument('--layout', choices=['spmpgan', 'siedob', 'both'], default='spmpgan',
                   help='spmpgan: <out_root>/cityscapes/; siedob: <out_root>/cityscapes512x256/ with images2048/')
    p.add_argument('--splits', default='train,val', help='Cityscapes splits to convert: train -> train/, val -> test/')
    add_common_args(p, 'only the first N frames of each split (sorted by name)')
    return p.parse_args(argv)


def main(argv=None):
    run_cli(run, parse_args(argv))


if __name__ == '__main__':
    main()
