"""The Python API (semedit.load, Editor.edit): each input form (path, PIL image, numpy array) gives
test.py's PNG byte for byte, for SPM-PGAN (our file and the authors' layout) and SIEDOB (stand-in
parts in the authors' layout); lists edit as batches; loading and editing write nothing anywhere; bad
inputs raise semedit.InputError naming the argument."""
import io
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import semedit
import test as test_script
from helpers import ROOT, NothingWritten, make_model, one_thread
from semedit.models.legacy import to_upstream
from semedit.util.checkpoint import save_checkpoint

SIZE = 256


def png_bytes(picture):
    buf = io.BytesIO()
    picture.save(buf, format='PNG')
    return buf.getvalue()


def scene_files(folder, seed=0, size=(SIZE, SIZE)):
    """An SPM-PGAN edit's three files (JPEG photo, label ids 0..33, 0/255 mask) and their arrays."""
    rng = np.random.RandomState(seed)
    h, w = size
    label = np.zeros((h, w), np.uint8)
    for k in range(1, 34, 3):
        y, x = rng.randint(0, h - 40), rng.randint(0, w - 40)
        label[y:y + rng.randint(20, 120), x:x + rng.randint(20, 120)] = k
    image = rng.randint(0, 256, (34, 3)).astype(np.uint8)[label]
    mask = np.zeros((h, w), np.uint8)
    mask[h // 4:3 * h // 4, w // 5:4 * w // 5] = 255
    os.makedirs(folder, exist_ok=True)
    paths = {k: os.path.join(folder, f'{k}.{ext}') for k, ext in (('image', 'jpg'), ('label', 'png'), ('mask', 'png'))}
    Image.fromarray(image).save(paths['image'], quality=90)
    Image.fromarray(label).save(paths['label'])
    Image.fromarray(mask).save(paths['mask'])
    return paths


def forms(paths, names=('image', 'label', 'mask')):
    """{form: (image, labels, mask[, instances])} of the same files."""
    pil = [Image.open(paths[n]) for n in names]
    arrays = [np.asarray(pil[0].convert('RGB')), np.asarray(pil[1]).astype(np.int64), np.asarray(pil[2]) > 0]
    arrays += [np.asarray(p).astype(np.int64) for p in pil[3:]]
    return {'path': [paths[n] for n in names], 'pil': pil, 'numpy': arrays}


def png_of_test_py(tmp_path, argv):
    out = tmp_path / 'test_py' / 'edited.png'
    with one_thread():
        test_script.main([*argv, '--output_path', str(out), '--device', 'cpu'])
    return out.read_bytes()


# ---- SPM-PGAN ----------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def spmpgan_files(tmp_path_factory):
    """Our checkpoint of a random ngf-4 SPM-PGAN, the same weights in the authors' layout, one scene."""
    root = tmp_path_factory.mktemp('api')
    ckpt = make_model('spmpgan', is_train=False).checkpoint_state(0, 0, 0)
    ours, authors = str(root / 'latest.pth'), str(root / 'cityscapes.pth')
    save_checkpoint(ckpt, ours)
    torch.save(to_upstream(ckpt), authors)
    return {'ours': ours, 'authors': authors, 'scene': scene_files(str(root / 'scene'))}


@pytest.mark.parametrize('layout', ['ours', 'authors'])
def test_spmpgan_edit_is_test_pys_png_for_every_input_form(spmpgan_files, tmp_path, layout):
    ckpt, scene = spmpgan_files[layout], spmpgan_files['scene']
    want = png_of_test_py(tmp_path, ['--checkpoint', ckpt, '--image_path', scene['image'], '--segmap_path',
                                  scene['label'], '--mask_path', scene['mask'], '--dataset_name', 'cityscapes'])
    editor = semedit.load(ckpt, dataset='cityscapes', device='cpu')
    with one_thread():
        for form, inputs in forms(scene).items():
            out = editor.edit(*inputs)
            assert out.mode == 'RGB' and out.size == (SIZE, SIZE), form
            assert png_bytes(out) == want, form


def test_a_list_edits_as_batches_and_each_as_alone(spmpgan_files, tmp_path):
    """Two scenes of one size and one of another: three pictures in order, each the single edit's
    known pixels exactly and its edited ones within a level (a batch of 2 may sum in another order)."""
    editor = semedit.load(spmpgan_files['ours'], device='cpu')
    scenes = [spmpgan_files['scene'], scene_files(str(tmp_path / 'b'), seed=1),
              scene_files(str(tmp_path / 'c'), seed=2, size=(SIZE, 2 * SIZE))]
    with one_thread():
        outs = editor.edit([s['image'] for s in scenes], [s['label'] for s in scenes], [s['mask'] for s in scenes])
        alone = [editor.edit(s['image'], s['label'], s['mask']) for s in scenes]
    assert [o.size for o in outs] == [(SIZE, SIZE), (SIZE, SIZE), (2 * SIZE, SIZE)]
    for s, o, a in zip(scenes, outs, alone):
        known = np.asarray(Image.open(s['mask'])) == 0
        o, a = np.asarray(o).astype(int), np.asarray(a).astype(int)
        assert np.array_equal(o[known], a[known]) and np.abs(o - a).max() <= 1


def test_loading_and_editing_write_nothing_anywhere(spmpgan_files, tmp_path, monkeypatch):
    """In an empty working folder, HOME and TMPDIR empty folders too: no file appears in any of
    them, in the checkout or beside the checkpoint."""
    for name in ('cwd', 'home', 'tmp'):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path / 'cwd')
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    monkeypatch.setenv('TMPDIR', str(tmp_path / 'tmp'))
    scene = spmpgan_files['scene']
    with NothingWritten(tmp_path, ROOT, os.path.dirname(spmpgan_files['ours'])):
        editor = semedit.load(spmpgan_files['ours'], device='cpu')
        with one_thread():
            editor.edit(scene['image'], scene['label'], scene['mask'])
    assert os.listdir(tmp_path / 'cwd') == os.listdir(tmp_path / 'home') == os.listdir(tmp_path / 'tmp') == []


