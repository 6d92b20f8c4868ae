"""The procedural Cityscapes-format demo dataset (data/demo.py)."""
import json
import os

import numpy as np
import pytest
from PIL import Image

import semedit.data.demo as demo
from semedit.data.demo import (DEMO_CLASSES, ensure_demo_dataset, generate_demo_dataset,
                       generate_demo_sample)

N_TRAIN, N_TEST = 2, 1  # the fewest that still give both splits, their sizes and several objects
STUFF = {DEMO_CLASSES[k] for k in ('road', 'sidewalk', 'building', 'vegetation', 'sky')}
THINGS = {DEMO_CLASSES['person'], DEMO_CLASSES['car']}
SIZES = {'train': (512, 256), 'test': (256, 256)}  # PIL (W, H)
COUNTS = {'train': N_TRAIN, 'test': N_TEST}


def _files(path):
    """Relative path -> bytes of every file under ``path``."""
    out = {}
    for d, _, names in os.walk(path):
        for n in names:
            p = os.path.join(d, n)
            with open(p, 'rb') as f:
                out[os.path.relpath(p, path)] = f.read()
    return out


def _mtimes(path):
    return {os.path.join(d, n): os.stat(os.path.join(d, n)).st_mtime_ns
            for d, _, names in os.walk(path) for n in names}


def _samples(path, split):
    for i in range(COUNTS[split]):
        stem = f'demo_{i:05d}'
        yield (os.path.join(path, split, 'images', stem + '.jpg'),
               os.path.join(path, split, 'labels', stem + '.png'),
               os.path.join(path, split, 'inst_map', stem + '.png'))


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo_root') / 'not_yet_created'
    path = generate_demo_dataset(root, num_train=N_TRAIN, num_test=N_TEST, seed=0)
    return root, path


def test_layout_and_counts(dataset):
    root, path = dataset
    assert path == os.path.join(str(root), 'demo')
    assert sorted(os.listdir(root)) == ['demo']  # no temporary directories left behind
    assert sorted(os.listdir(path)) == ['.complete', 'test', 'train']
    for split, n in COUNTS.items():
        stems = [f'demo_{i:05d}' for i in range(n)]
        high_res = ['images2048'] if split == 'train' else []  # SIEDOB's full-resolution copies
        assert sorted(os.listdir(os.path.join(path, split))) == ['images'] + high_res + ['inst_map', 'labels']
        if high_res:
            assert sorted(os.listdir(os.path.join(path, split, 'images2048'))) == [s + '.jpg' for s in stems]
        assert sorted(os.listdir(os.path.join(path, split, 'images'))) == [s + '.jpg' for s in stems]
        assert sorted(os.listdir(os.path.join(path, split, 'labels'))) == [s + '.png' for s in stems]
        assert sorted(os.listdir(os.path.join(path, split, 'inst_map'))) == [s + '.png' for s in stems]
    with open(os.path.join(path, '.complete')) as f:
        marker = json.load(f)
    assert (marker['num_train'], marker['num_test'], marker['seed']) == (N_TRAIN, N_TEST, 0)


def test_high_res_copies_are_aligned_4x(dataset):
    _, path = dataset
    small = np.asarray(Image.open(os.path.join(path, 'train', 'images', 'demo_00000.jpg')), np.float32)
    big = Image.open(os.path.join(path, 'train', 'images2048', 'demo_00000.jpg'))
    assert big.size == (2048, 1024) and big.mode == 'RGB'
    # 4×4 block means of the copy are the image again, up to JPEG and bicubic error (2-3 grey levels)
    blocks = np.asarray(big, np.float32).reshape(256, 4, 512, 4, 3).mean((1, 3))
    assert np.abs(blocks - small).mean() < 4


@pytest.mark.parametrize('split', ['train', 'test'])
def test_sizes_and_formats(dataset, split):
    _, path = dataset
    for img_p, lab_p, inst_p in _samples(path, split):
        with Image.open(img_p) as im:
            assert (im.format, im.mode, im.size) == ('JPEG', 'RGB', SIZES[split])
        with Image.open(lab_p) as lab:
            assert (lab.format, lab.mode, lab.size) == ('PNG', 'L', SIZES[split])
        with Image.open(inst_p) as inst:
            assert inst.format == 'PNG' and inst.size == SIZES[split]
            assert inst.mode in ('I', 'I;16', 'I;16B')
        with open(inst_p, 'rb') as f:
            head = f.read(26)
        assert head[12:16] == b'IHDR'
        assert (head[24], head[25]) == (16, 0)  # 16-bit depth, greyscale colour type


