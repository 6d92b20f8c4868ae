"""Evaluation metrics: FID (pytorch-fid's Inception), LPIPS (AlexNet), masked L1 / PSNR / SSIM.

Nothing downloads at run time. Each pretrained network reads a local file (by default the torch
hub cache path where the library would have put its download) and a missing file is a clear error
naming the file to fetch (tests write random stand-ins in the files' layouts, tests/standins.py).
"""
import os

import numpy as np
import torch

from semedit.util.errors import UserError

INCEPTION_URL = 'https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth'
INCEPTION_FILE = 'pt_inception-2015-12-05-6726825d.pth'
ALEXNET_URL = 'https://download.pytorch.org/models/alexnet-owt-7be5be79.pth'
ALEXNET_FILE = 'alexnet-owt-7be5be79.pth'


def hub_file(name):
    return os.path.join(torch.hub.get_dir(), 'checkpoints', name)


def _load_weights(path, url, what, flag):
    if not os.path.isfile(path):
        raise UserError(f'{what} weights not found: {path}. Download {url} to that path, or pass {flag} FILE')
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception:
        raise UserError(f'cannot read {what} weights {path}; re-download {url}') from None


# ---- FID ------------------------------------------------------------------------------------

def fid_inception_network():
    """pytorch-fid's FID Inception (the architecture of its weights file), without weights."""
    import pytorch_fid.inception as inc
    net = inc._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = inc.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = inc.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = inc.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = inc.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = inc.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = inc.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = inc.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = inc.FIDInceptionE_1(1280)
    net.Mixed_7c = inc.FIDInceptionE_2(2048)
    return net


