"""Files as people have them: a phone photo stored sideways with an EXIF Orientation tag, a mask
painted on a transparent layer. Each is read as every viewer shows it, in the readers
(util/image_io.py), the datasets' header checks and training samples, and an edit through test.py
(SPM-PGAN here, SIEDOB in tests/siedob/test_editing.py)."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

from user_files import VIEW, phone_photo, save_with_orientation, stored_pixels, transparent_layer_mask
from semedit.util.image_io import image_size, read_image, read_label, read_mask

@pytest.mark.parametrize('orientation', range(1, 9))
def test_a_phone_photo_is_read_upright(tmp_path, orientation):
    """A 40×24 JPEG stored as the sensor read it, tagged with its orientation: read as a viewer shows it
    (5-8 swap width and height), in the pixels and in the header-only size the datasets check."""
    stored = np.random.default_rng(orientation).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    path = str(tmp_path / 'photo.jpg')
    save_with_orientation(stored, path, orientation, quality=95)
    want = VIEW[orientation](stored_pixels(path))
    got = read_image(path)
    assert np.array_equal(got, want)
    assert image_size(path) == (want.shape[1], want.shape[0])


def test_a_label_map_with_an_orientation_tag_is_turned_as_its_photo(tmp_path):
    stored = np.arange(24 * 40, dtype=np.uint8).reshape(24, 40) % 34
    path = str(tmp_path / 'label.png')
    save_with_orientation(stored, path, 6)
    assert np.array_equal(read_label(path, 34), np.rot90(stored, -1))


# ---- masks on transparent layers -------------------------------------------------------------

STROKE = (slice(5, 15), slice(10, 30))


def stroke_mask(h=20, w=40):
    m = np.zeros((h, w), bool)
    m[STROKE] = True
    return m


@pytest.mark.parametrize('hidden', [(255, 255, 255), (0, 0, 0), (255, 0, 0)])
def test_a_mask_painted_on_a_transparent_layer_is_the_strokes(tmp_path, hidden):
    """White strokes on a layer whose transparent pixels hide any colour (paint programs save an empty
    layer as transparent white): the strokes are repainted, nothing else."""
    rgba = np.zeros((20, 40, 4), np.uint8)
    rgba[..., :3] = hidden
    rgba[STROKE] = (255, 255, 255, 255)
    rgba[0, 0] = (255, 255, 255, 100)      # mostly transparent: not painted
    Image.fromarray(rgba, 'RGBA').save(tmp_path / 'm.png')
    assert np.array_equal(read_mask(str(tmp_path / 'm.png')), stroke_mask().astype(np.float32))


def test_grey_with_alpha_and_palette_transparency(tmp_path):
    la = np.zeros((20, 40, 2), np.uint8)
    la[..., 0] = 255                        # white everywhere, transparent outside the stroke
    la[..., 1][STROKE] = 255
    Image.fromarray(la, 'LA').save(tmp_path / 'la.png')
    assert np.array_equal(read_mask(str(tmp_path / 'la.png')), stroke_mask().astype(np.float32))

    # a palette image whose index 0 (white) is transparent, index 1 white and opaque
    p = Image.fromarray(stroke_mask().astype(np.uint8), 'L').convert('P')
    p.putpalette([255, 255, 255, 255, 255, 255] + [0] * 762)
    p.save(tmp_path / 'p.png', transparency=0)
    with Image.open(tmp_path / 'p.png') as check:
        assert check.mode == 'P' and check.info.get('transparency') == 0
    assert np.array_equal(read_mask(str(tmp_path / 'p.png')), stroke_mask().astype(np.float32))


def test_opaque_masks_read_as_before(tmp_path):
    """Without transparency nothing changes: white (≥ 128) is repainted, an opaque RGBA mask included."""
    grey = (stroke_mask() * 200).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / 'l.png')
    rgba = np.dstack([grey] * 3 + [np.full_like(grey, 255)])
    Image.fromarray(rgba, 'RGBA').save(tmp_path / 'rgba.png')
    for name in ('l.png', 'rgba.png'):
        assert np.array_equal(read_mask(str(tmp_path / name)), stroke_mask().astype(np.float32))


# ---- the same files through test.py and in training data -------------------------------------

def blocks(h, w, seed, classes=10):
    """(RGB image, label ids) of coloured rectangles: a picture with an up and a left to get wrong."""
    rng = np.random.RandomState(seed)
    label = np.zeros((h, w), np.uint8)
    for k in range(1, classes):
        y, x = rng.randint(0, h - 24), rng.randint(0, w - 24)
        label[y:y + rng.randint(12, h // 2), x:x + rng.randint(12, w // 2)] = k
    palette = rng.randint(0, 256, (classes, 3)).astype(np.uint8)
    return palette[label], label


@pytest.fixture(scope='module')
def spmpgan_checkpoint(tmp_path_factory):
    """A random ngf-4 SPM-PGAN checkpoint, as train.py writes it."""
    from helpers import make_model
    from semedit.util.checkpoint import save_checkpoint
    path = tmp_path_factory.mktemp('spmpgan') / 'latest.pth'
    save_checkpoint(make_model('spmpgan', is_train=False).checkpoint_state(0, 0, 0), str(path))
    return str(path)


def spmpgan_edit(checkpoint, image, label, mask, out):
    import test as test_script
    from helpers import one_thread
    with one_thread():  # --quantize round: every known pixel the input's (the default loses a level of some)
        test_script.main(['--checkpoint', checkpoint, '--image_path', image, '--segmap_path', label, '--mask_path',
                          mask, '--output_path', str(out), '--device', 'cpu', '--quantize', 'round'])
    return np.asarray(Image.open(out).convert('RGB'))


@pytest.mark.parametrize('orientation', range(2, 9))
def test_spmpgan_edits_a_phone_photo_as_its_upright_self(spmpgan_checkpoint, tmp_path, orientation):
    """A 256×384 (W×H) picture stored sideways under each orientation, its label map and mask drawn
    upright: test.py edits the picture every viewer shows (5-8 are stored 384×256)."""
    upright, label = blocks(384, 256, seed=orientation, classes=34)
    photo, reference = phone_photo(tmp_path, upright, orientation)
    Image.fromarray(label).save(tmp_path / 'label.png')
    mask = np.zeros((384, 256), np.uint8)
    mask[100:300, 60:200] = 255
    Image.fromarray(mask).save(tmp_path / 'mask.png')
    args = (str(tmp_path / 'label.png'), str(tmp_path / 'mask.png'))
    edited = spmpgan_edit(spmpgan_checkpoint, photo, *args, tmp_path / 'a.png')
    assert np.array_equal(edited, spmpgan_edit(spmpgan_checkpoint, reference, *args, tmp_path / 'b.png'))


def test_spmpgan_repaints_only_the_strokes_of_a_transparent_layer(spmpgan_checkpoint, tmp_path):
    image, label = blocks(256, 256, seed=1, classes=34)
    Image.fromarray(image).save(tmp_path / 'image.png')
    Image.fromarray(label).save(tmp_path / 'label.png')
    strokes = np.zeros((256, 256), bool)
    strokes[40:120, 30:220] = True
    Image.fromarray(strokes.astype(np.uint8) * 255).save(tmp_path / 'plain.png')
    layer = transparent_layer_mask(str(tmp_path / 'layer.png'), strokes)
    args = (str(tmp_path / 'image.png'), str(tmp_path / 'label.png'))
    edited = spmpgan_edit(spmpgan_checkpoint, *args, layer, tmp_path / 'a.png')
    assert np.array_equal(edited, spmpgan_edit(spmpgan_checkpoint, *args, str(tmp_path / 'plain.png'),
                                               tmp_path / 'b.png'))
    assert np.array_equal(edited[~strokes], image[~strokes])  # the rest is the input's, to the level


@pytest.mark.parametrize('orientation', range(2, 9))
def test_training_samples_of_phone_photos_are_upright(tmp_path, orientation):
    """A custom dataset whose 384×256 (W×H) photos are stored sideways (the label maps upright):
    the header check before training passes and every training sample (crop, flip, mask drawn from
    the seed) is the one of the same dataset saved upright."""
    from semedit.data import create_dataset
    from semedit.models.spmpgan_model import SPMPGANModel
    from semedit.options.train_options import TrainOptions
    samples = []
    for kind in ('phone', 'upright'):
        root = tmp_path / kind / 'custom' / 'train'
        for sub in ('images', 'labels'):
            (root / sub).mkdir(parents=True)
        for i in range(2):
            upright, label = blocks(256, 384, seed=10 * orientation + i)
            Image.fromarray(label).save(root / 'labels' / f'{i}.png')
            photo, reference = phone_photo(tmp_path, upright, orientation)
            kept = photo if kind == 'phone' else reference
            os.replace(kept, root / 'images' / f'{i}{os.path.splitext(kept)[1]}')
        opt = TrainOptions().parse(['--dataset_name', 'custom', '--dataroot', str(tmp_path / kind), '--label_nc', '10',
                                    '--instance_format', 'none'])
        ds = create_dataset(opt, 'train', SPMPGANModel.dataset_items)
        ds.check_files(SPMPGANModel.size_rule)
        samples.append([ds[i] for i in range(2)])
    for phone, upright in zip(*samples):
        for key in ('image', 'label', 'mask'):
            assert torch.equal(phone[key], upright[key]), key
