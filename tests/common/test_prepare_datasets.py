"""scripts/prepare_cityscapes.py and scripts/prepare_ade20k.py on miniature copies of the official
layouts (real 2048×1024 Cityscapes frames, small ADEChallengeData2016 images), each run as a
process: the exact files and sizes, ids that survive resizing, the test halves and
centre crops, scene selection, resuming, and one-line errors."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
W, H = 2048, 1024
CITY_TRAIN = ['aachen_000000_000019', 'bochum_000000_000313']
CITY_VAL = ['frankfurt_000000_000294']
CAR_A, CAR_B, PERSON = 26001, 26000, 24000


# ---- helpers -------------------------------------------------------------------------------

def run(script, argv):
    """``python scripts/<script>.py argv`` -> (exit code, stdout, stderr)."""
    res = subprocess.run([sys.executable, os.path.join('scripts', script + '.py'), *map(str, argv)],
                         capture_output=True, text=True, cwd=ROOT)
    return res.returncode, res.stdout, res.stderr


def files_under(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def load(path):
    return np.asarray(Image.open(path))


def save_png(a, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(a).save(path, compress_level=1)


def city_maps(h=H, w=W, shift=0):
    """Cityscapes-like labelIds and instanceIds with stuff, two cars and a person."""
    y, x = h / H, w / W
    label = np.full((h, w), 7, np.uint8)                                     # road
    label[:int(300 * y)] = 23                                                # sky
    label[int(300 * y):int(600 * y)] = 11                                    # building
    label[int(300 * y):int(600 * y), int(1600 * x):] = 21                    # vegetation
    label[int(600 * y):, :int(300 * x)] = 8                                  # sidewalk
    label[int(1000 * y):] = 1                                                # ego vehicle
    label[:int(300 * y), int(1001 * x)] = 17                                 # a 1-pixel pole
    inst = label.astype(np.uint16)
    for (r0, r1, c0, c1), cls, iid in (((500, 700, 800 + shift, 1200 + shift), 26, CAR_A),
                                       ((650, 700, 100, 200), 26, CAR_B),
                                       ((400, 800, 1400, 1600), 24, PERSON)):
        win = (slice(int(r0 * y), int(r1 * y)), slice(int(c0 * x), int(c1 * x)))
        label[win], inst[win] = cls, iid
    return label, inst


def city_image(label):
    palette = np.random.RandomState(0).randint(0, 256, (256, 3)).astype(np.int16)
    h, w = label.shape
    ramp = (np.arange(w)[None, :] // 8 % 32 + np.arange(h)[:, None] // 8 % 16).astype(np.int16)
    return np.clip(palette[label] + ramp[..., None] - 24, 0, 255).astype(np.uint8)


def make_cityscapes(root, train=CITY_TRAIN, val=CITY_VAL, h=H, w=W):
    for split, stems in (('train', train), ('val', val)):
        for i, stem in enumerate(stems):
            city = stem.split('_')[0]
            label, inst = city_maps(h, w, shift=40 * i)
            save_png(city_image(label), os.path.join(root, 'leftImg8bit', split, city, stem + '_leftImg8bit.png'))
            gt = os.path.join(root, 'gtFine', split, city)
            save_png(label, os.path.join(gt, stem + '_gtFine_labelIds.png'))
            save_png(inst, os.path.join(gt, stem + '_gtFine_instanceIds.png'))
    return root


@pytest.fixture(scope='module')
def cityscapes(tmp_path_factory):
    return make_cityscapes(str(tmp_path_factory.mktemp('cityscapes_raw')))


@pytest.fixture(scope='module')
def city_out(cityscapes, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('city_out'))
    assert run('prepare_cityscapes', ['--cityscapes_root', cityscapes, '--out_root', out, '--layout', 'both'])[0] == 0
    return out


# ---- Cityscapes ----------------------------------------------------------------------------

def test_cityscapes_exact_files_and_sizes(city_out):
    expected = []
    for folder in ('cityscapes', 'cityscapes512x256'):
        for stem in CITY_TRAIN:
            expected += [f'{folder}/train/images/{stem}.jpg', f'{folder}/train/labels/{stem}.png',
                         f'{folder}/train/inst_map/{stem}.png']
            if folder == 'cityscapes512x256':
                expected.append(f'{folder}/train/images2048/{stem}.jpg')
        for stem in CITY_VAL:
            for half in ('l', 'r'):
                expected += [f'{folder}/test/images/{stem}_{half}.jpg', f'{folder}/test/labels/{stem}_{half}.png',
                             f'{folder}/test/inst_map/{stem}_{half}.png']
    assert files_under(city_out) == sorted(os.path.normpath(p) for p in expected)  # no temporary files left
    for rel in files_under(city_out):
        img = Image.open(os.path.join(city_out, rel))
        size = (2048, 1024) if 'images2048' in rel else (512, 256) if '/train/' in rel else (256, 256)
        assert img.size == size, rel
        if '/labels/' in rel:
            assert img.mode == 'L', rel
        elif '/inst_map/' in rel:
            assert img.mode in ('I;16', 'I;16B', 'I;16L', 'I'), rel
        else:
            assert img.format == 'JPEG' and img.mode == 'RGB', rel


def test_cityscapes_ids_survive_resizing(cityscapes, city_out):
    in_label, in_inst = city_maps()
    label_values, inst_values = set(np.unique(in_label)), set(np.unique(in_inst))
    for folder in ('cityscapes', 'cityscapes512x256'):
        for phase in ('train', 'test'):
            for name in os.listdir(os.path.join(city_out, folder, phase, 'labels')):
                label = load(os.path.join(city_out, folder, phase, 'labels', name))
                inst = load(os.path.join(city_out, folder, phase, 'inst_map', name)).astype(np.int64)
                assert set(np.unique(label)) <= label_values, name
                assert set(np.unique(inst)) <= inst_values, name
                # stuff pixels carry their class id, instance pixels class*1000+k of their label
                stuff = inst < 1000
                assert np.array_equal(inst[stuff], label[stuff])
                assert np.array_equal(inst[~stuff] // 1000, label[~stuff])
    # large uniform regions keep their ids at the corresponding (4x smaller) position
    stem = CITY_TRAIN[0]
    label = load(os.path.join(city_out, 'cityscapes', 'train', 'labels', stem + '.png'))
    inst = load(os.path.join(city_out, 'cityscapes', 'train', 'inst_map', stem + '.png')).astype(np.int64)
    assert inst.max() >= 26000 and {CAR_A, CAR_B, PERSON} <= set(np.unique(inst))
    assert label[150, 250] == 26 and inst[150, 250] == CAR_A          # car: rows 500..700, cols 800..1200
    assert label[150, 375] == 24 and inst[150, 375] == PERSON         # person: cols 1400..1600
    assert label[30, 100] == 23 and inst[30, 100] == 23               # sky
    assert label[110, 450] == 21 and label[200, 350] == 7             # vegetation, road
    assert label[200, 30] == 8 and label[255, 100] == 1               # sidewalk, ego vehicle


def test_cityscapes_test_halves_are_the_resized_val_frame(cityscapes, city_out):
    stem = CITY_VAL[0]
    city = stem.split('_')[0]
    src = os.path.join(cityscapes, 'leftImg8bit', 'val', city, stem + '_leftImg8bit.png')
    gt = os.path.join(cityscapes, 'gtFine', 'val', city, stem)
    ref_img = np.asarray(Image.open(src).resize((512, 256), Image.BOX)).astype(np.int16)
    ref_label = np.asarray(Image.open(gt + '_gtFine_labelIds.png').resize((512, 256), Image.NEAREST))
    inst32 = Image.fromarray(load(gt + '_gtFine_instanceIds.png').astype(np.int32))
    ref_inst = np.asarray(inst32.resize((512, 256), Image.NEAREST))
    for folder in ('cityscapes', 'cityscapes512x256'):
        base = os.path.join(city_out, folder, 'test')
        for half, cols in (('l', slice(0, 256)), ('r', slice(256, 512))):
            label = load(os.path.join(base, 'labels', f'{stem}_{half}.png'))
            inst = load(os.path.join(base, 'inst_map', f'{stem}_{half}.png')).astype(np.int32)
            img = load(os.path.join(base, 'images', f'{stem}_{half}.jpg')).astype(np.int16)
            assert np.array_equal(label, ref_label[:, cols])
            assert np.array_equal(inst, ref_inst[:, cols])
            assert np.abs(img - ref_img[:, cols]).mean() < 2.5        # JPEG quality 95
    r_inst = load(os.path.join(city_out, 'cityscapes', 'test', 'inst_map', f'{stem}_r.png'))
    assert r_inst[150, 375 - 256] == PERSON


def test_cityscapes_images2048_is_the_original_frame(cityscapes, city_out):
    stem = CITY_TRAIN[1]
    src = load(os.path.join(cityscapes, 'leftImg8bit', 'train', 'bochum', stem + '_leftImg8bit.png'))
    big = load(os.path.join(city_out, 'cityscapes512x256', 'train', 'images2048', stem + '.jpg'))
    assert big.shape == (1024, 2048, 3)
    assert np.abs(big.astype(np.int16) - src).mean() < 2.5


def test_cityscapes_skip_existing_keeps_files(cityscapes, tmp_path):
    out = tmp_path / 'out'
    argv = ['--cityscapes_root', cityscapes, '--out_root', out, '--splits', 'val']
    assert run('prepare_cityscapes', argv)[0] == 0
    paths = [os.path.join(out, p) for p in files_under(out)]
    assert len(paths) == 6
    before = {p: os.stat(p).st_mtime_ns for p in paths}
    os.remove(paths[0])
    code, stdout, _ = run('prepare_cityscapes', argv + ['--skip_existing'])
    assert code == 0 and os.path.exists(paths[0])
    assert all(os.stat(p).st_mtime_ns == before[p] for p in paths[1:])
    code, stdout, _ = run('prepare_cityscapes', argv + ['--skip_existing'])
    assert code == 0 and '1 frames skipped' in stdout
    assert all(os.stat(p).st_mtime_ns == before[p] for p in paths[1:])


def test_cityscapes_missing_gtfine(tmp_path):
    root = make_cityscapes(str(tmp_path / 'raw'), train=['aachen_000000_000019'], val=[], h=64, w=128)
    shutil.rmtree(os.path.join(root, 'gtFine'))
    code, _, err = run('prepare_cityscapes', ['--cityscapes_root', root, '--out_root', tmp_path / 'out'])
    assert code == 2
    assert err.startswith('error: ') and 'gtFine/' in err and 'Traceback' not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / 'out').exists()


def test_cityscapes_missing_label_file(tmp_path):
    root = make_cityscapes(str(tmp_path / 'raw'), train=CITY_TRAIN, val=['frankfurt_000000_000294'], h=64, w=128)
    missing = os.path.join(root, 'gtFine', 'train', 'bochum', CITY_TRAIN[1] + '_gtFine_labelIds.png')
    os.remove(missing)
    code, _, err = run('prepare_cityscapes', ['--cityscapes_root', root, '--out_root', tmp_path / 'out'])
    assert code == 2 and err.startswith('error: ') and missing in err and 'Traceback' not in err
    assert not (tmp_path / 'out').exists()      # checked before anything is written


def test_cityscapes_corrupt_and_unfit_files(tmp_path):
    root = make_cityscapes(str(tmp_path / 'raw'), train=CITY_TRAIN[:1], val=[], h=64, w=128)
    gt = os.path.join(root, 'gtFine', 'train', 'aachen', CITY_TRAIN[0])
    argv = ['--cityscapes_root', root, '--out_root', tmp_path / 'out', '--splits', 'train']
    with open(gt + '_gtFine_instanceIds.png', 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n not really')
    code, _, err = run('prepare_cityscapes', argv)
    assert code == 2 and 'instanceIds.png' in err and 'not a valid image' in err
    # a 16-bit label file with an id that does not fit the 8-bit label PNG
    label, inst = city_maps(64, 128)
    save_png(inst, gt + '_gtFine_instanceIds.png')
    save_png(np.where(label == 7, 300, label.astype(np.uint16)), gt + '_gtFine_labelIds.png')
    code, _, err = run('prepare_cityscapes', argv)
    assert code == 2 and 'labelIds.png' in err and 'label id 300' in err
    assert not (tmp_path / 'out').exists()      # refused before any file of the frame is written
    # instance ids above 65535 cannot be written as a 16-bit PNG (no PNG input can hold one: the writer)
    from semedit.data.preparation import save_instance16
    from semedit.util.errors import UserError
    with pytest.raises(UserError, match='does not fit a 16-bit PNG'):
        save_instance16(str(tmp_path / 'x.png'), np.full((4, 4), 70000), 'source.png')
    assert not (tmp_path / 'x.png').exists()


# ---- ADE20K --------------------------------------------------------------------------------

ADE = {  # stem -> (scene, (h, w))
    'ADE_train_00000001': ('bedroom', (300, 400)),
    'ADE_train_00000002': ('mountain', (500, 300)),
    'ADE_train_00000003': ('airport_terminal', (256, 320)),
    'ADE_val_00000001': ('bedroom', (384, 512)),
    'ADE_val_00000002': ('mountain', (300, 450)),
    'ADE_val_00000003': ('airport_terminal', (300, 300)),
}


def ade_maps(h, w):
    label = np.zeros((h, w), np.uint8)
    label[:h // 2] = 1                       # wall
    label[h // 2:, : w // 2] = 4             # floor
    label[h // 2:, w // 2:] = 150            # the last id
    label[h // 4:h // 4 + 3] = 8             # a thin band
    inst = np.zeros((h, w, 3), np.uint8)
    inst[h // 2:, w // 2:] = (12, 3, 0)      # R = category, G = instance id
    inst[:h // 4, : w // 3] = (40, 7, 0)
    return label, inst


@pytest.fixture(scope='module')
def ade(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('ade_raw'))
    ade_root, inst_root = os.path.join(root, 'ADEChallengeData2016'), os.path.join(root, 'annotations_instance')
    lines = []
    for stem, (scene, (h, w)) in ADE.items():
        folder = 'training' if '_train_' in stem else 'validation'
        label, inst = ade_maps(h, w)
        img = np.stack([label, np.full_like(label, 90), np.tile(np.arange(w, dtype=np.uint8), (h, 1))], -1)
        os.makedirs(os.path.join(ade_root, 'images', folder), exist_ok=True)
        Image.fromarray(img).save(os.path.join(ade_root, 'images', folder, stem + '.jpg'), quality=95)
        save_png(label, os.path.join(ade_root, 'annotations', folder, stem + '.png'))
        save_png(inst, os.path.join(inst_root, folder, stem + '.png'))
        lines.append(f'{stem} {scene}\n')
    with open(os.path.join(ade_root, 'sceneCategories.txt'), 'w') as f:
        f.writelines(lines)
    return ade_root, inst_root


def test_ade_selects_by_scene_and_resizes(ade, tmp_path):
    ade_root, inst_root = ade
    out = tmp_path / 'out'
    code, stdout, _ = run('prepare_ade20k', ['--ade_root', ade_root, '--instance_root', inst_root, '--out_root', out])
    assert code == 0
    expected = []
    for folder, n in (('ADE20k-room', '1'), ('ADE20k-landscape', '2')):
        for phase, split in (('train', 'train'), ('test', 'val')):
            stem = f'ADE_{split}_0000000{n}'
            expected += [f'{folder}/{phase}/images/{stem}.jpg', f'{folder}/{phase}/labels/{stem}.png',
                         f'{folder}/{phase}/inst_map/{stem}.png']
    assert files_under(out) == sorted(os.path.normpath(p) for p in expected)  # no airport, no temporary files
    sizes = {'ADE20k-room/train': (341, 256), 'ADE20k-landscape/train': (256, 427)}
    for rel in files_under(out):
        img = Image.open(os.path.join(out, rel))
        assert img.size == sizes.get(os.path.dirname(os.path.dirname(rel)), (256, 256)), rel
        assert img.mode == {'labels': 'L', 'inst_map': 'RGB', 'images': 'RGB'}[rel.split(os.sep)[2]], rel
    label_values = set(np.unique(ade_maps(300, 400)[0]))
    g_values = set(np.unique(ade_maps(300, 400)[1][..., 1]))
    for rel in files_under(out):
        a = load(os.path.join(out, rel))
        if '/labels/' in rel:
            assert set(np.unique(a)) <= label_values and 150 in a, rel
        elif '/inst_map/' in rel:
            assert set(np.unique(a[..., 1])) <= g_values and 3 in a[..., 1], rel
    # the bottom-right quarter (id 150, instance 3) survives at the corresponding place
    room = load(os.path.join(out, 'ADE20k-room', 'train', 'labels', 'ADE_train_00000001.png'))
    assert room[200, 300] == 150 and room[50, 50] == 1 and room[200, 50] == 4
    test = load(os.path.join(out, 'ADE20k-room', 'test', 'inst_map', 'ADE_val_00000001.png'))
    assert tuple(test[200, 200]) == (12, 3, 0)
    assert 'ADE20k-room' in stdout and '2,246' in stdout


def test_ade_test_centre_crop(ade, tmp_path):
    ade_root, _ = ade
    out = tmp_path / 'out'
    assert run('prepare_ade20k', ['--ade_root', ade_root, '--out_root', out, '--subsets', 'landscape'])[0] == 0
    # validation mountain: 450x300 -> 384x256 -> columns 64..319 of it
    src = np.asarray(Image.open(os.path.join(ade_root, 'annotations', 'validation', 'ADE_val_00000002.png'))
                     .resize((384, 256), Image.NEAREST))
    got = load(os.path.join(out, 'ADE20k-landscape', 'test', 'labels', 'ADE_val_00000002.png'))
    assert np.array_equal(got, src[:, 64:320])
    assert not os.path.exists(os.path.join(out, 'ADE20k-landscape', 'test', 'inst_map'))


def test_ade_scene_list_and_skip_existing(ade, tmp_path):
    ade_root, _ = ade
    scene_file = tmp_path / 'scenes.txt'
    scene_file.write_text('# my rooms\nairport_terminal\n')
    out = tmp_path / 'out'
    argv = ['--ade_root', ade_root, '--out_root', out, '--subsets', 'room', '--scene_list', scene_file]
    assert run('prepare_ade20k', argv)[0] == 0
    assert sorted(os.listdir(out / 'ADE20k-room' / 'train' / 'images')) == ['ADE_train_00000003.jpg']
    paths = [os.path.join(out, p) for p in files_under(out)]
    before = {p: os.stat(p).st_mtime_ns for p in paths}
    assert run('prepare_ade20k', argv + ['--skip_existing'])[0] == 0
    assert {p: os.stat(p).st_mtime_ns for p in paths} == before


def test_ade_errors(ade, tmp_path):
    ade_root, inst_root = ade
    code, _, err = run('prepare_ade20k', ['--ade_root', tmp_path, '--out_root', tmp_path / 'out'])
    assert code == 2 and err.startswith('error: ') and 'images/' in err
    code, _, err = run('prepare_ade20k', ['--ade_root', ade_root, '--out_root', tmp_path / 'out',
                                          '--instance_root', tmp_path])
    assert code == 2 and 'instance file missing' in err and 'ADE_train_00000001.png' in err
    assert not (tmp_path / 'out').exists()
