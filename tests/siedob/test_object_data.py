"""SIEDOB's object datasets: cutting the crops from a scene (data/object_extraction.py: boxes,
margins, masks exact), the loader (data/object_dataset.py: items, repetition, holes, augmentation,
the style references) and its one-line errors, and the object holes' statistics (data/masks.py)."""
import os
import random

import numpy as np
import pytest
import torch
from PIL import Image

from semedit import data
from semedit.data.masks import object_training_mask, side_band_mask
from semedit.data.object_extraction import (crop_objects, resize_bilinear, resize_nearest_legacy, scene_objects,
                                    write_object_dataset)
from semedit.options import default_options
from semedit.util.errors import UserError

H, W = 64, 128


def scene(seed=0):
    label = np.full((H, W), 7, np.int64)
    inst = label.copy()
    label[20:36, 40:70], inst[20:36, 40:70] = 26, 26001          # car: 16×30, fills 480/(19·33) = 0.77
    label[5:15, 5:8], inst[5:15, 5:8] = 26, 26000                # car, thin: box 13×6 filled 30/78 < 0.6
    label[5:15, 8:30], inst[5:15, 5:30] = 7, 26000               # (its id covers road pixels too)
    label[10:50, 100:110], inst[10:50, 100:110] = 24, 24003      # person 40×10: aspect 43/13 = 3.3, fill 0.72
    label[40:60, 10:30], inst[40:60, 10:30] = 24, 24001          # person 20×20: aspect 1, rejected
    image = (np.random.RandomState(seed).rand(H, W, 3) * 255).astype(np.uint8)
    return image, label, inst


def test_objects_boxes_and_rules():
    _, label, inst = scene()
    found = [(c, iid, box) for c, iid, _, box in scene_objects(label, inst)]
    # boxes: 2-pixel margin, end-exclusive [r_min − 2, r_max + 2); cars first, then persons, ascending ids
    assert found == [(26, 26001, [18, 37, 38, 71]), (24, 24003, [8, 51, 98, 111])]


def test_crops_from_the_high_resolution_copy():
    image, label, inst = scene()
    hr = np.kron(image, np.ones((4, 4, 1), np.uint8))           # 4×, block-constant
    crops = crop_objects(image, label, inst, hr)
    assert [(c, kk, img.shape, mask.shape) for c, kk, img, mask in crops] == [
        (26, 0, (64, 64, 3), (64, 64)), (24, 0, (64, 32, 3), (64, 32))]
    _, _, car, car_mask = crops[0]
    assert np.array_equal(car, exact_bilinear(hr[72:148, 152:284], (64, 64)))   # 4 × [18, 37) × [38, 71)
    # the mask: nearest (source index floor(i · 19 / 64)) of the object's pixels in the box, 0/255
    m = (inst == 26001) & (label == 26)
    rows, cols = (np.arange(64) * 19) // 64, (np.arange(64) * 33) // 64
    assert np.array_equal(car_mask, m[18:37, 38:71][rows][:, cols].astype(np.uint8) * 255)
    assert set(np.unique(car_mask)) == {0, 255}
    assert np.array_equal(resize_nearest_legacy(np.arange(4)[None], (1, 8)), [[0, 0, 1, 1, 2, 2, 3, 3]])


def exact_bilinear(image, size):
    """Bilinear resizing without antialiasing (half-pixel centres, edge-clamped), in float64 with the
    weights as fractions of the sizes, rounded half up (ties are common: 76 -> 64 rows puts many
    samples exactly between two grey levels)."""
    def taps(n_in, n_out):
        pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, None)
        low = np.minimum(np.floor(pos).astype(int), n_in - 1)
        return low, np.minimum(low + 1, n_in - 1), pos - low
    (r0, r1, fr), (c0, c1, fc) = taps(image.shape[0], size[0]), taps(image.shape[1], size[1])
    a = image.astype(np.float64)
    rows = a[r0] * (1 - fr)[:, None, None] + a[r1] * fr[:, None, None]
    out = rows[:, c0] * (1 - fc)[None, :, None] + rows[:, c1] * fc[None, :, None]
    return np.floor(out + 0.5 + 1e-6).astype(np.uint8)


