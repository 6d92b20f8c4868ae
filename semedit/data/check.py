"""Check a dataset in the upstream layout before training on it (as upstream's ``dataset.py`` reads it);
the command line is ``scripts/check_dataset.py``:

    python scripts/check_dataset.py --dataroot datasets --dataset_name cityscapes [--splits train,test]
        [--label_nc N] [--instance_format none|cityscapes|ade] [--mask_dir DIR] [--max_files N]
        [--crop_size 256|WxH] [--model M [--stage S]] [--json FILE]

Every file is read with the project's own readers (``util.image_io``), so what passes here loads in
``train.py`` / ``test.py``. A problem with one file is recorded and the check goes on. The report
has one section per split (and one for ``--mask_dir``); each finding is a line starting with

* ``ERROR`` -- training or testing would stop on it, or would silently use wrong data
  (unreadable file, missing label / instance map, size mismatch, label id >= label_nc, colour label
  map, instance id of an invalid class, too few or wrongly sized masks);
* ``WARN``  -- probably a mistake but not fatal here (train image smaller than the crop: train.py
  stops on it unless ``--load_size``; orphan label files; 8-bit Cityscapes instance maps);
* ``INFO``  -- worth knowing (test sizes the generator cannot run natively: test.py resizes them).

followed by statistics and a one-line verdict ``OK: ...`` or ``FAILED: N errors, M warnings``.
Exit code: 0 without errors, 1 with errors, 2 for bad command-line use (one line ``error: ...``).
"""
import collections
import functools
import os

import numpy as np
from PIL import Image
from tqdm import tqdm

from semedit.data import dataset_folder
from semedit.util.errors import UserError
from semedit.util.image_io import (IMAGE_EXTENSIONS, check_same_size, image_size, read_image, read_instance, read_label,
                           read_mask)
from semedit.util.sizes import ANY_SIZE

LEVELS = ('ERROR', 'WARN', 'INFO')
MAX_LINES_PER_CHECK = 20   # per split and check in the printed report (the JSON has every finding)
TOP_SIZES = 5
TOP_LABELS = 10


class Findings:
    """Collects findings as dicts {level, split, check, file, message}."""

    def __init__(self):
        self.items = []

    def add(self, split, level, check, message, file=None):
        self.items.append({'level': level, 'split': split, 'check': check, 'file': file, 'message': message})

    def of(self, level):
        return [f for f in self.items if f['level'] == level]


def _list_images(folder):
    return sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))


def _user_message(exc, path, rel):
    """A reader's UserError without the absolute path (the report names the file relative to the split)."""
    return str(exc).replace(path, rel)


def resolve_dataset(dataset_name, label_nc=None, instance_format=None):
    """(label_nc, instance_kind, num_mask_types) as the training code would use them."""
    from semedit.data import find_dataset_using_name
    try:
        cls = find_dataset_using_name(dataset_name)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    custom = cls.default_label_nc is None
    if label_nc is None:
        if custom:
            raise UserError(f'--dataset_name {dataset_name} needs --label_nc N (the number of label ids, max id + 1)')
        label_nc = cls.default_label_nc
    if label_nc < 1:
        raise UserError(f'--label_nc must be at least 1, got {label_nc}')
    if custom:
        kind = instance_format or 'none'
        num_types = 5
    else:
        kind = cls.instance_kind
        num_types = cls.num_mask_types
        if instance_format is not None and instance_format != kind:
            raise UserError(f'--instance_format {instance_format}: --dataset_name {dataset_name} always reads '
                            f'{kind!r} instance maps; use --dataset_name custom to choose the format')
    if kind not in ('cityscapes', 'ade', 'none'):
        raise UserError(f'--instance_format {kind!r}: choose none, cityscapes or ade')
    return label_nc, kind, num_types


def _label_stats_add(hist, label):
    if label.size == 0:
        return
    if label.max() < 65536:
        counts = np.bincount(label.ravel())
        ids = np.nonzero(counts)[0]
        counts = counts[ids]
    else:
        ids, counts = np.unique(label, return_counts=True)
    for i, c in zip(ids.tolist(), counts.tolist()):
        hist[i] += c


def _ids_text(ids, limit=10):
    ids = sorted(int(i) for i in ids)
    text = ', '.join(str(i) for i in ids[:limit])
    return text + (f', ... ({len(ids)} ids)' if len(ids) > limit else '')


