"""Any image size at test time: resize to a working size the model accepts (its ``size_rule``,
``util/sizes.py``), run, resize the result back and paste it only inside the mask, so known
pixels stay identical to the input."""
import numpy as np
from PIL import Image

from semedit.util.errors import UserError


def parse_wxh(value, flag):
    """'256' -> (256, 256); '512x256' (W×H, as image sizes are written) -> (h, w) = (256, 512)."""
    text = str(value).lower().replace('×', 'x')
    try:
        w, h = (int(v) for v in text.split('x')) if 'x' in text else (int(text), int(text))
    except ValueError:
        raise UserError(f'{flag} {value!r}: give N or WxH, e.g. 256 or 512x256') from None
    return h, w


def resize_image(a, size, resample=Image.BICUBIC):
    """H×W×3 uint8 -> size (h, w); bicubic with PIL's antialiasing when shrinking."""
    h, w = size
    if a.shape[:2] == (h, w):
        return a
    return np.asarray(Image.fromarray(a).resize((w, h), resample))


def resize_nearest(a, size):
    """Label ids, instance ids, masks: nearest neighbour, values never interpolated."""
    h, w = size
    if a.shape[:2] == (h, w):
        return a
    # sample at pixel centres (as PIL's NEAREST), so labels stay aligned with the resized image
    rows = np.minimum(((2 * np.arange(h) + 1) * a.shape[0]) // (2 * h), a.shape[0] - 1)
    cols = np.minimum(((2 * np.arange(w) + 1) * a.shape[1]) // (2 * w), a.shape[1] - 1)
    return a[rows][:, cols]


def resize_mask(mask, size):
    """Float {0,1} mask -> size; a pixel is edited if any source pixel it covers is (no hole shrinks
    away), which guarantees the pasted region covers what the generator was asked to repaint."""
    h, w = size
    if mask.shape == (h, w):
        return mask
    img = Image.fromarray((mask * 255).astype(np.uint8)).resize((w, h), Image.BOX)
    return (np.asarray(img) > 0).astype(np.float32)


def paste_back(original, generated_small, mask):
    """Resize the generated image to the original size and keep it only where mask == 1."""
    h, w = original.shape[:2]
    big = resize_image(generated_small, (h, w))
    keep = mask[..., None] > 0.5
    return np.where(keep, big, original)
