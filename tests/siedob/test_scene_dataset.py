"""SIEDOB's scene samples (data/siedob_scene.py, upstream background/dataset.py) on a small dataset
written here in the Cityscapes layout: the masks, Fg/Bg, the high-resolution crop, bad inputs."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

from semedit import data
from semedit.data import masks as mask_gen
from semedit.data.scene_dataset import sample_rngs
from semedit.data.scene_objects import foreground
from semedit.data.siedob_scene import selection_rules
from semedit.options import default_options
from semedit.util.errors import UserError

W, H, CROP = 128, 64, 64


def scene(i):
    """Road, a car and a person (large enough for the background stage's rules), shifted per image."""
    label = np.full((H, W), 7, np.uint8)
    label[:12] = 23                                    # sky
    label[0, :4] = 0                                   # a few unlabeled pixels
    inst = label.astype(np.uint16).copy()
    x = 8 * i
    label[24:40, 30 + x:54 + x], inst[24:40, 30 + x:54 + x] = 26, 26000 + i   # car 16×24
    label[20:48, 80:88], inst[20:48, 80:88] = 24, 24000                       # person 28×8
    rng = np.random.RandomState(i)
    image = (rng.rand(H, W, 3) * 255).astype(np.uint8)
    return image, label, inst


def write_dataset(root, n=4, high_res=True):
    base = os.path.join(root, 'cityscapes', 'train')
    for d in ('images', 'labels', 'inst_map') + (('images2048',) if high_res else ()):
        os.makedirs(os.path.join(base, d), exist_ok=True)
    for i in range(n):
        image, label, inst = scene(i)
        stem = f'city_{i}'
        Image.fromarray(image).save(os.path.join(base, 'images', stem + '.png'))
        Image.fromarray(label).save(os.path.join(base, 'labels', stem + '.png'))
        Image.fromarray(inst).save(os.path.join(base, 'inst_map', stem + '.png'))
        if high_res:  # each pixel a 4×4 block: the crop is checkable exactly
            Image.fromarray(np.kron(image, np.ones((4, 4, 1), np.uint8))).save(
                os.path.join(base, 'images2048', stem + '.png'))
    return root


def siedob_dataset(root, phase='train', items='siedob_scene', **kw):
    opt = default_options(True, model='siedob', stage='background', dataset_name='cityscapes', dataroot=str(root),
                          crop_size=str(CROP), **kw)
    return data.create_dataset(opt, phase, items)


def test_items_masks_and_foreground(tmp_path):
    ds = siedob_dataset(write_dataset(tmp_path), seed=3)
    ds.set_epoch(2)
    for i in range(len(ds)):
        item = ds[i]
        s = ds.load_sample(i)
        assert item['image'].shape == (3, CROP, CROP) and item['label'].shape == (1, CROP, CROP)
        # the training mask: SIEDOB's index % 3 family with the sample's own generators
        rng, np_rng = sample_rngs(3, 2, i)
        ds._crop_flip(*scene(i), rng, 'x')  # the crop and flip draw first
        assert np.array_equal(s['mask'], mask_gen.siedob_training_mask(i, s['instance'], rng, np_rng))
        split = foreground(s['label'], s['instance'], s['mask'], selection_rules((24, 26)), limits=(CROP - 1,) * 2)
        assert torch.equal(item['fg_mask'][0], torch.from_numpy(split['fg']))
        assert torch.equal(item['bg_mask'], 1 - item['fg_mask'])
        assert set(np.unique(item['fg_mask'].numpy())) <= {0.0, 1.0}
        # the label ids as stored (the model remaps 0)
        assert torch.equal(item['label'][0], torch.from_numpy(np.ascontiguousarray(s['label'])))


def test_foreground_classes_and_rules_on_a_full_edit(tmp_path):
    """Under a full edit the scene's car and person are the foreground; --fg_classes 26 keeps the car."""
    _, label, inst = scene(0)
    full = np.ones((H, W), np.float32)
    split = foreground(label, inst, full, selection_rules((24, 26)), limits=(H - 1, W - 1))
    assert split['fg'].sum() == 16 * 24 + 28 * 8
    only_cars = foreground(label, inst, full, selection_rules((26,)), limits=(H - 1, W - 1))
    assert only_cars['fg'].sum() == 16 * 24
    assert selection_rules((25,))[25] == selection_rules((26,))[26]  # another class: the car's rule


def test_high_res_crop_follows_the_crop_and_flip(tmp_path):
    ds = siedob_dataset(write_dataset(tmp_path), high_res=True)
    flips = set()
    for epoch in range(4):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            hr = item['image_hr']
            assert hr.shape == (3, 4 * CROP, 4 * CROP)
            assert torch.equal(hr[:, ::4, ::4], item['image'])   # block (r, c) is pixel (r, c)
            flips.add(ds.load_sample(i)['crop']['flipped'])
    assert flips == {True, False}


def test_object_crops_batch_for_the_later_stages(tmp_path):
    ds = siedob_dataset(write_dataset(tmp_path), items='siedob_scene_crops', high_res=True, seed=1)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    cars, persons = batch['objects'][26], batch['objects'][24]
    assert cars['image'].shape == (4, 50, 3, 64, 64) and persons['image'].shape == (4, 50, 3, 64, 32)
    assert cars['image_hr'].shape == (4, 50, 3, 64, 64) and cars['boxes'].shape == (4, 50, 4)
    kept = {}
    for c, crops in batch['objects'].items():
        for b in range(4):  # a real crop for every selected object, zeros after
            n = int((crops['boxes'][b].abs().sum(1) > 0).sum())
            assert crops['object_mask'][b, :n].flatten(1).amax(1).eq(1).all() and crops['image'][b, n:].abs().sum() == 0
            for r0, r1, c0, c1 in crops['boxes'][b, :n].tolist():  # each box holds foreground
                assert batch['fg_mask'][b, 0, r0:r1, c0:c1].any()
            kept[c] = kept.get(c, 0) + n
    assert kept == {26: 2, 24: 1}  # with this seed: cars in samples 2 and 3, a person in 3


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    root = write_dataset(tmp_path / 'a', n=2)
    base = os.path.join(root, 'cityscapes', 'train')
    # a label id ≥ 34
    label = np.asarray(Image.open(os.path.join(base, 'labels', 'city_1.png'))).copy()
    label[5, 5] = 40
    Image.fromarray(label).save(os.path.join(base, 'labels', 'city_1.png'))
    ds = siedob_dataset(root)
    with pytest.raises(UserError, match=r'city_1\.png contains label id 40 but label_nc is 34'):
        ds[1]
    # an image without its instance map
    os.remove(os.path.join(base, 'inst_map', 'city_0.png'))
    with pytest.raises(UserError, match=r'inst_map/city_0\.png'):
        ds[0]
    # --high_res without the folder, and with a missing file
    root = write_dataset(tmp_path / 'b', n=2, high_res=False)
    with pytest.raises(UserError, match=r'images2048 not found'):
        siedob_dataset(root, high_res=True)
    root = write_dataset(tmp_path / 'c', n=2)
    os.remove(os.path.join(root, 'cityscapes', 'train', 'images2048', 'city_1.png'))
    with pytest.raises(UserError, match=r'images2048/city_1\.jpg not found'):
        siedob_dataset(root, high_res=True)[1]
    # no instance maps at all: SIEDOB cannot find objects
    root = write_dataset(tmp_path / 'd', n=2)
    import shutil
    shutil.rmtree(os.path.join(root, 'cityscapes', 'train', 'inst_map'))
    capsys.readouterr()
    with pytest.raises(UserError, match='SIEDOB needs Cityscapes-format instance maps'):
        siedob_dataset(root)
    assert capsys.readouterr().out == ''  # not also the other datasets' "edges from labels" note


def test_test_split_with_predefined_masks(tmp_path):
    root = write_dataset(tmp_path, n=2)
    os.rename(os.path.join(root, 'cityscapes', 'train'), os.path.join(root, 'cityscapes', 'test'))
    masks = tmp_path / 'masks'
    masks.mkdir()
    for i in range(2):  # 0/255 PNGs (upstream reads them without /255: its bug; here 1 = edit)
        m = np.zeros((H, W), np.uint8)
        m[:, W // 2:] = 255
        Image.fromarray(m).save(masks / f'{i:04d}.png')
    ds = siedob_dataset(root, 'test', mask_dir=str(masks))
    item = ds[0]
    assert item['image'].shape == (3, H, W)
    assert torch.equal(item['mask'][0, :, W // 2:], torch.ones(H, W // 2)) and item['mask'][0, :, :W // 2].sum() == 0
    # the person (cols 80-87) lies in the edited half and is kept: foreground
    assert item['fg_mask'][0, 20:48, 80:88].all()
    Image.fromarray(np.zeros((H, W // 2), np.uint8)).save(masks / '0001.png')
    with pytest.raises(UserError, match=r'size mismatch: mask .*0001\.png is 64×64 but its image'):
        siedob_dataset(root, 'test', mask_dir=str(masks))
