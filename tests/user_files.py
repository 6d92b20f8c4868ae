"""Files as phones and paint programs write them, for the tests: photos stored sideways with an EXIF
Orientation tag, masks painted on a transparent layer."""
import numpy as np
from PIL import Image

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


def stored_as(upright, orientation):
    """The pixels a camera stores for a picture shown as ``upright`` under ``orientation``: the
    inverse of VIEW[orientation], found among the eight (they form a group)."""
    probe = np.arange(6 * 10).reshape(6, 10)
    inverse = next(f for f in VIEW.values() if np.array_equal(VIEW[orientation](f(probe)), probe))
    return np.ascontiguousarray(inverse(upright))


def phone_photo(folder, upright, orientation):
    """``photo.jpg`` stored sideways with its tag, and ``upright.png``: the same picture as every
    viewer shows it (the decoded JPEG, turned), losslessly. Returns both paths."""
    photo, reference = str(folder / 'photo.jpg'), str(folder / 'upright.png')
    save_with_orientation(stored_as(upright, orientation), photo, orientation, quality=95)
    Image.fromarray(VIEW[orientation](stored_pixels(photo))).save(reference)
    assert stored_pixels(photo).shape[:2] == (upright.shape[:2] if orientation < 5 else upright.shape[1::-1])
    return photo, reference


def transparent_layer_mask(path, mask):
    """White strokes where ``mask``, on a layer whose transparent pixels hide white (as paint
    programs save it): read without its alpha, the whole image would be repainted."""
    rgba = np.full(mask.shape + (4,), 255, np.uint8)
    rgba[..., 3] = np.where(mask, 255, 0)
    Image.fromarray(rgba, 'RGBA').save(path)
    return path