# ---- SIEDOB --------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def siedob_files(tmp_path_factory):
    """Stand-in parts in the authors' layout, references, and a scene with a wholly and a partly
    covered car and a wholly covered person."""
    from siedob.parts_folder import write_parts, write_references, write_scene
    root = tmp_path_factory.mktemp('api_siedob')
    folder = os.path.dirname(write_parts(str(root / 'authors'), 'authors')['fusion'])
    cars = ((4, 14, 8, 30, True), (20, 40, 50, 70, False))
    scene = write_scene(str(root / 'scene'), size=(48, 80), cars=cars, persons=((30, 46, 72, 78, True),))
    return {'folder': folder, 'refs': write_references(str(root / 'refs'), {'car': 2, 'person': 3}), 'scene': scene}


def test_siedob_edit_is_test_pys_png_for_every_input_form(siedob_files, tmp_path):
    s, refs = siedob_files['scene'], siedob_files['refs']
    want = png_of_test_py(tmp_path, ['--model', 'siedob', '--checkpoints_dir', siedob_files['folder'], '--image_path',
                                  s['image'], '--segmap_path', s['label'], '--instance_path', s['instance'],
                                  '--mask_path', s['mask'], '--style_dir', refs])
    editor = semedit.load(siedob_files['folder'], device='cpu')
    for form, (image, labels, mask, instances) in forms(s, ('image', 'label', 'mask', 'instance')).items():
        out = editor.edit(image, labels, mask, instances=instances, references=refs, seed=0)
        assert png_bytes(out) == want, form
    # test.py's --style_dir as a keyword of load, the same picture
    keyword = semedit.load(siedob_files['folder'], device='cpu', style_dir=refs)
    assert png_bytes(keyword.edit(s['image'], s['label'], s['mask'], instances=s['instance'])) == want


# ---- bad input -----------------------------------------------------------------------------------------

def raises(call, *fragments):
    """``call()`` raises InputError (a ValueError), one line holding every fragment."""
    with pytest.raises(semedit.InputError) as e:
        call()
    assert isinstance(e.value, ValueError)
    line = str(e.value)
    assert '\n' not in line and all(f in line for f in fragments), line
    return line