@pytest.mark.parametrize('threads', [1, 2])
def test_bilinear_resize_is_exact_whatever_the_thread_count(threads):
    """The object crops' resize gives the same bytes on one thread (a loader worker) as on several (the
    main process): float32 rounding noise, which changes with the thread count, used to decide the ties."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        rng = np.random.default_rng(0)
        for h, w in [(76, 132), (64, 32), (19, 33), (150, 97)]:
            image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            for size in [(64, 64), (72, 72), (64, 32)]:
                assert np.array_equal(resize_bilinear(image, size), exact_bilinear(image, size)), (h, w, size)
    finally:
        torch.set_num_threads(before)


def write_scene_dataset(root, n=2):
    base = os.path.join(root, 'cityscapes')
    for split in ('train', 'test'):
        for d in ('images', 'labels', 'inst_map'):
            os.makedirs(os.path.join(base, split, d), exist_ok=True)
        for i in range(n):
            image, label, inst = scene(seed=i)   # crops that differ from scene to scene
            Image.fromarray(image).save(os.path.join(base, split, 'images', f's{i}.png'))
            Image.fromarray(label.astype(np.uint8)).save(os.path.join(base, split, 'labels', f's{i}.png'))
            Image.fromarray(inst.astype(np.uint16)).save(os.path.join(base, split, 'inst_map', f's{i}.png'))
    return base


def object_dataset(root, phase='train', **kw):
    opt = default_options(True, model='siedob', stage='object_inpainting', dataset_name='cityscapes',
                          dataroot=str(root), **kw)
    return data.create_dataset(opt, phase, 'siedob_objects')


def test_prepared_folders_and_the_loader(tmp_path):
    base = write_scene_dataset(str(tmp_path))
    counts = write_object_dataset(base)
    assert counts == {('car', 'train'): 2, ('person', 'train'): 2, ('car', 'test'): 2, ('person', 'test'): 2}
    obj = os.path.join(base, 'object_datasets')
    assert sorted(os.listdir(os.path.join(obj, 'car', 'train', 'images'))) == ['car_s0_00.jpg', 'car_s1_00.jpg']
    assert sorted(os.listdir(os.path.join(obj, 'object_mask'))) == [f'{i:04d}.png' for i in range(4)]
    ds = object_dataset(tmp_path, seed=1)
    assert len(ds) == 2 * 10 + 2 * 10                    # each class listed 10 times (upstream, up to 10,000)
    assert len(object_dataset(tmp_path, no_object_repeat=True)) == 4
    cars = persons = 0
    for i in range(len(ds)):
        item = ds[i]
        k, m, c = item['inst_mask'], item['mask'], item['class_map']
        assert item['image'].shape == (3, 64, 64) and k.shape == m.shape == (1, 64, 64)
        assert torch.all(m <= k) and set(k.unique().tolist()) <= {0.0, 1.0}           # the hole lies on the object
        vector = (1, 0, 0) if int(item['label']) == 26 else (0, 1, 0)
        assert torch.equal(c, k * torch.tensor(vector, dtype=torch.float32)[:, None, None])
        cars, persons = cars + (vector[0] == 1), persons + (vector[1] == 1)
    assert (cars, persons) == (20, 20)
    test = object_dataset(tmp_path, 'test')
    hole = np.asarray(Image.open(os.path.join(obj, 'object_mask', '0001.png'))) > 127
    assert torch.equal(test[1]['mask'][0], torch.from_numpy(hole).float() * test[1]['inst_mask'][0])


def test_loader_errors(tmp_path):
    base = write_scene_dataset(str(tmp_path))
    with pytest.raises(UserError, match='no object crops in .*object_datasets.*prepare_object_dataset.py'):
        object_dataset(tmp_path)
    write_object_dataset(base)
    obj = os.path.join(base, 'object_datasets', 'car', 'train')
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(os.path.join(obj, 'inst_mask', 'car_s0_00.png'))
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(os.path.join(obj, 'images', 'car_s1_00.jpg'))
    ds = object_dataset(tmp_path, no_object_repeat=True)
    with pytest.raises(UserError, match=r'car_s0_00\.png is empty'):
        ds[0]
    with pytest.raises(UserError, match=r'car_s1_00\.jpg is 64×48 .* car crops are 64×64'):
        ds[1]
    os.remove(os.path.join(obj, 'inst_mask', 'car_s1_00.png'))
    with pytest.raises(UserError, match=r'car_s1_00\.png not found'):
        ds[1]


def test_object_holes():
    cover = [object_training_mask(0, 64, 64, random.Random(i), np.random.RandomState(i)).mean() for i in range(2000)]
    # upstream's brush at 64×64 covers 0.428 on average (20,000 draws; 0.06..0.97)
    assert 0.40 < np.mean(cover) < 0.46 and min(cover) > 0.03 and max(cover) < 1
    sides = set()
    for i in range(400):
        m = object_training_mask(2, 64, 64, random.Random(i), np.random.RandomState(i))   # index % 3 == 2: a band
        assert np.array_equal(m, side_band_mask(64, 64, random.Random(i)))
        rows, cols = m.any(1), m.any(0)
        thick = int(rows.sum()) if not rows.all() else int(cols.sum())
        assert 9 <= thick <= 41
        sides.add('right' if m[0, -1] and not m[0, 0] else 'left' if m[0, 0] and not m[0, -1] else
                  'bottom' if m[-1, 0] else 'top')
    assert sides == {'right', 'left', 'bottom', 'top'}


def test_inst_map_folders_are_read_too(tmp_path):
    """upstream's README names the mask folders inst_map/, its code inst_mask/: both work."""
    base = write_scene_dataset(str(tmp_path))
    write_object_dataset(base, splits=('train',))
    for c in ('car', 'person'):
        d = os.path.join(base, 'object_datasets', c, 'train')
        os.rename(os.path.join(d, 'inst_mask'), os.path.join(d, 'inst_map'))
    ds = object_dataset(tmp_path, no_object_repeat=True)
    assert len(ds) == 4 and ds[0]['inst_mask'].sum() > 0


