"""data/check.py (the dataset checker) with its command line scripts/check_dataset.py, and
data/mask_sets.py with its command line scripts/make_masks.py (deterministic evaluation masks,
masks.json, verifying a copy).

Tiny Cityscapes-format datasets are built in tmp_path: 512×256 and 256×256 JPEG images, 'L' label
PNGs (labelIds) and 16-bit instanceIds PNGs (class·1000+k on a car, class ids elsewhere).
"""
import base64
import copy
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from semedit.data import check
from semedit.data import mask_sets
from semedit.util.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAME = 'cityscapes'          # label_nc 34, Cityscapes instance maps
SKY, ROAD, CAR = 23, 7, 26


# ---- building datasets -----------------------------------------------------------------------

def scene(w, h, seed=0):
    rs = np.random.RandomState(seed)
    image = rs.randint(0, 256, (h, w, 3), dtype=np.uint8)
    label = np.full((h, w), SKY, np.uint8)
    label[h // 2:] = ROAD
    label[h // 2:h // 2 + 40, 30:110] = CAR
    inst = label.astype(np.uint16)
    inst[h // 2:h // 2 + 40, 30:110] = CAR * 1000 + 1
    return image, label, inst


def write_sample(split_dir, stem, w, h, seed=0):
    image, label, inst = scene(w, h, seed)
    for sub in ('images', 'labels', 'inst_map'):
        os.makedirs(os.path.join(split_dir, sub), exist_ok=True)
    Image.fromarray(image).save(os.path.join(split_dir, 'images', stem + '.jpg'), quality=90)
    Image.fromarray(label).save(os.path.join(split_dir, 'labels', stem + '.png'))
    Image.fromarray(inst).save(os.path.join(split_dir, 'inst_map', stem + '.png'))


def make_dataset(tmp_path, train=((512, 256), (256, 256)), test=((256, 256), (256, 256), (256, 256))):
    root = tmp_path / 'data'
    for split, sizes in (('train', train), ('test', test)):
        for k, (w, h) in enumerate(sizes):
            write_sample(str(root / NAME / split), f'{split}_{k:02d}', w, h, seed=k)
    return root


def split_path(root, split, *parts):
    return os.path.join(str(root), NAME, split, *parts)


def check_command(*argv):
    return subprocess.run([sys.executable, 'scripts/check_dataset.py', *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def run_check(root, *extra):
    """(exit status, printed report) of scripts/check_dataset.py on the dataset (train.py's default model)."""
    res = check_command('--dataroot', str(root), '--dataset_name', NAME, *extra)
    assert 'Traceback' not in res.stderr, res.stderr
    return res.returncode, res.stdout


# ---- data/check.py ---------------------------------------------------------------------------

def test_clean_dataset_is_ok(tmp_path):
    root = make_dataset(tmp_path)
    code, out = run_check(root)
    assert code == 0
    last = out.strip().splitlines()[-1]
    assert last.startswith('OK:'), out
    assert not any(line.startswith(('ERROR', 'WARN')) for line in out.splitlines()), out
    assert '== train ==' in out and '== test ==' in out
    assert '512x256: 1' in out and 'images with instances: 2 of 2' in out
    res = check.check_dataset(str(root), NAME)
    assert res['ok'] and res['errors'] == [] and res['stats']['test']['images'] == 3
    assert set(res['stats']['train']['label_ids']) == {SKY, ROAD, CAR}
    # fractions rounded to 6 decimals (data/check.py): the sum of k of them is off by ≤ k·5e-7
    fractions = res['stats']['train']['label_ids'].values()
    assert abs(sum(fractions) - 1) <= len(fractions) * 5e-7


def _label_out_of_range(root):
    lab = np.asarray(Image.open(split_path(root, 'train', 'labels', 'train_01.png'))).copy()
    lab[:5, :5] = 200
    Image.fromarray(lab).save(split_path(root, 'train', 'labels', 'train_01.png'))
    return 'labels/train_01.png', ['200', '>= label_nc 34']


def _size_mismatch(root):
    _, label, _ = scene(256, 256)
    Image.fromarray(label).save(split_path(root, 'train', 'labels', 'train_00.png'))  # image is 512×256
    return 'labels/train_00.png', ['size mismatch', '256×256', '512×256']


def _missing_label(root):
    os.remove(split_path(root, 'test', 'labels', 'test_01.png'))
    return 'images/test_01.jpg', ['no label map', 'labels/test_01.png']


def _corrupt_image(root):
    with open(split_path(root, 'test', 'images', 'test_02.jpg'), 'wb') as fh:
        fh.write(b'\xff\xd8 this is not a jpeg')
    return 'images/test_02.jpg', ['cannot read image', 'not a valid image file']


def _rgb_label(root):
    rgb = np.zeros((256, 256, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 128, 64, 128      # Cityscapes' colour of "road"
    Image.fromarray(rgb).save(split_path(root, 'test', 'labels', 'test_00.png'))
    return 'labels/test_00.png', ['colour (RGB)']


def _bad_instance_class(root):
    inst = np.asarray(Image.open(split_path(root, 'train', 'inst_map', 'train_01.png'))).astype(np.uint16)
    inst[0:10, 0:10] = 40001                                   # class 40 >= label_nc 34
    Image.fromarray(inst).save(split_path(root, 'train', 'inst_map', 'train_01.png'))
    return 'inst_map/train_01.png', ['40001', 'id // 1000']


def _small_train_image(root):
    write_sample(split_path(root, 'train'), 'train_02', 200, 180)
    return 'images/train_02.jpg', ['200×180', 'smaller than the 256×256 training crop']


def _orphan_label(root):
    _, label, _ = scene(256, 256)
    Image.fromarray(label).save(split_path(root, 'test', 'labels', 'zz_orphan.png'))
    return 'labels/zz_orphan.png', ['has no image']


@pytest.mark.parametrize('defect, level, check_name', [
    (_label_out_of_range, 'ERROR', 'label_id_range'),
    (_size_mismatch, 'ERROR', 'size_mismatch'),
    (_missing_label, 'ERROR', 'label_missing'),
    (_corrupt_image, 'ERROR', 'image_unreadable'),
    (_rgb_label, 'ERROR', 'label_colour'),
    (_bad_instance_class, 'ERROR', 'instance_class'),
    (_small_train_image, 'WARN', 'train_too_small'),
    (_orphan_label, 'WARN', 'orphan_labels'),
])
def test_defects_are_reported(tmp_path, defect, level, check_name):
    root = make_dataset(tmp_path)
    file, words = defect(root)
    res = check.check_dataset(str(root), NAME)
    found = res['errors'] + res['warnings'] + res['info']
    assert len(found) == 1, found           # exactly this defect, nothing else
    f = found[0]
    assert (f['level'], f['check'], f['file']) == (level, check_name, file)
    for w in words:
        assert w in f['message'], (w, f['message'])

    out = check.format_report(res)   # what the command line prints
    lines = [ln for ln in out.splitlines() if ln.startswith(level)]
    assert len(lines) == 1 and file in lines[0], out
    last = out.strip().splitlines()[-1]
    if level == 'ERROR':
        assert not res['ok'] and last == 'FAILED: 1 error, 0 warnings', out
    else:
        assert res['ok'] and last.startswith('OK:') and '1 warning' in last, out


def test_masks_too_few_and_wrong_size(tmp_path):
    root = make_dataset(tmp_path)
    mdir = tmp_path / 'masks'
    mask_sets.make_masks(str(mdir), count=2, size='256', quiet=True)
    code, out = run_check(root, '--mask_dir', str(mdir))
    assert code == 1
    assert 'ERROR' in out and 'has 2 mask(s) but the test split has 3 image(s)' in out
    assert '== masks (' in out

    mask_sets.make_masks(str(mdir), count=3, size='512x256', quiet=True, overwrite=True)
    res = check.check_dataset(str(root), NAME, mask_dir=str(mdir))
    assert [(e['check'], e['file']) for e in res['errors']] == [('mask_size', f'000{i}.png') for i in range(3)]
    assert '512×256' in res['errors'][0]['message']

    mask_sets.make_masks(str(mdir), count=4, size='256', quiet=True, overwrite=True)
    res = check.check_dataset(str(root), NAME, mask_dir=str(mdir))
    assert res['ok'] and [i['check'] for i in res['info']] == ['masks_extra']
    assert res['stats']['masks']['checked'] == 3


def test_test_sizes_info_max_files_and_json(tmp_path):
    root = make_dataset(tmp_path, test=((256, 256), (300, 256), (300, 256)))
    jpath = tmp_path / 'out' / 'report.json'
    code, out = run_check(root, '--json', str(jpath))
    assert code == 0
    info = [ln for ln in out.splitlines() if ln.startswith('INFO')]
    assert len(info) == 1 and '2 test image(s) are 300×256' in info[0] and 'test.py resizes' in info[0]
    data = json.loads(jpath.read_text())
    assert data['ok'] is True and data['settings']['label_nc'] == 34
    assert data['info'][0]['check'] == 'test_size' and data['stats']['test']['sizes'] == {'300x256': 2, '256x256': 1}

    _corrupt_image(root)                    # test_02: the last one, not seen with --max_files 2
    code, out = run_check(root, '--max_files', '2', '--splits', 'test')
    assert code == 0 and 'stats: 3 images, 2 checked' in out and '== train ==' not in out
    code, out = run_check(root, '--splits', 'test', '--json', str(jpath))
    assert code == 1
    data = json.loads(jpath.read_text())
    assert data['ok'] is False and data['errors'][0]['file'] == 'images/test_02.jpg'


def test_bad_use_exits_2_with_one_line(tmp_path):
    for argv, said in ((['--dataset_name', NAME], 'error: dataset folder not found'),
                       (['--dataset_name', 'custom'], '--label_nc'),
                       (['--dataset_name', NAME, '--model', 'nonesuch'], 'unknown --model')):
        r = check_command('--dataroot', str(tmp_path), *argv)
        assert r.returncode == 2 and r.stderr.startswith('error:') and said in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and 'Traceback' not in r.stderr


def test_custom_dataset_kinds(tmp_path):
    root = make_dataset(tmp_path)
    os.rename(root / NAME, root / 'custom')
    res = check.check_dataset(str(root), 'custom', label_nc=34)          # instance maps not read
    assert res['ok'] and res['settings']['instance_kind'] == 'none'
    assert res['stats']['train']['images_with_instances'] is None
    res = check.check_dataset(str(root), 'custom', label_nc=34, instance_format='ade')   # 16-bit, not RGB
    assert not res['ok'] and {e['check'] for e in res['errors']} == {'instance_format'}
    res = check.check_dataset(str(root), 'custom', label_nc=20)
    assert {e['check'] for e in res['errors']} == {'label_id_range'}
    assert res['stats']['train']['out_of_range_ids'] == {SKY: 2, CAR: 2}


# ---- data/mask_sets.py, scripts/make_masks.py ------------------------------------------------

def read_png(path):
    im = Image.open(path)
    assert im.mode == 'L'
    return np.asarray(im)


def files_of(folder):
    return sorted(f for f in os.listdir(folder) if f.endswith('.png'))


def make_masks_cli(*argv):
    """scripts/make_masks.py as a user runs it."""
    return subprocess.run([sys.executable, 'scripts/make_masks.py', *map(str, argv)], cwd=ROOT,
                          capture_output=True, text=True)


def assert_one_line_error(r, *words):
    assert r.returncode == 2 and 'Traceback' not in r.stderr, r.stderr
    err = r.stderr.strip()
    assert err.startswith('error:') and '\n' not in err, err
    for w in words:
        assert w in err, (w, err)


def test_masks_are_deterministic_and_seeded(tmp_path):
    a, b, c = tmp_path / 'a', tmp_path / 'b', tmp_path / 'c'
    r = make_masks_cli('--out_dir', a, '--count', 12)
    assert r.returncode == 0, r.stderr
    assert 'brush' in r.stdout and 'box' in r.stdout and 'mean %' in r.stdout
    mask_sets.make_masks(str(b), count=12, quiet=True)
    mask_sets.make_masks(str(c), count=12, seed=1, quiet=True)
    names = files_of(a)
    assert names == [f'{i:04d}.png' for i in range(12)] == files_of(b)
    for n in names:                     # the pixels are what is reproducible, not the PNG bytes
        np.testing.assert_array_equal(read_png(a / n), read_png(b / n))
    assert (a / 'masks.json').read_bytes() == (b / 'masks.json').read_bytes()
    meta = json.loads((a / 'masks.json').read_text())
    differ = [n for n in names if not np.array_equal(read_png(a / n), read_png(c / n))]
    fams = {m['file']: m['family'] for m in meta['masks']}
    assert {fams[n] for n in differ} == {'brush', 'outpainting', 'box'}   # right_half has no randomness
    # a prefix of a larger set is the smaller set
    mask_sets.make_masks(str(tmp_path / 'd'), count=5, quiet=True)
    for n in files_of(tmp_path / 'd'):
        np.testing.assert_array_equal(read_png(a / n), read_png(tmp_path / 'd' / n))


# ---- masks.json: pixel hashes, verifying a copy ------------------------------------------------

def rewrite_png(path, pixels, **save_options):
    Image.fromarray(pixels).save(path, format='PNG', **save_options)


def flip_one_pixel(path):
    pixels = read_png(path).copy()
    pixels[3, 5] = 255 - pixels[3, 5]
    rewrite_png(path, pixels)


def test_new_set_records_pixel_hashes_that_verify(tmp_path):
    out = tmp_path / 'm'
    meta = mask_sets.make_masks(str(out), count=6, size='64', quiet=True)
    assert meta['format'] == 2 and 'H W uint8' in meta['pixels_sha256']
    for rec in meta['masks']:
        assert 'sha256' not in rec
        pixels = read_png(out / rec['file'])
        header = f'{pixels.shape[0]} {pixels.shape[1]} uint8\n'.encode('ascii')
        assert rec['pixels_sha256'] == hashlib.sha256(header + pixels.tobytes()).hexdigest()
    assert mask_sets.verify_mask_set(str(out)) == json.loads((out / 'masks.json').read_text())
    r = make_masks_cli('--verify', out)
    assert r.returncode == 0 and r.stdout.strip() == f'OK: the 6 masks in {out} match its masks.json (format 2)'


def test_changed_pixels_fail_verification_recompression_does_not(tmp_path):
    out = tmp_path / 'm'
    mask_sets.make_masks(str(out), count=6, size='64', quiet=True)
    for name in files_of(out):          # same pixels, other bytes: still the same set
        before = (out / name).read_bytes()
        rewrite_png(out / name, read_png(out / name), compress_level=0)
        assert (out / name).read_bytes() != before
    mask_sets.verify_mask_set(str(out))

    flip_one_pixel(out / '0002.png')
    with pytest.raises(UserError, match=r'0002\.png: pixels differ from masks\.json \(pixels_sha256\)'):
        mask_sets.verify_mask_set(str(out))
    assert_one_line_error(make_masks_cli('--verify', out), '1 problem(s)', '0002.png: pixels differ')

    os.remove(out / '0004.png')
    rewrite_png(out / '0009.png', read_png(out / '0001.png'))  # the loader would pair it with a test image
    Image.fromarray(read_png(out / '0003.png')).convert('RGB').save(out / '0003.png')
    with pytest.raises(UserError) as e:
        mask_sets.verify_mask_set(str(out))
    for words in ('4 problem(s)', '0002.png: pixels differ', '0003.png is not an 8-bit greyscale image',
                  '0004.png is missing', '0009.png is not listed in masks.json'):
        assert words in str(e.value), (words, str(e.value))


# masks.json as data/mask_sets.py wrote it before its PNGs came from Pillow (format 1; this one for
# --count 2 --size 64): the same keys as today, except that each record held 'sha256', the sha256 of
# the file's bytes (written by a hand-written encoder), where today's hold 'pixels_sha256', and
# there was no top-level 'pixels_sha256'. OLD_PNGS are those two files.
OLD_MASKS_JSON = {
    'format': 1,
    'args': {'count': 2, 'size': '64x64', 'seed': 0, 'mix': ['brush', 'right_half', 'outpainting', 'box'],
             'dataroot': None, 'dataset_name': None, 'label_nc': None, 'instance_format': None,
             'inclusive_box': False},
    'convention': '8-bit greyscale PNG, 255 = edited, 0 = known; file i pairs with test image i (sorted)',
    'seeding': 'mask i: random.Random(a), np.random.RandomState(b), (a, b) = '
               'np.random.SeedSequence([seed, i]).generate_state(2)',
    'families': {'box': 'area a~U(0.1,0.5); rho=exp(U(-ln 2, ln 2)); bh=round(H*sqrt(a/rho)); '
                        'bw=round(a*H*W/bh) nudged into the coverage range; top~randint(0,H-bh), '
                        'left~randint(0,W-bw)'},
    'software': {'python': '3.11.7', 'numpy': '2.4.6', 'pillow': '13.0.0'},
    'summary': {'brush': {'count': 1, 'mean': 0.245117, 'min': 0.245117, 'max': 0.245117},
                'right_half': {'count': 1, 'mean': 0.5, 'min': 0.5, 'max': 0.5}},
    'masks': [{'file': '0000.png', 'family': 'brush', 'coverage': 0.245117, 'width': 64, 'height': 64,
               'sha256': 'c280680ad34037576e9de72d51a380710eaa384ed7645bc8fec90160ca3a5ab7'},
              {'file': '0001.png', 'family': 'right_half', 'coverage': 0.5, 'width': 64, 'height': 64,
               'sha256': '73edbc0334968e0623733ba7e9df532b9fe36aa5ced000ba66e21335e2f05635'}],
}
OLD_PNGS = {name: base64.b64decode(data) for name, data in {
    '0000.png': 'iVBORw0KGgoAAAANSUhEUgAAAEAAAABACAAAAACPAi4CAAAAy0lEQVR4AWMYBaNgFIyCUTAKRsEoIBv8RwYMJIP/6ICBJPAfG2Ag'
                'HvzHDhiIBf9xAQbiwH/cgIEo8B83YCAG/McHGIgA//ECBoLgPwHAQAj8JwAYCIH/BAADAfCfEGAgAP4TAgwEwH9CgIEA+E8IMOAH'
                '/wkCBvzgP0HAgB/8JwgY8IP/BAEDXvCfMGDAC/4TBgx4wX/CgAEv+E8YMOAD/4kADPjAfyIAAz7wnwjAgA/8JwIw4AP/iQAM+MB/'
                'IgADPvCfCMCAD/wnAgAAqEfoQmPZZUYAAAAASUVORK5CYII=',
    '0001.png': 'iVBORw0KGgoAAAANSUhEUgAAAEAAAABACAAAAACPAi4CAAABcElEQVR4AWMgBP4TAAyEwH8CgIEQ+E8AMBAC/wkABkLgPwHAQAj8'
                'JwAYCIH/BAADIfCfAGAgBP4TAAyEwH8CgIEQ+E8AMBAC/wkABkLgPwHAQAj8JwAYCIH/BAADIfCfAGAgBP4TAAyEwH8CgIEQ+E8A'
                'MBAC/wkABkLgPwHAQAj8JwAYCIH/BAADIfCfAGAgBP4TAAyEwH8CgIEQ+E8AMBAC/wkABkLgPwHAQAj8JwAYCIH/BAADIfCfAGAg'
                'BP4TAAyEwH8CgIEQ+E8AMBAC/wkABkLgPwHAQAj8JwAYCIH/BAADIfCfAGAgBP4TAAyEwH8CgIEQ+E8AMBAC/wkABkLgPwHAQAj8'
                'JwAYCIH/BAADIfCfAGAgBP4TAAyEwH8CgIEQ+E8AMBAC/wkABkLgPwHAQAj8JwAYCIH/BAADIfCfAGAgBP4TAAyEwH8CgIEQ+E8A'
                'MBAC/wkABkLgPwHAQAj8JwAYCIH/BAADIfCfAAAAVC34ahH+bwYAAAAASUVORK5CYII=',
}.items()}


def write_old_masks_json(folder, meta):
    (folder / 'masks.json').write_text(json.dumps(meta, indent=1) + '\n')


def test_old_format_masks_json_has_todays_layout_but_the_hash(tmp_path):
    """OLD_MASKS_JSON is what the old code wrote for this set: the arguments, summary and records
    agree with today's, and only the hash differs."""
    meta = mask_sets.make_masks(str(tmp_path / 'm'), count=2, size='64', quiet=True)
    without_hashes = copy.deepcopy(OLD_MASKS_JSON)
    for rec in without_hashes['masks'] + meta['masks']:
        rec.pop('sha256', None)
        rec.pop('pixels_sha256', None)
    for key in ('args', 'convention', 'seeding', 'families', 'summary', 'masks'):
        assert meta[key] == without_hashes[key], key
    assert set(meta) == set(OLD_MASKS_JSON) | {'pixels_sha256'}
    assert set(meta['software']) == set(OLD_MASKS_JSON['software'])


def test_a_set_of_the_old_encoder_still_verifies(tmp_path):
    out = tmp_path / 'old'
    out.mkdir()
    for name, data in OLD_PNGS.items():
        (out / name).write_bytes(data)
    write_old_masks_json(out, OLD_MASKS_JSON)
    assert mask_sets.verify_mask_set(str(out))['format'] == 1
    r = make_masks_cli('--verify', out)
    assert r.returncode == 0 and 'format 1' in r.stdout, r.stderr
    # its right_half mask holds the pixels that today's code writes (the brush's depend on Pillow's rasteriser)
    new = tmp_path / 'new'
    meta = mask_sets.make_masks(str(new), count=2, size='64', quiet=True)
    np.testing.assert_array_equal(read_png(out / '0001.png'), read_png(new / '0001.png'))
    assert mask_sets.pixels_sha256(read_png(out / '0001.png')) == meta['masks'][1]['pixels_sha256']


def test_old_format_set_verifies_by_file_bytes(tmp_path):
    """An old set whose files Pillow wrote: masks.json in the old layout, the hashes of these files' bytes."""
    out = tmp_path / 'm'
    mask_sets.make_masks(str(out), count=2, size='64', quiet=True)
    old = copy.deepcopy(OLD_MASKS_JSON)
    for rec in old['masks']:
        rec['sha256'] = hashlib.sha256((out / rec['file']).read_bytes()).hexdigest()
    write_old_masks_json(out, old)
    assert mask_sets.verify_mask_set(str(out))['format'] == 1

    flip_one_pixel(out / '0001.png')
    with pytest.raises(UserError, match=r'0001\.png: file bytes differ from masks\.json \(sha256\)'):
        mask_sets.verify_mask_set(str(out))
    assert_one_line_error(make_masks_cli('--verify', out), '0001.png: file bytes differ')


def test_verify_refuses_what_is_not_a_mask_set(tmp_path):
    with pytest.raises(UserError, match='masks.json not found'):
        mask_sets.verify_mask_set(str(tmp_path))
    write_old_masks_json(tmp_path, {**OLD_MASKS_JSON, 'format': 3})
    with pytest.raises(UserError, match='has format 3; this version reads formats 1, 2'):
        mask_sets.verify_mask_set(str(tmp_path))


def test_mask_families_and_metadata(tmp_path):
    out = tmp_path / 'm'
    meta = mask_sets.make_masks(str(out), count=40, quiet=True)
    mix = ['brush', 'right_half', 'outpainting', 'box']
    on_disk = json.loads((out / 'masks.json').read_text())
    assert on_disk == json.loads(json.dumps(meta))
    assert on_disk['args']['seed'] == 0 and on_disk['args']['mix'] == mix
    assert [m['family'] for m in on_disk['masks']] == [mix[i % 4] for i in range(40)]
    assert {k: v['count'] for k, v in on_disk['summary'].items()} == {f: 10 for f in mix}
    for i, rec in enumerate(on_disk['masks']):
        m = read_png(out / rec['file'])
        assert m.shape == (256, 256) and set(np.unique(m).tolist()) <= {0, 255}
        assert abs(rec['coverage'] - (m > 0).mean()) <= 5e-7  # the JSON rounds to 6 decimals
        if rec['family'] == 'right_half':
            assert (m[:, 128:] == 255).all() and (m[:, :128] == 0).all()
        elif rec['family'] == 'outpainting':
            ys, xs = np.nonzero(m == 0)
            assert ys.size == 128 * 128 and np.ptp(ys) == 127 and np.ptp(xs) == 127
            assert 32 <= ys.min() <= 96 and 32 <= xs.min() <= 96
        elif rec['family'] == 'box':
            ys, xs = np.nonzero(m)
            assert ys.size == (np.ptp(ys) + 1) * (np.ptp(xs) + 1)           # one filled rectangle
            assert 0.10 <= rec['coverage'] <= 0.50


def test_box_coverage_range_and_nonsquare(tmp_path):
    meta = mask_sets.make_masks(str(tmp_path / 'box'), count=150, size='96x64', mix='box', quiet=True)
    cov = [m['coverage'] for m in meta['masks']]
    assert min(cov) >= 0.10 and max(cov) <= 0.50 and max(cov) - min(cov) > 0.3
    out = tmp_path / 'wide'
    mask_sets.make_masks(str(out), count=4, size='512x256', quiet=True)
    for i, n in enumerate(files_of(out)):
        im = Image.open(out / n)
        assert im.size == (512, 256) and im.mode == 'L'
        m = np.asarray(im)
        if i == 1:
            assert (m[:, 256:] == 255).all() and (m[:, :256] == 0).all()
        if i == 2:
            ys, xs = np.nonzero(m == 0)
            assert np.ptp(ys) + 1 == 128 and np.ptp(xs) + 1 == 256 and ys.size == 128 * 256


def test_refuses_non_empty_folder(tmp_path):
    out = tmp_path / 'm'
    out.mkdir()
    (out / 'notes.txt').write_text('keep me')
    assert_one_line_error(make_masks_cli('--out_dir', out, '--count', 3), 'not empty')
    assert os.listdir(out) == ['notes.txt']
    mask_sets.make_masks(str(out), count=6, overwrite=True, quiet=True)
    mask_sets.make_masks(str(out), count=3, overwrite=True, quiet=True)
    assert sorted(os.listdir(out)) == ['0000.png', '0001.png', '0002.png', 'masks.json', 'notes.txt']
    for bad_use in ({'mix': 'class'}, {'size': '300x'}, {'mix': 'brush,blob'}):
        with pytest.raises(UserError):
            mask_sets.make_masks(str(tmp_path / 'x'), count=2, quiet=True, **bad_use)
    assert not (tmp_path / 'x').exists()


def test_loader_pairs_the_masks(tmp_path):
    from semedit.data.scene_dataset import CityscapesDataset
    root = make_dataset(tmp_path)
    mdir = tmp_path / 'masks'
    mask_sets.make_masks(str(mdir), count=4, quiet=True)
    from semedit.options import default_options
    opt = default_options(False, dataroot=str(root), dataset_name=NAME, label_nc=34, mask_dir=str(mdir))
    ds = CityscapesDataset(opt, 'test')
    assert len(ds) == 3
    for i in range(3):
        expected = read_png(mdir / f'{i:04d}.png').astype(np.float32) / 255
        np.testing.assert_array_equal(ds.load_sample(i)['mask'], expected)
    few = tmp_path / 'few'
    mask_sets.make_masks(str(few), count=2, quiet=True)
    opt.mask_dir = str(few)
    with pytest.raises(UserError, match='has 2 masks but the test split has 3 images'):
        CityscapesDataset(opt, 'test')


def test_label_families_from_the_test_split(tmp_path):
    root = make_dataset(tmp_path, test=((256, 256), (512, 256), (256, 256)))
    out = tmp_path / 'm'
    meta = mask_sets.make_masks(str(out), dataroot=str(root), dataset_name=NAME,
                                 mix='class,instance_box,box', quiet=True)
    assert len(meta['masks']) == 3                                  # count = number of test images
    assert [m['image'] for m in meta['masks']] == ['test_00.jpg', 'test_01.jpg', 'test_02.jpg']
    m0, m1, m2 = (read_png(out / f'{i:04d}.png') for i in range(3))
    _, label0, _ = scene(256, 256)
    assert any(np.array_equal(m0 > 0, label0 == c) for c in (SKY, ROAD, CAR))
    assert m1.shape == (256, 512)
    ys, xs = np.nonzero(m1)                                          # car box, end-exclusive
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (128, 166, 30, 108)
    assert m2.shape == (256, 256) and 0.10 <= meta['masks'][2]['coverage'] <= 0.50
    with pytest.raises(UserError, match='--size'):
        mask_sets.make_masks(str(tmp_path / 'n'), size='256', dataroot=str(root), dataset_name=NAME)
    with pytest.raises(UserError, match='only 3 images'):
        mask_sets.make_masks(str(tmp_path / 'n'), count=5, dataroot=str(root), dataset_name=NAME)