def test_bad_inputs_raise_input_error_naming_the_argument(spmpgan_files, siedob_files, tmp_path):
    scene = spmpgan_files['scene']
    editor = semedit.load(spmpgan_files['ours'], device='cpu')
    image, label, mask = (np.asarray(Image.open(scene[k])) for k in ('image', 'label', 'mask'))
    raises(lambda: editor.edit(image, label.astype(np.int64) + 34, mask), 'labels=', 'label id', 'label_nc is 34')
    colour = tmp_path / 'colour.png'
    Image.fromarray(image).save(colour)
    raises(lambda: editor.edit(image, str(colour), mask), 'labels=', str(colour), 'colour (RGB)')
    raises(lambda: editor.edit(image, label, mask[:128]), 'size mismatch', 'mask=')
    raises(lambda: editor.edit(str(tmp_path / 'nope.jpg'), label, mask), 'image=', 'not found', 'nope.jpg')
    corrupt = tmp_path / 'corrupt.png'
    corrupt.write_bytes(b'not an image at all')
    raises(lambda: editor.edit(image, label, str(corrupt)), 'mask=', str(corrupt), 'not a valid image')
    raises(lambda: editor.edit(image, label, mask.astype(np.float32) / 3), 'mask=', '{0, 255}')
    raises(lambda: editor.edit(image[..., 0], label, mask), 'image=', 'H×W×3 uint8')
    raises(lambda: editor.edit([image, image], [label], [mask, mask]), 'labels= and mask= as lists of 2')
    d_only = tmp_path / 'd_only.pth'
    torch.save({'netD_1': make_model('spmpgan').netD_1.state_dict(), 'epoch': 0}, d_only)
    raises(lambda: semedit.load(d_only), str(d_only), 'no generator')
    raises(lambda: semedit.load(tmp_path / 'missing.pth'), 'missing.pth', 'not found')
    raises(lambda: semedit.load(spmpgan_files['ours'], no_such_flag=1), '--no_such_flag', 'keywords')
    raises(lambda: editor.edit(image, label, mask, references=siedob_files['refs']), 'references=', 'SIEDOB')
    # a wholly covered car, and no references given or carried by the folder
    siedob = semedit.load(siedob_files['folder'], device='cpu')
    s = siedob_files['scene']
    raises(lambda: siedob.edit(s['image'], s['label'], s['mask'], instances=s['instance']), 'references=', 'car')


# ---- torch.hub ---------------------------------------------------------------------------------------

