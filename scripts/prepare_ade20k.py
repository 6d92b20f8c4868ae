"""Prepare the ADE20K-Room and ADE20K-Landscape subsets for SPM-PGAN from ADEChallengeData2016.

    python scripts/prepare_ade20k.py --ade_root ~/data/ADEChallengeData2016
    python scripts/prepare_ade20k.py --ade_root ~/data/ADEChallengeData2016 \\
        --instance_root ~/data/annotations_instance --subsets room --limit 20

Input (nothing is downloaded)::

    DIR/images/{training,validation}/ADE_*.jpg
    DIR/annotations/{training,validation}/ADE_*.png       8-bit ids, 0 = other, 1..150
    DIR/sceneCategories.txt                               "ADE_train_00000001 airport_terminal" per line
    DIR2/{training,validation}/ADE_*.png                  optional (--instance_root): RGB instance maps,
                                                          R = category, G = instance id

Output (upstream's dataset names; train from training, test from validation)::

    <out_root>/ADE20k-room/{train,test}/{images/<stem>.jpg, labels/<stem>.png[, inst_map/<stem>.png]}
    <out_root>/ADE20k-landscape/{train,test}/...

Images are selected by scene category (ROOM_SCENES / LANDSCAPE_SCENES below, or ``--scene_list``).
Train images are resized so the short side is ``--short_side`` (256; the loader takes random 256x256
crops); test images are resized to short side 256 and centre-cropped to 256x256. Images are resampled
with Lanczos (bicubic when enlarging), labels and instance maps with nearest neighbour only.
"""
import argparse
import os
import sys
import time

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from semedit.data.preparation import (add_common_args, check_quality, fmt_time, parse_list, resize_rgb, run_cli,  # noqa: E402
                              save_jpeg, save_label, save_rgb_png)
from semedit.data.preprocess import resize_nearest  # noqa: E402
from semedit.util.errors import ArgumentParser, UserError  # noqa: E402
from semedit.util.image_io import check_same_size, read_image, read_label  # noqa: E402

# The paper does not say which scene categories make up its Room and Landscape subsets; these are our
# approximation (secondary sources quote 2,246 / 255 and 1,689 / 155 train / test images).
# Names are compared after normalisation (lower case; '/', '#', '-' and spaces become '_').
ROOM_SCENES = (
    'bedroom', 'living_room', 'bathroom', 'kitchen', 'kitchenette', 'dining_room', 'dinette_home',
    'hotel_room', 'childs_room', 'nursery', 'playroom', 'dorm_room', 'home_office', 'office',
    'conference_room', 'game_room', 'poolroom_home', 'recreation_room', 'television_room', 'home_theater',
    'attic', 'basement', 'closet', 'pantry', 'parlor', 'waiting_room', 'sewing_room', 'utility_room',
)
LANDSCAPE_SCENES = (
    'mountain', 'mountain_snowy', 'mountain_path', 'valley', 'canyon', 'badlands', 'butte', 'cliff',
    'crevasse', 'volcano', 'rock_arch', 'hoodoo', 'coast', 'beach', 'sea_cliff', 'ocean', 'wave', 'islet',
    'sandbar', 'lake_natural', 'pond', 'river', 'creek', 'waterfall', 'hot_spring', 'marsh', 'swamp',
    'bayou', 'glacier', 'iceberg', 'ice_shelf', 'snowfield', 'tundra', 'desert_sand', 'desert_vegetation',
    'field_wild', 'heath', 'forest_path', 'forest_broadleaf', 'rainforest', 'bamboo_forest', 'sky',
)
SUBSETS = {'room': ('ADE20k-room', ROOM_SCENES), 'landscape': ('ADE20k-landscape', LANDSCAPE_SCENES)}
# Split sizes quoted by secondary sources (paper summaries, not checked against the paper): the target, not a guarantee.
TARGET_SIZES = {'room': (2246, 255), 'landscape': (1689, 155)}
SPLITS = {'training': 'train', 'validation': 'test'}
TEST_SIZE = 256


def normalise_scene(name):
    name = name.strip().lower()
    for ch in '/#- ':
        name = name.replace(ch, '_')
    return name