def crop_as_read(image_path, mask_path):
    """A crop file as the loader must see it before any augmentation: 64×64 (persons' 32 columns
    stretched ×2), the image bilinear (``exact_bilinear``), the mask nearest (column j <- ⌊j·w/64⌋)."""
    image, mask = np.asarray(Image.open(image_path).convert('RGB')), np.asarray(Image.open(mask_path)) >= 128
    cols = (np.arange(64) * mask.shape[1]) // 64
    return exact_bilinear(image, (64, 64)), mask[:, cols].astype(np.float32)


def augmentations(image, mask):
    """{(shift, flip): (image, mask)} for every outcome of upstream's augmentation of a 64×64 crop
    (instance_inpainting/dataset.py): shift None (as is) or the (row, col) offset of the 64×64 window
    cut from the 72×72 resize (image bilinear, mask nearest: source index ⌊i·64/72⌋), each unflipped or
    flipped left-right, image and mask alike."""
    idx = (np.arange(72) * 64) // 72
    big_image, big_mask = exact_bilinear(image, (72, 72)), mask[idx][:, idx]
    out = {(None, False): (image, mask)}
    for top in range(9):
        for left in range(9):
            out[(top, left), False] = big_image[top:top + 64, left:left + 64], big_mask[top:top + 64, left:left + 64]
    for (shift, _), (im, m) in list(out.items()):
        out[shift, True] = im[:, ::-1], m[:, ::-1]
    return out


def as_tensors(image, mask):
    """The loader's tensors of a uint8 RGB crop: BGR (SIEDOB's order) in [−1, 1], and the mask 1×H×W."""
    x = torch.from_numpy(np.ascontiguousarray(image[..., ::-1])).permute(2, 0, 1).float() / 127.5 - 1
    return x, torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None]


def crops_on_disk(base, cls, phase):
    """{file name: crop as read} of a class's crops in one split, in file-name order."""
    folder = os.path.join(base, 'object_datasets', cls, phase)
    return {n: crop_as_read(os.path.join(folder, 'images', n), os.path.join(folder, 'inst_mask', n[:-4] + '.png'))
            for n in sorted(os.listdir(os.path.join(folder, 'images')))}


@pytest.fixture
def object_folders(tmp_path):
    """Two scenes per split, their crops cut: two different crops per class and split."""
    base = write_scene_dataset(str(tmp_path))
    write_object_dataset(base)
    return base


def matching(item_image, item_mask, candidates):
    """The outcomes whose image is the item's; each must come with its mask transformed alike."""
    hits = []
    for key, (image, mask) in candidates.items():
        x, k = as_tensors(image, mask)
        if torch.equal(item_image, x):
            assert torch.equal(item_mask, k), f'the image was transformed by {key}, its mask was not'
            hits.append(key)
    return hits


