"""Random stand-ins for the pretrained networks, in the exact layouts of the real weight files.
Tests write them where the code looks for the real ones (a path flag, or the torch hub cache), so
the product reads them as it reads the real files, and nothing is downloaded."""
import os

import torch

from semedit.util.metrics import ALEXNET_FILE, INCEPTION_FILE, fid_inception_network


def kaiming_init(net, seed=0):
    """Seeded He-normal weights, zero biases: the features still vary from image to image (with a
    default init the deep Inception's features all but vanish), and two runs give equal numbers."""
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / m.weight[0].numel()) ** 0.5)
                if m.bias is not None:
                    m.bias.zero_()
    return net


def metric_stand_in_weights():
    """(Inception state dict as pytorch-fid's file, AlexNet ``features.*`` as torchvision's file)."""
    import torchvision
    alexnet = kaiming_init(torchvision.models.alexnet(weights=None)).state_dict()
    return (kaiming_init(fid_inception_network()).state_dict(),
            {k: v for k, v in alexnet.items() if k.startswith('features.')})


def write_metric_stand_ins(folder):
    """Both files under ``folder`` with the real files' names; returns (Inception path, AlexNet path)."""
    os.makedirs(folder, exist_ok=True)
    paths = os.path.join(folder, INCEPTION_FILE), os.path.join(folder, ALEXNET_FILE)
    for path, state in zip(paths, metric_stand_in_weights()):
        torch.save(state, path)
    return paths
