"""Reading user files with clear errors: one line naming the file and what to do."""
import os

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from semedit.util.atomic import atomic_path
from semedit.util.errors import UserError


#: EXIF Orientation values 2-8 (1 = as stored): how a viewer turns the stored pixels upright. Phones
#: store photos as the sensor read them and tag them; 5-8 swap width and height.
EXIF_ORIENTATION = 0x0112
SWAPS_SIDES = (5, 6, 7, 8)


def orientation(img):
    try:
        value = img.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # an unreadable EXIF block: the pixels as stored, as most viewers do
        return 1
    return value if value in range(1, 9) else 1


def upright(img):
    """The picture as every viewer shows it: the stored pixels turned by the EXIF Orientation tag (the
    label map and mask were drawn over that upright picture)."""
    return ImageOps.exif_transpose(img) if orientation(img) != 1 else img


def image_size(path, what='image'):
    """(W, H) of an image file as shown (EXIF orientation applied), from its header only: a missing or
    unreadable file is a UserError naming it (a truncated file shows only when decoded)."""
    if not os.path.isfile(path):
        raise UserError(f'{what} not found: {path}')
    try:
        with Image.open(path) as img:
            w, h = img.size
            return (h, w) if orientation(img) in SWAPS_SIDES else (w, h)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise UserError(f'cannot read {what} {path}: not a valid image file ({exc})') from None


def source_name(source):
    """How an error names an input: its path, or what kind of object it is (the Python API)."""
    if isinstance(source, Image.Image):
        return f'(a {source.mode} PIL image)'
    if isinstance(source, np.ndarray):
        return f'(a {"×".join(map(str, source.shape))} {source.dtype} array)'
    return source


def _open(path, what, lossless=False):
    """The file's picture, upright; ``lossless``: refuse JPEG and the like (label and instance maps).
    A PIL image (the Python API) is taken as it is, turned upright as a file would be."""
    if isinstance(path, Image.Image):
        return upright(path)
    if path is None:
        raise UserError(f'no {what} given')
    if not os.path.exists(path):
        raise UserError(f'{what} not found: {path}')
    if os.path.isdir(path):
        raise UserError(f'{what} {path} is a folder; give an image file')
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise UserError(f'cannot read {what} {path}: not a valid image file ({exc})') from None
    if lossless:
        refuse_lossy(img, path, what)
    return upright(img)


LOSSY_FORMATS = ('JPEG', 'MPO', 'WEBP')  # WebP can be lossless, but nothing here can tell which


def refuse_lossy(img, path, what):
    """Label and instance maps must be lossless: JPEG's compression blurs the borders between
    regions into ids that belong to neither (about 9 % of a Cityscapes map's pixels)."""
    if img.format in LOSSY_FORMATS:
        raise UserError(f'{what} {path} is a {img.format} file: lossy compression changes the ids along region '
                        f'borders; save it losslessly, as PNG')


def read_image(path, what='image'):
    """Any image file, a PIL image or an H×W×3 uint8 RGB array -> H×W×3 uint8 RGB."""
    if isinstance(path, np.ndarray):
        if path.ndim != 3 or path.shape[2] != 3 or path.dtype != np.uint8:
            raise UserError(f'{what} {source_name(path)}: give an H×W×3 uint8 RGB array, a PIL image or an image file')
        return np.array(path)  # a copy: the caller's array is never touched (and may be read-only)
    img = _open(path, what)
    return np.array(img.convert("RGB"))


def read_label(path, label_nc=None, what='label map'):
    """Single-channel PNG of label ids -> H×W int64. Palette PNGs give their indices (what tools
    such as Cityscapes' scripts and most editors write). Colour (RGB) maps are refused. Also a PIL
    image (mode L or P) or an H×W integer array of ids."""
    if isinstance(path, np.ndarray):
        if path.ndim != 2 or not (np.issubdtype(path.dtype, np.integer) or path.dtype == bool):
            raise UserError(f'{what} {source_name(path)}: give an H×W integer array of label ids (a colour map is '
                            f'not one)')
        return check_label_ids(path.astype(np.int64), label_nc, what, source_name(path))
    img = _open(path, what, lossless=not isinstance(path, Image.Image))
    path = source_name(path)
    if img.mode in ('L', 'P', 'I', 'I;16', 'I;16B', 'I;16L', '1'):
        a = np.asarray(img).astype(np.int64)
    elif img.mode in ('LA', 'PA'):
        a = np.asarray(img)[..., 0].astype(np.int64)
    elif img.mode in ('RGB', 'RGBA'):
        rgb = np.asarray(img)[..., :3]
        if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])):
            raise UserError(f'{what} {path} is a colour (RGB) image; give a single-channel or palette PNG '
                            f'of label ids (e.g. Cityscapes *_labelIds.png, not *_color.png)')
        a = rgb[..., 0].astype(np.int64)
    else:
        raise UserError(f'{what} {path} has unsupported image mode {img.mode}; give a single-channel PNG of label ids')
    return check_label_ids(a, label_nc, what, path)


def check_label_ids(a, label_nc, what, path):
    """``a`` if every id is in 0..label_nc-1, else the one-line error."""
    if a.size and a.min() < 0:
        raise UserError(f'{what} {path} contains the negative label id {int(a.min())}; ids must be 0..label_nc-1 '
                        f'(remap "ignore" values such as -1 or 255 to a valid id)')
    if label_nc is not None and a.size and a.max() >= label_nc:
        raise UserError(f'{what} {path} contains label id {int(a.max())} but label_nc is {label_nc} '
                        f'(ids must be 0..{label_nc - 1}); use the right --dataset_name / --label_nc '
                        f'or remap the labels')
    return a