def _check_split(root, split, label_nc, kind, crop, max_files, findings, sizes_out, size_rule):
    """Check one split; returns its statistics. ``sizes_out`` gets {image name: (h, w)}."""
    add = functools.partial(findings.add, split)
    stats = {'images': 0, 'checked': 0, 'sizes': {}, 'label_ids': {}, 'images_with_instances': None,
             'out_of_range_ids': {}}
    split_dir = os.path.join(root, split)
    image_dir = os.path.join(split_dir, 'images')
    if not os.path.isdir(split_dir):
        add('ERROR', 'split_missing', f'split folder {split_dir} not found')
        return stats
    if not os.path.isdir(image_dir):
        add('ERROR', 'images_missing', f'{image_dir} not found (expected {split}/images/<stem>.jpg)')
        return stats
    names = _list_images(image_dir)
    others = sorted(set(os.listdir(image_dir)) - set(names))
    if others:
        add('INFO', 'ignored_files', f'{len(others)} file(s) in images/ without an image extension are ignored: '
            + ', '.join(others[:5]) + (' ...' if len(others) > 5 else ''))
    stats['images'] = len(names)
    if not names:
        add('ERROR', 'images_empty', f'no images in {image_dir} (extensions {", ".join(IMAGE_EXTENSIONS)})')
        return stats
    stems = [os.path.splitext(n)[0] for n in names]
    for stem, count in collections.Counter(stems).items():
        if count > 1:
            dup = [n for n in names if os.path.splitext(n)[0] == stem]
            add('WARN', 'duplicate_stem', f'{" and ".join(dup)} share the stem {stem!r} and so one label map',
                f'images/{dup[0]}')

    label_dir = os.path.join(split_dir, 'labels')
    inst_dir = os.path.join(split_dir, 'inst_map')
    have_labels = os.path.isdir(label_dir)
    have_inst = kind == 'none' or os.path.isdir(inst_dir)
    if not have_labels:
        add('ERROR', 'labels_missing', f'{label_dir} not found: every image needs labels/<stem>.png')
    if not have_inst:
        add('ERROR', 'inst_map_missing', f'{inst_dir} not found: {kind} data needs inst_map/<stem>.png for every '
            f'image (or use --dataset_name custom --instance_format none, or train with --no_instance)')

    # Orphans are judged against every image, not only the --max_files ones.
    stem_set = set(stems)
    wanted_dirs = ((label_dir, 'labels', have_labels), (inst_dir, 'inst_map', kind != 'none' and have_inst))
    for folder, sub, wanted in wanted_dirs:
        if not wanted:
            continue
        orphans = sorted(f for f in os.listdir(folder)
                         if f.lower().endswith('.png') and os.path.splitext(f)[0] not in stem_set)
        for f in orphans:
            add('WARN', f'orphan_{sub}', f'{sub}/{f} has no image images/{os.path.splitext(f)[0]}.*', f'{sub}/{f}')

    checked = list(zip(names, stems))[:max_files] if max_files else list(zip(names, stems))
    stats['checked'] = len(checked)
    sizes = collections.Counter()
    label_hist = collections.Counter()
    n_with_inst = 0
    bad_ids = collections.Counter()
    small = []
    not_native = collections.defaultdict(list)
    crop_h, crop_w = crop

    for name, stem in tqdm(checked, desc=f'check {split}', dynamic_ncols=True, leave=False, disable=None):
        rel_img = f'images/{name}'
        path = os.path.join(image_dir, name)
        arrays = []
        try:
            image = read_image(path)
            arrays.append((rel_img, image))
            h, w = image.shape[:2]
            sizes[(w, h)] += 1
            sizes_out[name] = (h, w)
        except UserError as exc:
            add('ERROR', 'image_unreadable', _user_message(exc, path, rel_img), rel_img)
            image = None

        if have_labels:
            rel_lab = f'labels/{stem}.png'
            lpath = os.path.join(label_dir, stem + '.png')
            if not os.path.exists(lpath):
                alt = [f for f in os.listdir(label_dir) if os.path.splitext(f)[0] == stem]
                hint = f' (found {", ".join(alt)}: label maps must be PNG, lossless)' if alt else ''
                add('ERROR', 'label_missing', f'{rel_img} has no label map {rel_lab}{hint}', rel_img)
            else:
                try:
                    label = read_label(lpath, None)
                except UserError as exc:
                    check = 'label_colour' if 'colour' in str(exc) else 'label_unreadable'
                    add('ERROR', check, _user_message(exc, lpath, rel_lab), rel_lab)
                else:
                    arrays.append((rel_lab, label))
                    _label_stats_add(label_hist, label)
                    out = np.unique(label[label >= label_nc]) if label.size and label.max() >= label_nc else []
                    if len(out):
                        frac = float((label >= label_nc).mean())
                        for i in out:
                            bad_ids[int(i)] += 1
                        add('ERROR', 'label_id_range',
                            f'{rel_lab} contains label id(s) {_ids_text(out)} >= label_nc {label_nc} '
                            f'({100 * frac:.2f} % of pixels); ids must be 0..{label_nc - 1}: use the right '
                            f'--dataset_name / --label_nc or remap them', rel_lab)

        if kind != 'none' and have_inst:
            rel_ins = f'inst_map/{stem}.png'
            ipath = os.path.join(inst_dir, stem + '.png')
            if not os.path.exists(ipath):
                add('ERROR', 'instance_missing', f'{rel_img} has no instance map {rel_ins}', rel_img)
            else:
                try:
                    inst = read_instance(ipath, kind)
                    with Image.open(ipath) as im:
                        mode = im.mode
                except UserError as exc:
                    add('ERROR', 'instance_format', _user_message(exc, ipath, rel_ins), rel_ins)
                else:
                    arrays.append((rel_ins, inst))
                    if kind == 'cityscapes':
                        if mode in ('L', 'P', '1'):
                            add('WARN', 'instance_8bit',
                                f'{rel_ins} is an 8-bit ({mode}) image: it cannot hold instance ids '
                                f'(class·1000+k), so this image never gets an instance-box mask; '
                                f'Cityscapes instance maps are 16-bit instanceIds PNGs', rel_ins)
                        ids = np.unique(inst)
                        big = ids[ids >= 1000]
                        bad = big[(big // 1000) >= label_nc]
                        if bad.size:
                            add('ERROR', 'instance_class',
                                f'{rel_ins} has instance id(s) {_ids_text(bad)} whose class (id // 1000) is not a '
                                f'valid label id 0..{label_nc - 1}; Cityscapes instance ids are class·1000+k', rel_ins)
                        if (ids < 0).any():
                            add('ERROR', 'instance_class', f'{rel_ins} has negative instance ids', rel_ins)
                        n_with_inst += int(big.size > 0)
                    else:
                        n_with_inst += int((inst > 0).any())

        if len(arrays) > 1:
            try:
                check_same_size(arrays)
            except UserError as exc:
                odd = next(p for p, a in arrays[1:] if a.shape[:2] != arrays[0][1].shape[:2])
                add('ERROR', 'size_mismatch', str(exc), odd)

        if image is not None:
            h, w = image.shape[:2]
            if split == 'train' and (h < crop_h or w < crop_w):
                small.append((rel_img, w, h))
            if split == 'test':
                problem = size_rule.problem(h, w)
                if problem:
                    not_native[(w, h)].append(name)

    for rel_img, w, h in small:
        add('WARN', 'train_too_small',
            f'{rel_img} is {w}×{h} (W×H), smaller than the {crop_w}×{crop_h} training crop: train.py stops on it '
            f'unless you resize the dataset or train with --load_size', rel_img)
    for (w, h), files in sorted(not_native.items(), key=lambda kv: -len(kv[1])):
        add('INFO', 'test_size',
            f'{len(files)} test image(s) are {w}×{h} (W×H), which the generator cannot run natively '
            f'({size_rule.describe()}); test.py resizes them (--preprocess resize, the default), '
            f'--preprocess none refuses them. E.g. {", ".join(files[:3])}', f'images/{files[0]}')

    total = sum(label_hist.values())
    stats['sizes'] = {f'{w}x{h}': c for (w, h), c in sizes.most_common()}
    stats['label_ids'] = {int(i): round(c / total, 6) for i, c in sorted(label_hist.items())} if total else {}
    stats['images_with_instances'] = n_with_inst if kind != 'none' else None
    stats['out_of_range_ids'] = {int(i): c for i, c in sorted(bad_ids.items())}
    return stats


def _check_masks(mask_dir, test_dir, test_sizes, max_files, findings):
    add = functools.partial(findings.add, 'masks')
    stats = {'masks': 0, 'checked': 0, 'coverage_mean': None, 'empty': 0}
    files = _list_images(mask_dir)
    stats['masks'] = len(files)
    image_dir = os.path.join(test_dir, 'images')
    images = _list_images(image_dir) if os.path.isdir(image_dir) else []
    if not images:
        add('ERROR', 'masks_no_test', f'no test images to pair the masks with ({image_dir})')
        return stats
    if len(files) < len(images):
        add('ERROR', 'masks_too_few',
            f'{mask_dir} has {len(files)} mask(s) but the test split has {len(images)} image(s); masks are paired '
            f'with images by sorted name, so at least as many are needed (scripts/make_masks.py writes a set)')
    elif len(files) > len(images):
        add('INFO', 'masks_extra', f'{len(files)} masks for {len(images)} test images: the first {len(images)} '
            f'(sorted) are used, {files[len(images)]} and later are ignored')
    pairs = list(zip(images, files))
    if max_files:
        pairs = pairs[:max_files]
    stats['checked'] = len(pairs)
    coverages = []
    for image_name, mask_name in tqdm(pairs, desc='check masks', dynamic_ncols=True, leave=False, disable=None):
        mpath = os.path.join(mask_dir, mask_name)
        try:
            mask = read_mask(mpath)
        except UserError as exc:
            add('ERROR', 'mask_unreadable', _user_message(exc, mpath, mask_name), mask_name)
            continue
        coverages.append(float(mask.mean()))
        stats['empty'] += int(not mask.any())
        size = test_sizes.get(image_name)
        if size is None:
            try:
                w, h = image_size(os.path.join(image_dir, image_name))
                size = (h, w)
            except OSError:
                continue  # the image itself is reported in the test section
        if mask.shape != size:
            add('ERROR', 'mask_size',
                f'{mask_name} is {mask.shape[1]}×{mask.shape[0]} (W×H) but its test image images/{image_name} is '
                f'{size[1]}×{size[0]}; they must match', mask_name)
    if stats['empty']:
        add('INFO', 'mask_empty', f'{stats["empty"]} mask(s) are all black: those images are returned unchanged')
    stats['coverage_mean'] = round(float(np.mean(coverages)), 6) if coverages else None
    return stats


def check_dataset(dataroot, dataset_name, label_nc=None, instance_format=None, splits=('train', 'test'),
                  mask_dir=None, max_files=None, crop_size='256', size_rule=ANY_SIZE):
    """Check ``<dataroot>/<dataset_name>/<split>/...``; returns {'ok', 'errors', 'warnings', 'info', 'stats',
    'settings'}. ``size_rule``: the sizes the model to train accepts (``util/sizes.py``; the command
    line asks the model). Raises UserError for bad use (dataset or mask folder missing, unknown name, ...)."""
    if isinstance(splits, str):
        splits = [s for s in splits.split(',') if s]
    splits = list(splits)
    if not splits:
        raise UserError('--splits is empty; give e.g. train,test')
    for s in splits:
        if s not in ('train', 'test'):
            raise UserError(f'--splits: unknown split {s!r}; the layout has train and test')
    if max_files is not None and max_files < 1:
        raise UserError(f'--max_files must be at least 1, got {max_files}')
    label_nc, kind, num_types = resolve_dataset(dataset_name, label_nc, instance_format)
    from semedit.data.scene_dataset import parse_crop_size
    crop = parse_crop_size(crop_size, size_rule)
    root = os.path.join(dataroot, dataset_folder(dataset_name))
    if not os.path.isdir(root):
        raise UserError(f'dataset folder not found: {root} (expected {dataroot}/{dataset_folder(dataset_name)}/'
                        f'{{train,test}}/{{images,labels,inst_map}}; see docs/datasets.md)')
    if mask_dir is not None and not os.path.isdir(mask_dir):
        raise UserError(f'mask folder not found: {mask_dir}')

    findings = Findings()
    stats = {}
    test_sizes = {}
    for split in splits:
        sizes = {}
        stats[split] = _check_split(root, split, label_nc, kind, crop, max_files, findings, sizes, size_rule)
        if split == 'test':
            test_sizes = sizes
    if mask_dir is not None:
        stats['masks'] = _check_masks(mask_dir, os.path.join(root, 'test'), test_sizes, max_files, findings)
    errors, warnings, info = findings.of('ERROR'), findings.of('WARN'), findings.of('INFO')
    return {
        'ok': not errors,
        'settings': {'dataroot': dataroot, 'dataset_name': dataset_name, 'root': root, 'label_nc': label_nc,
                     'instance_kind': kind, 'num_mask_types': num_types, 'splits': splits,
                     'mask_dir': mask_dir, 'max_files': max_files, 'crop_size': f'{crop[1]}x{crop[0]}'},
        'errors': errors, 'warnings': warnings, 'info': info, 'stats': stats,
    }


def _plural(n, word):
    return f'{n} {word}' + ('' if n == 1 else 's')


def verdict(result):
    n_err, n_warn = len(result['errors']), len(result['warnings'])
    if n_err:
        return f'FAILED: {_plural(n_err, "error")}, {_plural(n_warn, "warning")}'
    parts = [f'{s} {st["checked"]}' for s, st in result['stats'].items() if s != 'masks']
    masks = result['stats'].get('masks')
    extra = f', {masks["checked"]} masks' if masks else ''
    return f'OK: {", ".join(parts)} images checked{extra}; 0 errors, {_plural(n_warn, "warning")}'


def format_report(result):
    st = result['settings']
    lines = [f'Dataset {st["root"]}: label_nc {st["label_nc"]}, instance maps {st["instance_kind"]}, '
             f'{st["num_mask_types"]} training mask types, crop {st["crop_size"]}'
             + (f', first {st["max_files"]} files per split' if st['max_files'] else '')]
    findings = result['errors'] + result['warnings'] + result['info']
    sections = list(result['stats'])
    for section in sections:
        s = result['stats'][section]
        lines.append('')
        if section == 'masks':
            lines.append(f'== masks ({st["mask_dir"]}) ==')
        else:
            lines.append(f'== {section} ==')
        shown = collections.Counter()
        hidden = collections.Counter()
        for level in LEVELS:
            for f in findings:
                if f['split'] != section or f['level'] != level:
                    continue
                key = (level, f['check'])
                if shown[key] >= MAX_LINES_PER_CHECK:
                    hidden[key] += 1
                    continue
                shown[key] += 1
                lines.append(f'{level:<5} {f["message"]}')
            for (lvl, check), n in hidden.items():
                if lvl == level:
                    lines.append(f'{level:<5} ... and {n} more {check} finding(s) (see --json)')
        if section == 'masks':
            cov = s['coverage_mean']
            lines.append(f'stats: {s["masks"]} masks, {s["checked"]} checked'
                         + (f', mean edited fraction {100 * cov:.1f} %' if cov is not None else ''))
            continue
        checked = f', {s["checked"]} checked' if s['checked'] != s['images'] else ''
        lines.append(f'stats: {s["images"]} images{checked}')
        if s['sizes']:
            top = list(s['sizes'].items())[:TOP_SIZES]
            more = len(s['sizes']) - len(top)
            lines.append('  sizes (W×H): ' + ', '.join(f'{k}: {v}' for k, v in top)
                         + (f', ... ({more} more sizes)' if more > 0 else ''))
        if s['label_ids']:
            top = sorted(s['label_ids'].items(), key=lambda kv: -kv[1])[:TOP_LABELS]
            lines.append(f'  label ids: {len(s["label_ids"])} present; top: '
                         + ', '.join(f'{i}: ' + (f'{100 * v:.1f} %' if v >= 0.001 or not v else '<0.1 %')
                                     for i, v in top))
        if s['out_of_range_ids']:
            lines.append('  label ids >= label_nc (files): '
                         + ', '.join(f'{i} ({c})' for i, c in s['out_of_range_ids'].items()))
        if s['images_with_instances'] is not None:
            lines.append(f'  images with instances: {s["images_with_instances"]} of {s["checked"]}')
    lines.append('')
    lines.append(verdict(result))
    return '\n'.join(lines)
