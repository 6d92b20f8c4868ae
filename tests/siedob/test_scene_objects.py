"""SIEDOB's objects of an edited scene (upstream background/dataset.py) on a hand-made 64×64 map:
which instances count, their class vote, partly vs fully edited, the per-class rules, Fg/Bg."""
import numpy as np

from semedit.data.scene_objects import BACKGROUND_RULES, FUSION_RULES, foreground, object_box, touched_objects


def scene():
    label = np.full((64, 64), 7)           # road
    inst = np.full((64, 64), 7)            # non-instance pixels hold their class id, as Cityscapes'
    label[10:30, 10:30], inst[10:30, 10:30] = 26, 26001      # car A: rows 10-29
    label[5, 40:45], inst[5, 40:45] = 26, 26002              # car B: one row only
    label[30:60, 40:50], inst[30:60, 40:50] = 24, 24001      # person: 30×10
    label[40:44, 10:15], inst[40:44, 10:20] = 24, 26003      # a mixed instance: 20 person, 20 car pixels
    label[40:44, 15:20] = 26
    label[50:60, 50:60], inst[50:60, 50:60] = 26, 26004      # car D, never edited
    mask = np.zeros((64, 64), np.float32)
    mask[0:21, :40] = 1                    # 11 of car A's 20 rows
    mask[0:10, 40:45] = 1                  # car B
    mask[25:64, 0:50] = 1                  # the person and the mixed instance, wholly
    return label, inst, mask


def test_touched_objects_classes_and_order():
    label, inst, mask = scene()
    objs = touched_objects(label, inst, mask)
    # partly visible first (car A), then the fully edited ones in ascending id: person, car B, mixed
    assert [(o.label, o.partly_visible, int(o.mask.sum())) for o in objs] == [
        (26, True, 400), (24, False, 300), (26, False, 5), (24, False, 20)]
    mixed = objs[3]
    assert mixed.mask[40:44, 10:15].all() and not mixed.mask[40:44, 15:20].any()  # the tie went to person (24)


def test_rules_and_foreground():
    label, inst, mask = scene()
    assert object_box(inst == 26002) is None                      # one row: no box
    assert object_box(inst == 26001) == [8, 31, 8, 31]            # grown by 2
    assert object_box(np.pad(np.ones((3, 3), bool), ((253, 0), (253, 0)))) == [251, 255, 251, 255]
    out = foreground(label, inst, mask)
    kept = {c: [int(o.mask.sum()) for o, _ in pairs] for c, pairs in out['objects'].items()}
    # car A: 55 % edited, fill 400/23² = 0.76; person: aspect 33/13 = 2.5, fill 300/429 = 0.70;
    # the mixed instance's person part: 4×5 pixels, aspect 7/8 = 0.875 is outside (2, 6)
    assert kept == {26: [400], 24: [300]}
    assert out['fg'].sum() == 700 and np.array_equal(out['bg'], 1 - out['fg'])
    assert out['fg'][50:60, 50:60].sum() == 0                   # an object the edit never touched is background
    # the fusion stage's person rule has no aspect limit and takes any edited fraction
    fusion = foreground(label, inst, mask, FUSION_RULES, limits=(512, 256))
    assert sorted(int(o.mask.sum()) for o, _ in fusion['objects'][24]) == [20, 300]
    assert BACKGROUND_RULES[24].crop == (64, 32) and FUSION_RULES[24].crop == (64, 64)


def test_instance_box_union_and_training_mask():
    import random
    from semedit.data.masks import all_instance_boxes, siedob_training_mask
    inst = np.full((256, 256), 7)
    inst[100:130, 50:70] = 26001          # 600 pixels: boxed
    inst[10:20, 10:20] = 24001            # 100 pixels: too small
    inst[240:256, 200:256] = 27001        # 896 pixels at the corner: clamped to 255, end-exclusive
    boxes = all_instance_boxes(inst)
    want = np.zeros((256, 256), np.float32)
    want[95:134, 45:74] = 1
    want[235:255, 195:255] = 1
    assert np.array_equal(boxes, want)
    right = siedob_training_mask(1, np.full((256, 256), 7), random.Random(1), np.random.RandomState(1))
    assert right[:, 128:].all() and not right[:, :128].any()   # type 1: the right half (no instance)
    # index 1 (right half) on the scene: the left-half car is edited exactly when the coin adds the boxes
    outcomes = []
    for seed in range(20):
        rng = random.Random(seed)
        coin = random.Random(seed).random() > 0.5          # the type-1 mask draws nothing before the coin
        m = siedob_training_mask(1, inst, rng, np.random.RandomState(seed))
        assert set(np.unique(m)) <= {0.0, 1.0} and m[:, 128:].all()
        assert bool(m[100:130, 50:70].all()) == coin
        outcomes.append(coin)
    assert any(outcomes) and not all(outcomes)


def test_object_crops_follow_the_boxes():
    """upstream's inst_crop: the box's rows r0..r1−1, cols c0..c1−1, resized to the crop; the
    high-resolution copy cut at 4× the box; zero padding to max_num."""
    import torch
    import torch.nn.functional as F
    from semedit.data.scene_objects import object_crops
    label, inst, mask = scene()
    out = foreground(label, inst, mask)
    cars = out['objects'][26]
    image = torch.rand(3, 64, 64) * 2 - 1
    hr = image.repeat_interleave(4, 1).repeat_interleave(4, 2)
    m = torch.from_numpy(mask)[None]
    crops = object_crops(image, image * (1 - m), torch.from_numpy(label)[None].float(), m, cars, (64, 64), hr,
                         max_num=3)
    assert crops['image'].shape == (3, 3, 64, 64) and crops['boxes'].tolist()[0] == [8, 31, 8, 31]
    want = F.interpolate(image[None, :, 8:31, 8:31], size=(64, 64), mode='bilinear', align_corners=False)[0]
    assert torch.equal(crops['image'][0], want)
    assert crops['image'][1:].abs().sum() == 0 and crops['boxes'][1:].abs().sum() == 0   # padding
    assert set(crops['label'][0].unique().tolist()) <= {7.0, 26.0}                       # nearest: ids stay ids
    assert crops['object_mask'][0].mean() > 0.5 and set(crops['object_mask'][0].unique().tolist()) <= {0.0, 1.0}
    # the 4× copy cut at 4× the box: each pixel of the image's box as a 4×4 block, resized
    blocks = image[None, :, 8:31, 8:31].repeat_interleave(4, 2).repeat_interleave(4, 3)
    assert crops['image_hr'].shape == (3, 3, 64, 64)
    assert torch.equal(crops['image_hr'][0], F.interpolate(blocks, size=(64, 64), mode='bilinear')[0])
    persons = object_crops(image, image, torch.zeros(1, 64, 64), m, out['objects'][24], (64, 32))
    assert persons['image'].shape == (1, 3, 64, 32)