def test_training_crops_are_resized_shifted_and_flipped_with_their_masks(object_folders):
    """upstream's augmentation of training crops: with probability 0.5 resized to 72×72 and cut back
    to 64×64 at a random offset, then with probability 0.5 flipped; the instance mask exactly alike."""
    ds = object_dataset(os.path.dirname(object_folders), seed=1)
    raw = {**crops_on_disk(object_folders, 'car', 'train'), **crops_on_disk(object_folders, 'person', 'train')}
    outcomes = []
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            hits = matching(item['image'], item['inst_mask'], augmentations(*raw[os.path.basename(item['path'])]))
            assert len(hits) == 1, (epoch, i, hits)
            outcomes.append(hits[0])
    shifted = [shift for shift, _ in outcomes if shift is not None]
    flipped = [flip for _, flip in outcomes if flip]
    n = len(outcomes)   # 80 draws: a fair coin's share lies in (0.3, 0.7) but 3.5 standard deviations out
    assert 0.3 * n < len(shifted) < 0.7 * n and 0.3 * n < len(flipped) < 0.7 * n
    assert {(s is None, f) for s, f in outcomes} == {(True, False), (True, True), (False, False), (False, True)}
    assert len(set(shifted)) > 20 and {t for t, _ in shifted} == set(range(9)) == {u for _, u in shifted}


def test_the_test_split_is_never_augmented(object_folders):
    """Test crops and their holes are the files as read, whatever the epoch."""
    ds = object_dataset(os.path.dirname(object_folders), 'test')
    holes = os.path.join(object_folders, 'object_datasets', 'object_mask')
    raw = [*crops_on_disk(object_folders, 'car', 'test').values(),
           *crops_on_disk(object_folders, 'person', 'test').values()]
    assert len(ds) == len(raw) == 4
    for epoch in (0, 1, 2):
        ds.set_epoch(epoch)
        for i, crop in enumerate(raw):
            x, k = as_tensors(*crop)
            hole = torch.from_numpy(np.asarray(Image.open(os.path.join(holes, f'{i:04d}.png'))) >= 128).float()
            assert torch.equal(ds[i]['image'], x) and torch.equal(ds[i]['inst_mask'], k), (epoch, i)
            assert torch.equal(ds[i]['mask'], hole * k), (epoch, i)


def style_dataset(root, phase):
    opt = default_options(True, model='siedob', stage='object_style', dataset_name='cityscapes', dataroot=str(root))
    return data.create_dataset(opt, phase, 'siedob_objects_ref')


def test_style_references_are_crops_of_the_class_as_read(object_folders):
    """Training: the reference is one of its class's crops drawn at random, as read (never augmented);
    the test split: always the class's second crop (upstream: its list's second item), or its first
    when the class has one."""
    root = os.path.dirname(object_folders)
    ds = style_dataset(root, 'train')
    drawn = {26: set(), 24: set()}
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            c = int(item['label'])
            crops = crops_on_disk(object_folders, 'car' if c == 26 else 'person', 'train')
            ref = [n for n, crop in crops.items() if matching(item['ref_image'], item['ref_inst_mask'], {n: crop})]
            assert len(ref) == 1, (epoch, i)
            drawn[c].add(ref[0])
    assert drawn == {26: {'car_s0_00.jpg', 'car_s1_00.jpg'}, 24: {'person_s0_00.jpg', 'person_s1_00.jpg'}}
    test = style_dataset(root, 'test')
    for c, name in ((26, 'car'), (24, 'person')):
        second = as_tensors(*crops_on_disk(object_folders, name, 'test')[f'{name}_s1_00.jpg'])
        for i in [i for i in range(len(test)) if int(test[i]['label']) == c]:
            assert torch.equal(test[i]['ref_image'], second[0]) and torch.equal(test[i]['ref_inst_mask'], second[1])
    folder = os.path.join(object_folders, 'object_datasets', 'person', 'test')
    os.remove(os.path.join(folder, 'images', 'person_s1_00.jpg'))
    os.remove(os.path.join(folder, 'inst_mask', 'person_s1_00.png'))
    first = as_tensors(*crops_on_disk(object_folders, 'person', 'test')['person_s0_00.jpg'])
    item = style_dataset(root, 'test')[2]
    assert int(item['label']) == 24 and torch.equal(item['ref_image'], first[0])