def read_scene_categories(path):
    """{stem: normalised category} from sceneCategories.txt."""
    if not os.path.isfile(path):
        raise UserError(f'{path} not found: ADEChallengeData2016 ships sceneCategories.txt at its top level')
    scenes = {}
    with open(path, encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise UserError(f'{path} line {n}: expected "<image name> <scene category>", got {line.strip()!r}')
            scenes[parts[0]] = normalise_scene(parts[1])
    return scenes


def read_scene_list(path):
    """One category per line; blank lines and lines starting with '#' are ignored."""
    if not os.path.isfile(path):
        raise UserError(f'--scene_list {path} not found')
    with open(path, encoding='utf-8') as f:
        names = [normalise_scene(line) for line in f if line.strip() and not line.lstrip().startswith('#')]
    if not names:
        raise UserError(f'--scene_list {path} lists no scene category')
    return names


def scene_lists(subsets, overrides):
    """{subset: set of categories}; --scene_list FILE (one subset given) or SUBSET=FILE."""
    lists = {s: [normalise_scene(c) for c in SUBSETS[s][1]] for s in subsets}
    for item in overrides or []:
        name, sep, path = item.partition('=')
        if sep and name in SUBSETS:
            if name not in subsets:
                raise UserError(f'--scene_list {item}: {name} is not in --subsets {",".join(subsets)}')
            lists[name] = read_scene_list(path)
        elif len(subsets) == 1:
            lists[subsets[0]] = read_scene_list(item)
        else:
            raise UserError(f'--scene_list {item}: with several --subsets say which list this is, '
                            f'e.g. --scene_list room=FILE')
    return {s: set(v) for s, v in lists.items()}


def find_images(root, folder, scenes, wanted, limit):
    """Sorted [(stem, image path, label path)] of one split whose scene category is wanted."""
    image_dir = os.path.join(root, 'images', folder)
    if not os.path.isdir(image_dir):
        raise UserError(f'{image_dir} not found (expected ADEChallengeData2016/images/{{training,validation}})')
    out = []
    for name in sorted(os.listdir(image_dir)):
        stem, ext = os.path.splitext(name)
        if ext.lower() not in ('.jpg', '.jpeg', '.png') or scenes.get(stem) not in wanted:
            continue
        out.append((stem, os.path.join(image_dir, name), os.path.join(root, 'annotations', folder, stem + '.png')))
        if limit and len(out) == limit:
            break
    return out


def check_files(items, instance_root, folder):
    for stem, image_path, label_path in items:
        if not os.path.isfile(label_path):
            raise UserError(f'label file missing: {label_path} (for {image_path})')
        if instance_root:
            inst = os.path.join(instance_root, folder, stem + '.png')
            if not os.path.isfile(inst):
                raise UserError(f'instance file missing: {inst} (for {image_path}); --instance_root must hold '
                                f'training/ and validation/ with one RGB PNG per image')


def read_ade_instance(path):
    """RGB(A) instance PNG -> H×W×3 uint8 (the loader keeps the G channel)."""
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise UserError(f'cannot read instance map {path}: not a valid image file ({exc})') from None
    if img.mode not in ('RGB', 'RGBA'):
        raise UserError(f'instance map {path} has mode {img.mode}; the ADE20K instance release is RGB '
                        f'(R = category, G = instance id)')
    return np.asarray(img)[..., :3]


def short_side_size(h, w, short):
    if h <= w:
        return short, max(short, int(round(w * short / h)))
    return max(short, int(round(h * short / w))), short


def centre_crop(a, size):
    h, w = a.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return a[top:top + size, left:left + size]


def process_image(item, outputs, phase, short_side, instance_path, quality):
    """Returns True when the image had to be enlarged."""
    stem, image_path, label_path = item
    image = read_image(image_path)
    label = read_label(label_path, 151)
    arrays = [(image_path, image), (label_path, label)]
    inst = None
    if instance_path:
        inst = read_ade_instance(instance_path)
        arrays.append((instance_path, inst))
    check_same_size(arrays)
    h, w = label.shape
    short = short_side if phase == 'train' else TEST_SIZE
    size = short_side_size(h, w, short)
    data = {'image': resize_rgb(image, size), 'label': resize_nearest(label, size),
            'instance': resize_nearest(inst, size) if inst is not None else None}
    if phase == 'test':
        data = {k: (centre_crop(v, TEST_SIZE) if v is not None else None) for k, v in data.items()}
    for path, kind in outputs:
        if kind == 'image':
            save_jpeg(path, data['image'], quality)
        elif kind == 'label':
            save_label(path, data['label'], label_path)
        else:
            save_rgb_png(path, data['instance'])
    return min(h, w) < short


def run(args):
    t0 = time.time()
    root = args.ade_root
    if not os.path.isdir(root):
        raise UserError(f'--ade_root {root} is not a folder')
    for sub in ('images', 'annotations'):
        if not os.path.isdir(os.path.join(root, sub)):
            raise UserError(f'{root} has no {sub}/ folder; expected ADEChallengeData2016 '
                            f'(images/ and annotations/ with training/ and validation/, sceneCategories.txt)')
    if args.instance_root and not os.path.isdir(args.instance_root):
        raise UserError(f'--instance_root {args.instance_root} is not a folder')
    if args.short_side < TEST_SIZE:
        raise UserError(f'--short_side {args.short_side}: training crops are 256x256, so give at least 256')
    check_quality(args.jpeg_quality)
    if args.limit is not None and args.limit < 1:
        raise UserError(f'--limit {args.limit}: give a positive number of images')
    subsets = parse_list(args.subsets, list(SUBSETS), '--subsets')
    lists = scene_lists(subsets, args.scene_list)
    scenes = read_scene_categories(os.path.join(root, 'sceneCategories.txt'))
    present = set(scenes.values())

    work = []   # (subset, folder, phase, items)
    for subset in subsets:
        for folder, phase in SPLITS.items():
            items = find_images(root, folder, scenes, lists[subset], args.limit)
            check_files(items, args.instance_root, folder)
            work.append((subset, folder, phase, items))

    results = []
    for subset, folder, phase, items in work:
        base = os.path.join(args.out_root, SUBSETS[subset][0], phase)
        processed = skipped = enlarged = 0
        for item in tqdm(items, desc=f'{SUBSETS[subset][0]} {phase}', unit='img', dynamic_ncols=True):
            stem = item[0]
            outputs = [(os.path.join(base, 'images', stem + '.jpg'), 'image'),
                       (os.path.join(base, 'labels', stem + '.png'), 'label')]
            inst_path = os.path.join(args.instance_root, folder, stem + '.png') if args.instance_root else None
            if inst_path:
                outputs.append((os.path.join(base, 'inst_map', stem + '.png'), 'instance'))
            if args.skip_existing:
                outputs = [o for o in outputs if not os.path.exists(o[0])]
                if not outputs:
                    skipped += 1
                    continue
            enlarged += process_image(item, outputs, phase, args.short_side, inst_path, args.jpeg_quality)
            processed += 1
        results.append((subset, phase, base, len(items), processed, skipped, enlarged))

    print(f'done in {fmt_time(time.time() - t0)}')
    for subset, phase, base, n, processed, skipped, enlarged in results:
        target = TARGET_SIZES[subset][0 if phase == 'train' else 1]
        size = f'short side {args.short_side}' if phase == 'train' else f'{TEST_SIZE}x{TEST_SIZE} centre crops'
        note = f', {skipped} already there' if args.skip_existing else ''
        note += f', {enlarged} enlarged (short side below {args.short_side if phase == "train" else TEST_SIZE})' \
            if enlarged else ''
        limited = ' (--limit)' if args.limit else f' (paper: {target:,})'
        print(f'  {SUBSETS[subset][0]:16s} {phase:5s} {n:5d} images{limited}, {size}{note} -> {base}')
    for subset in subsets:
        per_scene = {}
        for sub, _, phase, items in work:
            if sub == subset:
                for item in items:
                    per_scene.setdefault(scenes[item[0]], [0, 0])[phase == 'test'] += 1
        ranked = sorted(per_scene.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
        print(f'  {subset} by scene (train/test): ' + ', '.join(f'{k} {a}/{b}' for k, (a, b) in ranked))
        absent = sorted(lists[subset] - present)
        if absent:
            print(f'note: {len(absent)} {subset} categories have no image in sceneCategories.txt: {", ".join(absent)}')
    if not args.instance_root and 'room' in subsets:
        print('note: no --instance_root, so no inst_map/: train ADE20k-room with --no_instance '
              '(edges from the labels) or add the ADE20K instance release')


def parse_args(argv=None):
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--ade_root', required=True, help='the ADEChallengeData2016 folder')
    p.add_argument('--subsets', default='room,landscape', help='room -> ADE20k-room, landscape -> ADE20k-landscape')
    p.add_argument('--instance_root', default=None,
                   help='ADE20K instance release with {training,validation}/ADE_*.png RGB maps -> inst_map/')
    p.add_argument('--short_side', type=int, default=256, help='short side of the train images (at least 256)')
    p.add_argument('--scene_list', action='append', default=None, metavar='[SUBSET=]FILE',
                   help='replace a subset\'s scene categories with those in FILE (one per line); '
                        'SUBSET= is needed when several subsets are prepared; may be repeated')
    add_common_args(p, 'only the first N selected images per split and subset')
    return p.parse_args(argv)


def main(argv=None):
    run_cli(run, parse_args(argv))


if __name__ == '__main__':
    main()
