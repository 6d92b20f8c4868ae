"""SIEDOB's object datasets: cutting the crops from a scene (data/object_extraction.py: boxes,
margins, masks exact), the loader (data/object_dataset.py: items, repetition, holes, augmentation)
and its one-line errors, and the object holes' statistics (data/masks.py)."""
import os
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import data
from data.masks import object_training_mask, side_band_mask
from data.object_extraction import crop_objects, resize_nearest_legacy, scene_objects, write_object_dataset
from options import default_options
from util.errors import UserError

H, W = 64, 128


def scene():
    label = np.full((H, W), 7, np.int64)
    inst = label.copy()
    label[20:36, 40:70], inst[20:36, 40:70] = 26, 26001          # car: 16×30, fills 480/(19·33) = 0.77
    label[5:15, 5:8], inst[5:15, 5:8] = 26, 26000                # car, thin: box 13×6 filled 30/78 < 0.6
    label[5:15, 8:30], inst[5:15, 5:30] = 7, 26000               # (its id covers road pixels too)
    label[10:50, 100:110], inst[10:50, 100:110] = 24, 24003      # person 40×10: aspect 43/13 = 3.3, fill 0.72
    label[40:60, 10:30], inst[40:60, 10:30] = 24, 24001          # person 20×20: aspect 1, rejected
    image = (np.random.RandomState(0).rand(H, W, 3) * 255).astype(np.uint8)
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
    src = torch.from_numpy(hr[72:148, 152:284]).permute(2, 0, 1)[None].float()   # 4 × [18, 37) × [38, 71)
    want = F.interpolate(src, size=(64, 64), mode='bilinear', align_corners=False).round()[0].permute(1, 2, 0)
    assert np.array_equal(car, want.numpy().astype(np.uint8))
    # the mask: nearest (source index floor(i · 19 / 64)) of the object's pixels in the box, 0/255
    m = (inst == 26001) & (label == 26)
    rows, cols = (np.arange(64) * 19) // 64, (np.arange(64) * 33) // 64
    assert np.array_equal(car_mask, m[18:37, 38:71][rows][:, cols].astype(np.uint8) * 255)
    assert set(np.unique(car_mask)) == {0, 255}
    assert np.array_equal(resize_nearest_legacy(np.arange(4)[None], (1, 8)), [[0, 0, 1, 1, 2, 2, 3, 3]])


def write_scene_dataset(root, n=2):
    base = os.path.join(root, 'cityscapes')
    for split in ('train', 'test'):
        for d in ('images', 'labels', 'inst_map'):
            os.makedirs(os.path.join(base, split, d), exist_ok=True)
        for i in range(n):
            image, label, inst = scene()
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
