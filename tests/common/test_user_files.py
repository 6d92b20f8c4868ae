"""Files as people have them: a phone photo stored sideways with an EXIF Orientation tag, a mask
painted on a transparent layer. Each is read as every viewer shows it, in the readers
(util/image_io.py), the datasets' header checks, and an edit through test.py."""
import numpy as np
import pytest
from PIL import Image

from util.image_io import image_size, read_image, read_label, read_mask

#: how a viewer turns the stored pixels upright, per orientation (the EXIF 2.3 standard, Orientation
#: tag 0x0112: 2 mirror horizontal, 3 rotate 180, 4 mirror vertical, 5 mirror horizontal and rotate
#: 270 CW, 6 rotate 90 CW, 7 mirror horizontal and rotate 90 CW, 8 rotate 270 CW)
VIEW = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: np.rot90(a[:, ::-1], -3),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a[:, ::-1], -1),
    8: lambda a: np.rot90(a, -3),
}


def save_with_orientation(array, path, orientation, **kwargs):
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(array).save(path, exif=exif, **kwargs)


def stored_pixels(path):
    """The pixels as the file stores them (no orientation applied)."""
    with Image.open(path) as img:
        return np.asarray(img.convert('RGB'))


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