def read_mask(path, what='mask'):
    """Mask image -> H×W float32 in {0, 1}; 1 (white, ≥ 128) = region to repaint. An all-black mask
    is valid (nothing changes). Grey anti-aliased edges are binarised so the composite takes every
    known pixel from the input and nothing from the generator. Where the file has transparency (RGBA,
    LA, a palette or colour key with a transparent entry), a pixel less than half opaque is never
    repainted, whatever colour it hides: paint programs save an empty layer as transparent white.
    Also a PIL image, or an H×W array: bool, {0, 1} or {0, 255} (true / 1 / 255 = repaint)."""
    if isinstance(path, np.ndarray):
        return _mask_array(path, what)
    img = _open(path, what)
    painted = np.asarray(img.convert('L')) >= 128
    if 'A' in img.mode or 'transparency' in img.info:
        painted &= np.asarray(img.convert('RGBA'))[..., 3] >= 128
    return painted.astype(np.float32)


def _mask_array(a, what):
    values = np.unique(a) if a.ndim == 2 and a.dtype != bool else None
    if a.ndim != 2 or a.dtype != bool and not (set(values.tolist()) <= {0, 1} or set(values.tolist()) <= {0, 255}):
        shown = '' if values is None else f' (values {", ".join(str(v) for v in values[:5].tolist())}' \
            f'{", ..." if len(values) > 5 else ""})'
        raise UserError(f'{what} {source_name(a)}{shown}: give an H×W array of bool, {{0, 1}} or {{0, 255}} '
                        f'(true / 1 / 255 = repaint)')
    return (a > (0 if a.dtype == bool or a.max() <= 1 else 127)).astype(np.float32)


def read_instance(path, kind, what='instance map'):
    """Instance map -> H×W int64. ``cityscapes``: 16-bit instanceIds (class id below 1000, class·1000+k
    for instances); ``ade``: RGB PNG whose G channel holds the instance ids (as upstream's ``dataset.py``).
    Also a PIL image, or an H×W integer array of those ids (the Python API)."""
    if isinstance(path, np.ndarray):
        if path.ndim != 2 or not np.issubdtype(path.dtype, np.integer):
            raise UserError(f'{what} {source_name(path)}: give an H×W integer array of instance ids (class·1000 + k)')
        return path.astype(np.int64)
    img = _open(path, what, lossless=not isinstance(path, Image.Image))
    path = source_name(path)
    if kind == 'ade':
        if img.mode not in ('RGB', 'RGBA'):
            raise UserError(f'{what} {path} should be an RGB PNG with instance ids in the G channel (ADE20K format)')
        return np.asarray(img)[..., 1].astype(np.int64)
    if img.mode in ('RGB', 'RGBA'):
        raise UserError(f'{what} {path} is a colour image; give a 16-bit single-channel instanceIds PNG')
    return np.asarray(img).astype(np.int64)


def check_same_size(named_arrays):
    """named_arrays: list of (path, array). All must have the same H×W."""
    (p0, a0), rest = named_arrays[0], named_arrays[1:]
    for p, a in rest:
        if a.shape[:2] != a0.shape[:2]:
            raise UserError(f'size mismatch: {p} is {a.shape[1]}×{a.shape[0]} but {p0} is '
                            f'{a0.shape[1]}×{a0.shape[0]} (W×H); they must match')


# the image files this project reads and writes, by extension (datasets, mask folders, outputs)
IMAGE_FORMATS = {'.png': 'PNG', '.jpg': 'JPEG', '.jpeg': 'JPEG', '.bmp': 'BMP', '.webp': 'WEBP'}
IMAGE_EXTENSIONS = tuple(IMAGE_FORMATS)


def check_output_path(path, what='output'):
    """Refuse an output path that cannot be written, before any work is done (nothing is created)."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in IMAGE_FORMATS:
        raise UserError(f'cannot write {what} {path}: unknown image extension {ext!r} '
                        f'(use one of {", ".join(sorted(IMAGE_FORMATS))})')
    if os.path.isdir(path):
        raise UserError(f'{what} {path} is an existing folder; give a file name such as {os.path.join(path, "edited.png")}')
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UserError(f'cannot write {what} {path}: {parent} is a file, not a folder')
    return path


def save_image_atomic(array_rgb, path):
    """Write an H×W×3 (or H×W) uint8 image; the folder is created, the file appears whole or not at all."""
    check_output_path(path)
    fmt = IMAGE_FORMATS[os.path.splitext(path)[1].lower()]
    kwargs = {'quality': 95} if fmt == 'JPEG' else {}
    with atomic_path(path) as tmp:
        Image.fromarray(array_rgb).save(tmp, format=fmt, **kwargs)


def save_label_map(labels, path, colours=None):
    """Label ids (H×W, below 256) as an 8-bit PNG, atomically; ``colours``: (n, 3) uint8, the palette a
    paint program shows (each id its class's colour), the ids staying the pixel values."""
    if os.path.splitext(path)[1].lower() != '.png':
        raise UserError(f'label map {path}: write it as .png (lossless: the ids must survive)')
    check_output_path(path, 'label map')
    img = Image.fromarray(np.asarray(labels).astype(np.uint8), 'P' if colours is not None else 'L')
    if colours is not None:
        img.putpalette(np.asarray(colours, np.uint8)[:256].tobytes())
    with atomic_path(path) as tmp:
        img.save(tmp, format='PNG')


def save_instance_map(instances, path):
    """A Cityscapes instanceIds map (class·1000 + k) as a 16-bit PNG, atomically."""
    check_output_path(path, 'instance map')
    with atomic_path(path) as tmp:
        Image.fromarray(np.asarray(instances).astype(np.uint16)).save(tmp, format='PNG')
