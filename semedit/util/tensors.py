"""Tensor helpers shared by the datasets, the models and the visualiser: normalisation, one-hot,
edge maps."""
import numpy as np
import torch

from semedit.util.errors import UserError


def image_to_tensor(image_rgb, color_order='bgr'):
    """H×W×3 uint8 RGB -> 3×H×W float in [-1, 1] (x/255*2-1, as upstream's ``dataset.py``) in the network's order."""
    if color_order == 'bgr':
        image_rgb = image_rgb[..., ::-1]
    t = torch.from_numpy(np.ascontiguousarray(image_rgb)).permute(2, 0, 1).float()
    return t.div(255.0).sub(0.5).div(0.5)


def tensor_to_image(t, color_order='bgr', rounding=False):
    """3×H×W in [-1, 1] (network order) -> H×W×3 uint8 RGB. Upstream's tensor2im (``utils.py``): (x+1)/2·255,
    clip, *truncate*, which can lose one grey level of an unchanged pixel;
    ``rounding=True`` (``--quantize round``) is the fix and returns known pixels exactly."""
    a = ((t.detach().float().cpu() + 1) / 2 * 255).clamp(0, 255)
    if rounding:
        a = a.round()
    a = a.permute(1, 2, 0).numpy().astype(np.uint8)
    if color_order == 'bgr':
        a = a[..., ::-1]
    return np.ascontiguousarray(a)


def swap_color_order(t):
    """RGB <-> BGR on a N×3×H×W (or 3×H×W) tensor."""
    return t.flip(-3)


def one_hot(label, label_nc, source='label map'):
    """N×1×H×W long ids -> N×L×H×W float one-hot. An id ≥ L is an index error in upstream's
    one-hot (``trainer.py: set_input``); here it is a clear message."""
    top = int(label.max()) if label.numel() else 0
    low = int(label.min()) if label.numel() else 0
    if top >= label_nc or low < 0:
        bad = top if top >= label_nc else low
        raise UserError(f'{source} contains label id {bad} but label_nc is {label_nc}: ids must be '
                        f'0..{label_nc - 1}. Use the right --dataset_name / --label_nc, or remap the labels.')
    out = torch.zeros(label.shape[0], label_nc, *label.shape[2:], device=label.device)
    return out.scatter_(1, label.long(), 1.0)


def edge_map(ids):
    """1 where a pixel differs from its left, right, upper or lower neighbour, as upstream's
    ``get_edges`` in ``trainer.py``: a symmetric two-pixel-wide boundary.
    ids: N×1×H×W integer tensor -> float tensor."""
    e = torch.zeros_like(ids, dtype=torch.bool)
    dx = ids[..., :, 1:] != ids[..., :, :-1]
    e[..., :, 1:] |= dx
    e[..., :, :-1] |= dx
    dy = ids[..., 1:, :] != ids[..., :-1, :]
    e[..., 1:, :] |= dy
    e[..., :-1, :] |= dy
    return e.float()
