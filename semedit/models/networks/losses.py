"""Losses: hinge GAN and VGG19 perceptual (upstream ``loss.py``).

The VGG weights never download at run time: they are read from a local file (by default the torch
hub cache path torchvision would use) and a missing file is a clear error naming what to fetch.
"""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from semedit.util.errors import UserError

VGG19_URL = 'https://download.pytorch.org/models/vgg19-dcbb9e9d.pth'
VGG19_FILE = 'vgg19-dcbb9e9d.pth'


class HingeGANLoss(nn.Module):
    """Hinge loss averaged over every element of the score map, as upstream's ``GANLoss('hinge')``."""

    def forward(self, scores, target_is_real, for_discriminator=True):
        if for_discriminator:
            if target_is_real:
                return F.relu(1 - scores).mean()
            return F.relu(1 + scores).mean()
        return -scores.mean()


def default_vgg_path():
    return os.path.join(torch.hub.get_dir(), 'checkpoints', VGG19_FILE)


def build_vgg19_features(weights_path=None):
    """torchvision VGG19 ``features`` (layers 0-29 are all that is used) with the ImageNet weights
    read from a local file (default: where torchvision would have downloaded them)."""
    import torchvision
    features = torchvision.models.vgg19(weights=None).features
    path = weights_path or default_vgg_path()
    if not os.path.isfile(path):
        raise UserError(
            f'VGG19 weights not found: {path}. Download {VGG19_URL} to that path (or pass '
            f'--vgg_path FILE), or train without the perceptual loss with --lambda_vgg 0.')
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:  # corrupt or not a torch file
        raise UserError(f'cannot read VGG19 weights {path}: {exc}. Re-download {VGG19_URL}.') from None
    feats = {k[len('features.'):]: v for k, v in state.items() if k.startswith('features.')}
    if not feats:  # a bare features state dict
        feats = state
    try:
        features.load_state_dict(feats)
    except RuntimeError as exc:
        raise UserError(f'{path} is not a torchvision VGG19 checkpoint ({str(exc).splitlines()[0]}). '
                        f'Re-download {VGG19_URL}.') from None
    return features


class VGGLoss(nn.Module):
    """Σ_i w_i · mean|φ_i(x) − φ_i(y)| over relu1_1 … relu5_1 with weights 1/32 … 1 (upstream ``VGGLoss``).

    The input goes in as given ([-1, 1], the network's colour order): upstream applies no ImageNet
    normalisation and no channel swap."""

    SLICES = ((0, 2), (2, 7), (7, 12), (12, 21), (21, 30))
    WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)

    def __init__(self, features):
        super().__init__()
        self.slices = nn.ModuleList(nn.Sequential(*[features[i] for i in range(a, b)]) for a, b in self.SLICES)
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def train(self, mode=True):  # always frozen
        return super().train(False)

    def features(self, x):
        out = []
        for s in self.slices:
            x = s(x)
            out.append(x)
        return out

    def forward(self, x, y=None, y_features=None):
        """``y_features`` lets the caller reuse the target's features (computed once per iteration)."""
        if y_features is None:
            with torch.no_grad():
                y_features = self.features(y)
        loss = x.new_zeros(())
        for w, fx, fy in zip(self.WEIGHTS, self.features(x), y_features):
            loss = loss + w * F.l1_loss(fx, fy.detach())
        return loss
