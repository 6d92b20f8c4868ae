"""Fixtures of the SIEDOB tests."""
import pytest
import torch


@pytest.fixture(scope='session')
def vgg_standin():
    """A stand-in for VGG19's ``features`` (torchvision's own ``make_layers``, layer for layer the
    same stack: relu1_1 ... relu5_1 at indices 1, 6, 11, 20, 29) at 1/8 of its widths, seeded He
    weights: what the VGG loss computes is checked, not the pretrained weights, and no file is read."""
    from torchvision.models.vgg import cfgs, make_layers
    from standins import kaiming_init
    narrow = [c if c == 'M' else c // 8 for c in cfgs['E']]
    features = kaiming_init(make_layers(narrow), seed=1).eval()
    assert len(features) == 37 and all(isinstance(features[i], torch.nn.ReLU) for i in (1, 6, 11, 20, 29))
    return features
