"""A photo without a label map: semedit.segment / test.py --segmap_path auto with a segmentation model
(tiny SegFormers of random or constant predictions, built from a config: nothing downloaded). Shapes,
transformers' own post-processing as the reference, classes by name, the errors (offline, wrong
dataset, no folder, no transformers), and photo -> labels -> edit through test.py and the API."""
import os
import sys

import numpy as np
import pytest
from PIL import Image

import semedit
import test as test_script
from helpers import ROOT, error_line, expect_user_error, make_model, one_thread, run
from segmenters import write_segmenter
from semedit.data.segmentation_classes import CITYSCAPES_TRAIN_TO_LABEL, instances_from_labels
from semedit.engine.painting import paint_region
from semedit.util.checkpoint import save_checkpoint
from semedit.util.label_classes import class_table

CAR_TRAIN_ID, ADE_CAR = 13, 20   # 'car' among Cityscapes' 19 trainIds and ADE20K's 150 classes
ROAD = 7


@pytest.fixture(scope='module')
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp('segmenters')
    return {'random': write_segmenter(root / 'random'),
            'car': write_segmenter(root / 'car', constant=CAR_TRAIN_ID),
            'ade_car': write_segmenter(root / 'ade_car', 'ade20k', constant=ADE_CAR)}


def photo(h=45, w=70, seed=0):
    rng = np.random.RandomState(seed)
    small = rng.randint(0, 256, (h // 8 + 1, w // 8 + 1, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.BILINEAR))


def test_labels_are_transformers_own_post_processing_in_our_numbering(folders):
    """At the photo's size (odd, not square), each pixel the argmax of the bilinearly upsampled logits
    (transformers' post_process_semantic_segmentation), as our labelIds; instances to match."""
    import torch
    segmenter = semedit.load_segmenter(folders['random'], device='cpu')
    rgb = photo()
    labels, instances = segmenter(rgb)
    assert labels.shape == instances.shape == rgb.shape[:2] and labels.dtype == np.int64
    inputs = segmenter.processor(images=Image.fromarray(rgb), return_tensors='pt')
    with torch.no_grad():
        outputs = segmenter.model(**inputs)
    theirs = segmenter.processor.post_process_semantic_segmentation(outputs, target_sizes=[rgb.shape[:2]])[0]
    assert np.array_equal(labels, np.asarray(CITYSCAPES_TRAIN_TO_LABEL)[theirs.numpy()])
    assert len(np.unique(labels)) > 2                              # the random model says several classes
    assert np.array_equal(instances, instances_from_labels(labels))
    # a photo past the logits' size cap: the photo's size still, the same classes where the map is smooth
    big = np.asarray(Image.fromarray(rgb).resize((1400, 900), Image.BILINEAR))
    big_labels, _ = segmenter(big)
    assert big_labels.shape == (900, 1400)
    small_again = np.asarray(Image.fromarray(big_labels.astype(np.uint8)).resize((70, 45), Image.NEAREST))
    assert (small_again == labels).mean() > 0.8


def test_a_class_keeps_its_name_in_our_numbering(folders):
    rgb = photo()
    labels, instances = semedit.segment(rgb, 'cityscapes', folders['car'], device='cpu')
    assert set(np.unique(labels)) == {26} and class_table(34)[26][1] == 'car'
    assert set(np.unique(instances)) == {26000}                    # one connected car, instance 0
    labels, instances = semedit.segment(Image.fromarray(rgb), 'ade20k', folders['ade_car'], device='cpu')
    assert set(np.unique(labels)) == {ADE_CAR + 1} and class_table(151)[ADE_CAR + 1][1] == 'car'
    assert instances is None


def raises(call, *fragments):
    with pytest.raises(semedit.InputError) as e:
        call()
    line = str(e.value)
    assert '\n' not in line and all(f in line for f in fragments), line
    return line


def test_each_wrong_segmenter_is_one_line(folders, tmp_path, monkeypatch):
    raises(lambda: semedit.load_segmenter(folders['car'], 'ade20k'), 'predicts 19 classes', '150')
    raises(lambda: semedit.load_segmenter(str(tmp_path / 'nowhere')), str(tmp_path / 'nowhere'), 'no such folder')
    raises(lambda: semedit.load_segmenter(str(tmp_path)), str(tmp_path), 'config.json')
    raises(lambda: semedit.load_segmenter(None, 'mapillary'), 'cityscapes or ade20k')
    # a hub name not in the cache: nothing is downloaded, the line says how to fetch it
    raises(lambda: semedit.load_segmenter('nobody/no-such-segmenter'), 'hf download nobody/no-such-segmenter')
    raises(lambda: semedit.segment(photo(), segmenter=folders['car'] + '/config.json'), 'no such folder')
    raises(lambda: semedit.segment(np.zeros((4, 4)), segmenter=folders['car']), 'photo', 'RGB')
    monkeypatch.setitem(sys.modules, 'transformers', None)       # as if it were not installed
    raises(lambda: semedit.load_segmenter(folders['car']), 'transformers', 'pip install -r requirements.txt')


# ---- photo -> labels -> edit -----------------------------------------------------------------------------

@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp('own_photo')
    path = str(root / 'latest.pth')
    save_checkpoint(make_model('spmpgan', is_train=False).checkpoint_state(0, 0, 0), path)
    rgb = photo(256, 256, seed=1)
    mask = np.zeros((256, 256), np.uint8)
    mask[60:150, 80:200] = 255
    files = {'photo': str(root / 'my_photo.jpg'), 'mask': str(root / 'mask.png')}
    Image.fromarray(rgb).save(files['photo'], quality=92)
    Image.fromarray(mask).save(files['mask'])
    return path, files


def edit_with_test_py(tmp_path, *argv):
    out = tmp_path / 'out.png'
    with one_thread():
        test_script.main([*argv, '--output_path', str(out), '--device', 'cpu'])
    return np.asarray(Image.open(out))


def test_test_py_edits_a_photo_without_a_label_map(checkpoint, folders, tmp_path):
    """--segmap_path auto is semedit.segment's label map edited through the API; --paint_class road
    makes the masked region road first (and the instance map follows)."""
    ckpt, f = checkpoint
    editor = semedit.load(ckpt, device='cpu')
    labels, instances = semedit.segment(f['photo'], segmenter=folders['random'], device='cpu')
    mask = np.asarray(Image.open(f['mask'])) > 0
    for paint in (None, 'road'):
        argv = ['--checkpoint', ckpt, '--image_path', f['photo'], '--segmap_path', 'auto', '--segmenter',
                folders['random'], '--mask_path', f['mask']] + (['--paint_class', paint] if paint else [])
        got = edit_with_test_py(tmp_path, *argv)
        lab, inst = (labels, instances) if paint is None else paint_region(labels, instances, mask, ROAD)
        want = np.asarray(editor.edit(f['photo'], lab, mask, instances=inst))
        assert np.array_equal(got, want), paint
        known = np.asarray(Image.open(f['photo']).convert('RGB'))[~mask].astype(int)
        assert np.abs(got[~mask] - known).max() <= 1               # the authors' truncation: one grey level
    assert not np.array_equal(paint_region(labels, instances, mask, ROAD)[0], labels)


def test_instance_path_auto_is_the_label_maps_connected_regions(checkpoint, tmp_path):
    ckpt, f = checkpoint
    label = np.full((256, 256), 7, np.uint8)
    label[100:140, 20:90] = 26
    label[100:140, 150:220] = 26                                   # two cars
    Image.fromarray(label).save(tmp_path / 'label.png')
    common = ['--checkpoint', ckpt, '--image_path', f['photo'], '--segmap_path', str(tmp_path / 'label.png'),
              '--mask_path', f['mask']]
    got = edit_with_test_py(tmp_path, *common, '--instance_path', 'auto')
    inst = instances_from_labels(label)
    assert set(np.unique(inst)) == {7, 26000, 26001}
    Image.fromarray(inst.astype(np.uint16)).save(tmp_path / 'inst.png')
    assert np.array_equal(got, edit_with_test_py(tmp_path, *common, '--instance_path', str(tmp_path / 'inst.png')))


def test_offline_without_the_segmenter_says_which_to_fetch_and_writes_nothing(checkpoint, tmp_path):
    ckpt, f = checkpoint
    env = {'HF_HOME': str(tmp_path / 'empty_hf_home'), 'HF_HUB_OFFLINE': '1'}
    out = tmp_path / 'out.png'
    said = run(ROOT, sys.executable, 'test.py', '--checkpoint', ckpt, '--image_path', f['photo'], '--segmap_path',
               'auto', '--mask_path', f['mask'], '--output_path', out, '--device', 'cpu', expect=2, env=env)
    error_line(said, 'hf download nvidia/segformer-b0-finetuned-cityscapes-1024-1024', '--segmenter')
    assert not out.exists() and not (tmp_path / 'empty_hf_home').exists()


def test_a_class_name_that_is_none_lists_some(checkpoint, folders, tmp_path, capsys):
    ckpt, f = checkpoint
    expect_user_error(test_script.main, ['--checkpoint', ckpt, '--image_path', f['photo'], '--segmap_path', 'auto',
                                         '--segmenter', folders['car'], '--mask_path', f['mask'], '--paint_class',
                                         'spaceship', '--output_path', str(tmp_path / 'o.png'), '--device', 'cpu'],
                      capsys, "--paint_class 'spaceship'", 'road')
    assert not (tmp_path / 'o.png').exists()


def test_siedob_edits_a_photo_without_label_or_instance_map(folders, tmp_path):
    """SIEDOB needs both maps: --segmap_path auto gives them; a car painted over the mask becomes a new
    instance edited with a reference."""
    from siedob.parts_folder import write_parts, write_references
    folder = os.path.dirname(write_parts(str(tmp_path / 'parts'), 'authors')['fusion'])
    refs = write_references(str(tmp_path / 'refs'), {'car': 2, 'person': 2})
    rgb, mask = photo(48, 80, seed=2), np.zeros((48, 80), np.uint8)
    mask[10:30, 20:50] = 255
    Image.fromarray(rgb).save(tmp_path / 'photo.png')
    Image.fromarray(mask).save(tmp_path / 'mask.png')
    got = edit_with_test_py(tmp_path, '--model', 'siedob', '--checkpoints_dir', folder, '--image_path',
                            str(tmp_path / 'photo.png'), '--segmap_path', 'auto', '--segmenter', folders['random'],
                            '--mask_path', str(tmp_path / 'mask.png'), '--paint_class', 'car', '--style_dir', refs)
    labels, instances = semedit.segment(rgb, segmenter=folders['random'], device='cpu')
    labels, instances = paint_region(labels, instances, mask > 0, 26)
    assert (instances[mask > 0] // 1000 == 26).all()
    editor = semedit.load(folder, device='cpu')
    want = np.asarray(editor.edit(rgb, labels, mask > 0, instances=instances, references=refs, seed=0))
    assert np.array_equal(got, want)
    assert np.abs(got[mask == 0].astype(int) - rgb[mask == 0]).max() <= 1


def test_segment_script_writes_the_maps_to_paint_on(folders, tmp_path):
    """scripts/segment.py: a palette PNG whose pixel values are the ids (each class's colour in its
    palette) and the 16-bit instance map; they edit as test.py's inputs."""
    rgb = photo(40, 60, seed=3)
    Image.fromarray(rgb).save(tmp_path / 'street.jpg', quality=95)
    said = run(ROOT, sys.executable, 'scripts/segment.py', tmp_path / 'street.jpg', '--segmenter', folders['random'],
               '--output_dir', tmp_path / 'maps', '--device', 'cpu')
    assert 'Wrote' in said
    labels, instances = semedit.segment(tmp_path / 'street.jpg', segmenter=folders['random'], device='cpu')
    written = Image.open(tmp_path / 'maps' / 'street_labels.png')
    assert written.mode == 'P' and np.array_equal(np.asarray(written), labels)
    colours = np.asarray(written.getpalette()[:34 * 3]).reshape(34, 3)
    assert [tuple(c) for c in colours] == [rgb_ for _, _, rgb_ in class_table(34)]
    assert np.array_equal(np.asarray(Image.open(tmp_path / 'maps' / 'street_instances.png')), instances)
    said = run(ROOT, sys.executable, 'scripts/segment.py', tmp_path / 'none.jpg', '--segmenter', folders['random'],
               '--output_dir', tmp_path / 'maps2', expect=2)
    error_line(said, str(tmp_path / 'none.jpg'))
    assert not (tmp_path / 'maps2').exists()


def test_the_web_editors_button_says_what_to_fetch(checkpoint, folders, tmp_path):
    """The page's "make it from the photo" (semedit/web.py): an uncached model is the line to fetch it;
    a folder's model writes the palette label map for the upload box."""
    from semedit.web import WebEditor
    ckpt, f = checkpoint
    editors = {'SPM-PGAN': semedit.load(ckpt, device='cpu')}
    offline = WebEditor(editors, work_dir=str(tmp_path / 'a'), segmenter='nobody/no-such-segmenter')
    raises(lambda: offline.segment('SPM-PGAN', f['photo']), 'hf download nobody/no-such-segmenter')
    raises(lambda: offline.segment('SPM-PGAN', None), 'open a photo (image) first')
    web = WebEditor(editors, work_dir=str(tmp_path / 'b'), segmenter=folders['random'])
    labels_png, instances_png = web.segment('SPM-PGAN', f['photo'])
    assert instances_png is None                                   # no SIEDOB here: no instance box
    labels, _ = semedit.segment(f['photo'], segmenter=folders['random'], device='cpu')
    assert np.array_equal(np.asarray(Image.open(labels_png)), labels)
