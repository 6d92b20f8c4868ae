"""The FID oracle of the metric tests: the Fréchet distance written out in numpy, and a tiny
stand-in for pytorch-fid's Inception that records what it is shown (tests/common/test_metrics.py,
tests/siedob/test_fusion_stage.py)."""
import numpy as np
import torch
from PIL import Image

import semedit.util.metrics

EPS64 = np.finfo(np.float64).eps


def read_rgb(path):
    with Image.open(path) as im:
        return np.asarray(im.convert('RGB'))


def as_seen(images_rgb, order):
    """The images as Inception must see them: upstream's OpenCV reads gave it BGR."""
    return [im[..., ::-1] if order == 'bgr' else im for im in images_rgb]


# ---- the Fréchet distance, written out --------------------------------------------------------

def frechet(fa, fb):
    """(FID, bound on the product's error) of two feature sets (rows: images).

    d² = |μa − μb|² + tr Σa + tr Σb − 2 tr √(Σa Σb), with tr √(Σa Σb) = ‖A Bᵀ‖_* / √((n−1)(m−1))
    for the centred features A, B (the nonzero eigenvalues of Σa Σb are those of (ABᵀ)(ABᵀ)ᵀ over
    (n−1)(m−1)): exact, no matrix square root. The product takes scipy's sqrtm of the d×d ΣaΣb
    (pytorch-fid): rounding moves each of its d eigenvalues by about u·‖ΣaΣb‖, and the root of one
    at or near 0 (fewer images than features) by up to √(u·‖ΣaΣb‖); so its trace errs by at most
    d·√(u·‖ΣaΣb‖) and the FID by twice that (measured at d 2048, 4 to 6 images a set: 2e-5 against
    4e-4 to 5e-4). Features computed in another process may differ by float32 rounding (~1e-7 of
    them), which moves the FID by about as much of its terms, far inside the bound."""
    A, B = fa - fa.mean(0), fb - fb.mean(0)
    c = (len(fa) - 1) * (len(fb) - 1)
    s = np.linalg.svd(A @ B.T, compute_uv=False)
    value = (((fa.mean(0) - fb.mean(0)) ** 2).sum() + (A ** 2).sum() / (len(fa) - 1) + (B ** 2).sum() / (len(fb) - 1)
             - 2 * s.sum() / np.sqrt(c))
    return float(value), 2 * fa.shape[1] * float(np.sqrt(EPS64 * s.max() ** 2 / c))


def colour_statistics(images_hwc):
    """The tiny stand-in's features: per image the three channel means, the mean square of the first
    channel and the mean products of channels 0·1 and 1·2 (a swap of channels 0 and 2 changes them)."""
    out = []
    for im in images_hwc:
        x = im.astype(np.float64) / 255
        c0, c1, c2 = x[..., 0], x[..., 1], x[..., 2]
        out.append([c0.mean(), c1.mean(), c2.mean(), (c0 * c0).mean(), (c0 * c1).mean(), (c1 * c2).mean()])
    return np.array(out)


class TinyInception(torch.nn.Module):
    """In place of pytorch-fid's InceptionV3 (which returns [N×2048×1×1]): records the images it is
    shown (their exact uint8 levels, H×W×3 in the channel order it was given) and returns their
    ``colour_statistics`` as [N×6×1×1]."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        levels = torch.round(x.double() * 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        self.seen.extend(levels)
        return [torch.from_numpy(colour_statistics(levels))[:, :, None, None]]


def use_tiny_inception(monkeypatch):
    """A TinyInception as FID's network, wherever the product builds it (semedit.util.metrics.build_fid_inception)."""
    net = TinyInception()
    monkeypatch.setattr(semedit.util.metrics, 'build_fid_inception', lambda weights_path=None: net)
    return net


def assert_seen(net, expected):
    assert len(net.seen) == len(expected)
    assert all(np.array_equal(s, e) for s, e in zip(net.seen, expected))