@pytest.mark.parametrize('split', ['train', 'test'])
def test_labels_and_instances(dataset, split):
    _, path = dataset
    n_cars = []
    for _, lab_p, inst_p in _samples(path, split):
        label = np.array(Image.open(lab_p))
        inst = np.array(Image.open(inst_p)).astype(np.int32)
        assert label.dtype == np.uint8 and label.shape == inst.shape
        values = set(np.unique(label).tolist())
        assert values <= set(DEMO_CLASSES.values())
        assert STUFF <= values  # every image has road, sidewalk, building, vegetation, sky

        stuff_px = inst < 1000
        assert np.array_equal(inst[stuff_px], label[stuff_px].astype(np.int32))
        assert set(np.unique(label[stuff_px]).tolist()) <= STUFF
        thing_px = ~stuff_px
        assert np.array_equal(inst[thing_px] // 1000, label[thing_px].astype(np.int32))
        assert set(np.unique(label[thing_px]).tolist()) <= THINGS
        assert not np.isin(label[stuff_px], list(THINGS)).any()  # no person/car pixel without an instance
        for cls in THINGS:  # k = 0, 1, 2, ... per class
            ks = sorted(v - cls * 1000 for v in np.unique(inst) if v // 1000 == cls)
            assert ks == list(range(len(ks)))
        n_cars.append(int((np.unique(inst) // 1000 == DEMO_CLASSES['car']).sum()))
    assert all(1 <= n <= 4 for n in n_cars)


def test_dataset_is_deterministic(dataset, tmp_path, capsys):
    _, path = dataset
    other = generate_demo_dataset(tmp_path / 'again', num_train=N_TRAIN, num_test=N_TEST, seed=0)
    a, b = _files(path), _files(other)
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name] == b[name], name
    assert f'Generating the demo dataset ({N_TRAIN} train / {N_TEST} test)' in capsys.readouterr().out


def test_sample_determinism_and_variety():
    state = np.random.get_state()
    a = generate_demo_sample(7, 256, 512)
    b = generate_demo_sample(7, 256, 512)
    c = generate_demo_sample(8, 256, 512)
    assert np.array_equal(np.random.get_state()[1], state[1])  # the global RNG is untouched
    for x, y in zip(a, b):
        assert np.array_equal(x, y)
    assert not np.array_equal(a[1], c[1])  # a different seed gives a different layout
    image, label, inst = a
    assert image.shape == (256, 512, 3) and image.dtype == np.uint8
    assert label.shape == (256, 512) and label.dtype == np.uint8
    assert inst.shape == (256, 512) and inst.dtype == np.int32
    # train and test samples of the same index come from different streams
    _, lab_train, _ = generate_demo_sample((0, 0, 0), 256, 256)
    _, lab_test, _ = generate_demo_sample((0, 1, 0), 256, 256)
    assert not np.array_equal(lab_train, lab_test)


def test_class_colours_are_separable(dataset):
    """What makes the demo learnable: each class has its own colour, as read back from the JPEGs."""
    _, path = dataset
    pix = {c: [] for c in DEMO_CLASSES.values()}
    for split in ('train', 'test'):
        for img_p, lab_p, _ in _samples(path, split):
            img = np.array(Image.open(img_p).convert('RGB')).astype(np.float64)
            label = np.array(Image.open(lab_p))
            for c in pix:
                pix[c].append(img[label == c])
    mean = {c: np.concatenate(v).mean(0) for c, v in pix.items()}
    sky, road, veg = mean[DEMO_CLASSES['sky']], mean[DEMO_CLASSES['road']], mean[DEMO_CLASSES['vegetation']]
    building, sidewalk = mean[DEMO_CLASSES['building']], mean[DEMO_CLASSES['sidewalk']]
    car = mean[DEMO_CLASSES['car']]

    def blueness(rgb):
        return rgb[2] - rgb[0]

    def greenness(rgb):
        return rgb[1] - (rgb[0] + rgb[2]) / 2

    assert blueness(sky) > blueness(road) + 40
    assert greenness(veg) > greenness(building) + 30
    assert sidewalk.mean() > road.mean() + 50  # light paving vs dark asphalt
    assert sky.mean() > road.mean() + 40
    assert np.ptp(car) > 40  # car bodies are saturated, unlike grey road / sidewalk
    # every pair of stuff classes is far apart in mean colour
    stuff = sorted(STUFF)
    for i, a in enumerate(stuff):
        for b in stuff[i + 1:]:
            assert np.linalg.norm(mean[a] - mean[b]) > 25, (a, b)


def test_ensure_is_noop_then_regenerates_without_marker(tmp_path, capsys):
    kw = dict(num_train=2, num_test=1, seed=3)
    path = ensure_demo_dataset(tmp_path, **kw)
    assert path == os.path.join(str(tmp_path), 'demo')
    assert 'Generating the demo dataset' in capsys.readouterr().out
    before = _mtimes(path)
    content = _files(path)

    assert ensure_demo_dataset(tmp_path, **kw) == path
    assert capsys.readouterr().out == ''  # silent when already present
    assert _mtimes(path) == before

    os.remove(os.path.join(path, '.complete'))  # looks like an interrupted copy
    assert ensure_demo_dataset(tmp_path, **kw) == path
    assert 'Generating the demo dataset' in capsys.readouterr().out
    assert os.path.isfile(os.path.join(path, '.complete'))
    assert _files(path) == content  # same parameters -> same bytes
    assert sorted(os.listdir(tmp_path)) == ['demo']

    # different parameters -> regenerated to match
    ensure_demo_dataset(tmp_path, num_train=3, num_test=1, seed=3)
    assert 'Generating' in capsys.readouterr().out
    assert len(os.listdir(os.path.join(path, 'train', 'images'))) == 3
    # a missing file also counts as incomplete
    os.remove(os.path.join(path, 'test', 'labels', 'demo_00000.png'))
    ensure_demo_dataset(tmp_path, num_train=3, num_test=1, seed=3)
    assert os.path.isfile(os.path.join(path, 'test', 'labels', 'demo_00000.png'))


def test_overwrite_flag(tmp_path, capsys):
    generate_demo_dataset(tmp_path, num_train=1, num_test=1)
    with pytest.raises(FileExistsError):
        generate_demo_dataset(tmp_path, num_train=1, num_test=1)
    generate_demo_dataset(tmp_path, num_train=2, num_test=1, overwrite=True)
    assert len(os.listdir(tmp_path / 'demo' / 'train' / 'labels')) == 2
    assert sorted(os.listdir(tmp_path)) == ['demo']


def test_interrupted_generation_leaves_nothing_that_looks_complete(tmp_path, monkeypatch, capsys):
    kw = dict(num_train=2, num_test=1, seed=0)
    path = ensure_demo_dataset(tmp_path, **kw)
    good = _files(path)
    real = demo.generate_demo_sample
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) > 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(demo, 'generate_demo_sample', flaky)
    # a failed regeneration keeps the previous complete copy untouched ...
    with pytest.raises(KeyboardInterrupt):
        ensure_demo_dataset(tmp_path, num_train=5, num_test=1, seed=0)
    assert _files(path) == good
    assert sorted(os.listdir(tmp_path)) == ['demo']
    # ... and a failed first generation leaves no dataset at all
    calls.clear()
    fresh = tmp_path / 'fresh'
    with pytest.raises(KeyboardInterrupt):
        ensure_demo_dataset(fresh, **kw)
    assert os.listdir(fresh) == []
    monkeypatch.setattr(demo, 'generate_demo_sample', real)
    assert ensure_demo_dataset(fresh, **kw) == os.path.join(str(fresh), 'demo')
    assert _files(os.path.join(str(fresh), 'demo')) == good


def test_command_line(tmp_path, capsys):
    demo.main(['--root', str(tmp_path), '--num_train', '1', '--num_test', '1'])
    out = capsys.readouterr().out
    assert 'Generating' in out and os.path.join(str(tmp_path), 'demo') in out
    assert ensure_demo_dataset(tmp_path, num_train=1, num_test=1) == os.path.join(str(tmp_path), 'demo')
    assert capsys.readouterr().out == ''
    demo.main(['--root', str(tmp_path), '--num_train', '1', '--num_test', '1', '--if_missing'])
    assert 'Generating' not in capsys.readouterr().out