def build_fid_inception(weights_path=None):
    """pytorch-fid's InceptionV3 (2048-d pool3 features) with its weights read from a local file."""
    import pytorch_fid.inception as inc

    def local_fid_inception_v3():
        net = fid_inception_network()
        path = weights_path or hub_file(INCEPTION_FILE)
        state = _load_weights(path, INCEPTION_URL, 'FID Inception', '--inception_path')
        try:
            net.load_state_dict(state)
        except RuntimeError:
            raise UserError(f'{path} is not the pytorch-fid Inception checkpoint; re-download {INCEPTION_URL}') from None
        return net

    original = inc.fid_inception_v3
    inc.fid_inception_v3 = local_fid_inception_v3  # InceptionV3 looks it up at construction
    try:
        model = inc.InceptionV3([inc.InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=True,
                                normalize_input=True, use_fid_inception=True)
    finally:
        inc.fid_inception_v3 = original
    return model.eval()


class FID:
    """Fréchet Inception distance between two image sets.

    Upstream read both sets with OpenCV, so Inception saw **BGR** images (``metrics/fid_score.py``);
    ``color_order='bgr'`` reproduces the paper's numbers, ``'rgb'`` is the standard FID."""

    def __init__(self, device, weights_path=None, color_order='bgr', batch_size=8):
        self.net = build_fid_inception(weights_path).to(device)
        self.device = device
        self.color_order = color_order
        self.batch_size = batch_size

    @torch.no_grad()
    def features(self, images):
        """images: iterable of H×W×3 uint8 RGB arrays -> N×2048 float64."""
        feats, batch = [], []

        def flush():
            x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float().div(255).to(self.device)
            if self.color_order == 'bgr':
                x = x.flip(1)
            feats.append(self.net(x)[0].squeeze(-1).squeeze(-1).double().cpu().numpy())
            batch.clear()

        for im in images:
            batch.append(im)
            if len(batch) == self.batch_size:
                flush()
        if batch:
            flush()
        return np.concatenate(feats) if feats else np.zeros((0, 2048))

    @staticmethod
    def statistics(feats):
        return feats.mean(0), np.cov(feats, rowvar=False)

    def distance(self, images_a, images_b):
        import warnings
        from pytorch_fid.fid_score import calculate_frechet_distance
        fa, fb = self.features(images_a), self.features(images_b)
        if len(fa) < 2 or len(fb) < 2:
            raise UserError('FID needs at least two images in each set')
        with warnings.catch_warnings():  # fewer images than 2048 features: singular covariances
            warnings.simplefilter('ignore')
            return float(calculate_frechet_distance(*self.statistics(fa), *self.statistics(fb)))


# ---- LPIPS ----------------------------------------------------------------------------------

# lpips' AlexNet slices hold torchvision alexnet.features layers 0-1, 2-4, 5-7, 8-9, 10-11.
LPIPS_SLICES = {1: range(0, 2), 2: range(2, 5), 3: range(5, 8), 4: range(8, 10), 5: range(10, 12)}


class LPIPS:
    """LPIPS v0.1 with the AlexNet backbone. The linear heads ship inside the lpips package; the
    AlexNet ImageNet weights are read from a local file (torchvision's alexnet-owt-7be5be79.pth)."""

    def __init__(self, device, backbone_path=None):
        import warnings
        import lpips
        with warnings.catch_warnings():  # lpips passes torchvision's deprecated `pretrained=`
            warnings.simplefilter('ignore', UserWarning)
            self.net = lpips.LPIPS(net='alex', pretrained=True, pnet_rand=True, verbose=False)
        path = backbone_path or hub_file(ALEXNET_FILE)
        state = _load_weights(path, ALEXNET_URL, 'LPIPS AlexNet', '--lpips_backbone_path')
        for slice_id, layers in LPIPS_SLICES.items():
            block = getattr(self.net.net, f'slice{slice_id}')
            for i in layers:
                layer = getattr(block, str(i))
                if hasattr(layer, 'weight'):
                    try:
                        layer.weight.data.copy_(state[f'features.{i}.weight'])
                        layer.bias.data.copy_(state[f'features.{i}.bias'])
                    except (KeyError, RuntimeError):
                        raise UserError(f'{path} is not a torchvision AlexNet checkpoint; re-download '
                                        f'{ALEXNET_URL}') from None
        self.net = self.net.to(device).eval()
        self.device = device

    @torch.no_grad()
    def __call__(self, a, b):
        """a, b: H×W×3 uint8 RGB -> float distance."""
        ta = torch.from_numpy(a).permute(2, 0, 1)[None].float().div(127.5).sub(1).to(self.device)
        tb = torch.from_numpy(b).permute(2, 0, 1)[None].float().div(127.5).sub(1).to(self.device)
        return float(self.net(ta, tb).mean())


# ---- masked pixel metrics -------------------------------------------------------------------
# SSIM and PSNR come from scikit-image (skimage.metrics), with the conventions of Wang et al. 2004:
# an 11×11 Gaussian window (σ 1.5), K1 0.01, K2 0.03, data range 1, population (not sample)
# covariances; borders filtered as scipy.ndimage's 'reflect' (the edge pixel repeated).

SSIM_OPTIONS = dict(channel_axis=2, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                    K1=0.01, K2=0.03)


def ssim_map(a, b):
    """Per-pixel SSIM averaged over channels (scikit-image's ``structural_similarity(full=True)``
    map); a, b: H×W×3 float64 in [0, 1], at least 11 pixels on each side."""
    from skimage.metrics import structural_similarity
    _, full = structural_similarity(a, b, full=True, **SSIM_OPTIONS)
    return full.mean(2)


def masked_metrics(output, target, mask):
    """L1, PSNR (dB) and SSIM inside the edited region (mask > 0.5); images H×W×3 uint8, scaled to
    [0, 1]. L1 and PSNR are over the region's pixels and channels (PSNR: scikit-image's
    ``peak_signal_noise_ratio`` on them, data range 1); SSIM is the mean of the per-pixel SSIM map of
    the whole image over the region. An empty mask gives NaN (nothing was edited)."""
    from skimage.metrics import peak_signal_noise_ratio
    m = mask > 0.5
    if not m.any():
        return {'l1': float('nan'), 'psnr': float('nan'), 'ssim': float('nan')}
    a = output.astype(np.float64) / 255
    b = target.astype(np.float64) / 255
    with np.errstate(divide='ignore'):  # identical regions: infinite PSNR
        psnr = peak_signal_noise_ratio(b[m], a[m], data_range=1.0)
    return {'l1': float(np.abs(a[m] - b[m]).mean()), 'psnr': float(psnr), 'ssim': float(ssim_map(a, b)[m].mean())}