def test_torch_hub_entry_points_give_the_same_editors(spmpgan_files, siedob_files, tmp_path, monkeypatch):
    """torch.hub.load(checkout, 'spmpgan' | 'siedob', source='local', ...) from another folder,
    offline (nothing fetched: a local source), edits as semedit.load's editor."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    hub = torch.hub.load(ROOT, 'spmpgan', source='local', checkpoint=spmpgan_files['ours'], device='cpu')
    scene = spmpgan_files['scene']
    with one_thread():
        want = semedit.load(spmpgan_files['ours'], device='cpu').edit(scene['image'], scene['label'], scene['mask'])
        assert png_bytes(hub.edit(scene['image'], scene['label'], scene['mask'])) == png_bytes(want)
    hub = torch.hub.load(ROOT, 'siedob', source='local', checkpoints_dir=siedob_files['folder'], device='cpu',
                         style_dir=siedob_files['refs'])
    s = siedob_files['scene']
    want = semedit.load(siedob_files['folder'], device='cpu').edit(s['image'], s['label'], s['mask'],
                                                                    instances=s['instance'],
                                                                    references=siedob_files['refs'])
    assert png_bytes(hub.edit(s['image'], s['label'], s['mask'], instances=s['instance'])) == png_bytes(want)
    assert not (tmp_path / 'torch_home').exists() and os.listdir(tmp_path) == []



# ---- one package, from any folder ----------------------------------------------------------------------

GENERIC = ('data', 'models', 'util', 'options', 'engine')


def test_semedit_imports_from_any_folder_beside_packages_of_generic_names(spmpgan_files, tmp_path):
    """After the README's install, a script in a folder of its own (no PYTHONPATH) that has its own
    `models`, `data`, `util`, `options` and `engine` imports this checkout's semedit, edits with it as
    in this process (a bare import of ours would have found the user's packages), and still gets its
    own packages back."""
    for name in GENERIC:
        (tmp_path / name).mkdir()
        (tmp_path / name / '__init__.py').write_text(f"WHO = 'user {name}'\n")
    scene = spmpgan_files['scene']
    inputs = [scene[k] for k in ('image', 'label', 'mask')]
    script = (
        "import torch, semedit\n"
        "torch.set_num_threads(1)\n"
        f"out = semedit.load({spmpgan_files['ours']!r}, device='cpu').edit(*{inputs!r})\n"
        "out.save('out.png')\n"
        f"import {', '.join(GENERIC)}\n"
        f"print(semedit.__file__, *[m.WHO for m in ({', '.join(GENERIC)})], sep='\\n')\n")
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    res = subprocess.run([sys.executable, '-c', script], cwd=tmp_path, env=env, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=300)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:] + (
        '\n(semedit is installed by the README\'s command: pip install -r requirements.txt)')
    where, *who = res.stdout.splitlines()
    assert where == os.path.join(ROOT, 'semedit', '__init__.py')
    assert who == [f'user {n}' for n in GENERIC]
    with one_thread():
        want = semedit.load(spmpgan_files['ours'], device='cpu').edit(scene['image'], scene['label'], scene['mask'])
    assert (tmp_path / 'out.png').read_bytes() == png_bytes(want)


# ---- the classes and their colours ---------------------------------------------------------------------

def test_classes_name_every_id_and_colour_each_its_own(spmpgan_files):
    """editor.classes: (id, name, RGB) for ids 0..33 (Cityscapes), every colour distinct (the official
    palette leaves ids 0-3 black and 17/18 one grey); ADE20K's 151 ids named and distinct too;
    editor.colorize paints each id its colour (the panels' palette)."""
    from semedit.util.label_classes import class_table
    editor = semedit.load(spmpgan_files['ours'], device='cpu')
    classes = editor.classes
    assert [c[0] for c in classes] == list(range(34))
    assert classes[26][1:] == ('car', (0, 0, 142)) and classes[7][1:] == ('road', (128, 64, 128))
    for table in (classes, class_table(151), class_table(12)):
        assert len({rgb for _, _, rgb in table}) == len(table)
    ade = class_table(151)
    assert (ade[0][1], ade[13][1], ade[21][1], ade[150][1]) == ('other', 'person', 'car', 'flag')
    label = np.arange(34).repeat(3).reshape(6, 17)
    painted = np.asarray(editor.colorize(label))
    assert painted.shape == (6, 17, 3)
    for i, _, rgb in classes:
        assert (painted[label == i] == rgb).all()


def test_references_as_pairs_edit_as_the_same_folder(siedob_files):
    """references={'car': [(image, mask), ...], 'person': [...]} (paths, PIL images or arrays) give
    the picture of the folder holding the same crops; a class left out is named when needed."""
    refs, s = siedob_files['refs'], siedob_files['scene']
    pairs = {}
    for name in ('car', 'person'):
        stems = sorted(os.listdir(os.path.join(refs, name, 'images')))
        pairs[name] = [(np.asarray(Image.open(os.path.join(refs, name, 'images', f)).convert('RGB')),
                        Image.open(os.path.join(refs, name, 'inst_mask', os.path.splitext(f)[0] + '.png')))
                       for f in stems]
    editor = semedit.load(siedob_files['folder'], device='cpu')
    args = (s['image'], s['label'], s['mask'])
    want = png_bytes(editor.edit(*args, instances=s['instance'], references=refs))
    assert png_bytes(editor.edit(*args, instances=s['instance'], references=pairs)) == want
    raises(lambda: editor.edit(*args, instances=s['instance'], references={'person': pairs['person']}),
           'no car references', 'references=')
    raises(lambda: editor.edit(*args, instances=s['instance'], references={'truck': []}), "'truck'", "'car'")
