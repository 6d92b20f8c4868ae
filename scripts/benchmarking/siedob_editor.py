"""What the benchmark measures SIEDOB's editor on (``--model siedob``): a folder of the four parts
at the authors' widths (seeded random weights in their layout: inpainting 2·ngf, style, background
and fusion ngf), a 256² street with three objects the box mask edits in part, and four references
per class."""
import atexit
import os
import shutil
import tempfile

import numpy as np
import torch

from semedit.data.siedob_constants import CAR, OBJECT_ORDER, PERSON

_FOLDERS = {}


def part_widths(ngf):
    return {'object_inpainting': 2 * ngf, 'object_style': ngf, 'background': ngf, 'fusion': ngf}


def parts_folder(opt):
    """A folder with the four parts in the authors' layout (written once per process)."""
    key = (opt.ngf, opt.ndf, opt.label_nc)
    if key not in _FOLDERS:
        if not _FOLDERS:
            atexit.register(cleanup)
        folder = tempfile.mkdtemp(prefix='semedit_siedob_')
        write_parts(folder, opt)
        _FOLDERS[key] = folder
    return _FOLDERS[key]


def write_parts(folder, opt):
    """object_inpainting.pth, object_style.pth, bg.pth, Fnet.pth: N(0, 0.02) weights, small biases
    and unit u/v (as the SPM-PGAN example), in the authors' layout."""
    from semedit import models
    from semedit.models import legacy
    from semedit.models.networks.init import init_weights
    from semedit.models.legacy import SIEDOB_FILES
    from semedit.options import default_options
    from semedit.util.checkpoint import make_checkpoint
    for k, (stage, ngf) in enumerate(part_widths(opt.ngf).items()):
        torch.manual_seed(k)
        part_opt = default_options(False, model='siedob', stage=stage, dataset_name='cityscapes', ngf=ngf,
                                   label_nc=opt.label_nc)
        model = models.find_model_using_name('siedob', stage)(part_opt, torch.device('cpu'))
        nets = {}
        for name in model.inference_nets:
            net = init_weights(getattr(model, name), 'gaussian')
            sd = {}
            for key, v in net.state_dict().items():
                if key.endswith(('weight_u', 'weight_v')):
                    v = torch.randn(v.shape)
                    v = v / v.norm()
                elif key.endswith('.bias'):
                    v = torch.randn(v.shape) * 0.02
                sd[key] = v.clone()
            nets[name] = sd
        ckpt = make_checkpoint('siedob', model.arch(), nets, stage=stage)
        torch.save(legacy.to_upstream(ckpt), os.path.join(folder, SIEDOB_FILES[stage]))


# ---- the scene ----------------------------------------------------------------------------------------

def scene_arrays(size, mask):
    """(image uint8 RGB, label, instance, mask): sky, building, road, two cars and a person, each
    edited in part by the benchmark's box mask (``mask``: H×W float, the benchmark's mask family)."""
    h, w = size
    label = np.full((h, w), 7, np.int64)
    label[: h // 3] = 23
    label[h // 3: h // 2] = 11
    instance = label.copy()
    objects = ((CAR, 0, (0.58, 0.78, 0.16, 0.43)), (CAR, 1, (0.47, 0.66, 0.59, 0.90)),
               (PERSON, 0, (0.23, 0.59, 0.47, 0.55)))
    for cls, k, (r0, r1, c0, c1) in objects:
        win = (slice(int(r0 * h), int(r1 * h)), slice(int(c0 * w), int(c1 * w)))
        label[win] = cls
        instance[win] = cls * 1000 + k
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.stack([xx * 255 // w, yy * 255 // h, (label * 7) % 256], -1).astype(np.uint8)
    return image, label, instance, mask


def references(n=4, seed=0):
    """Per class, n reference crops (random images, an ellipse mask) as the fusion samples carry them."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 64), torch.linspace(-1, 1, 64), indexing='ij')
    ellipse = ((yy / 0.9) ** 2 + (xx / 0.7) ** 2 <= 1).float()[None]
    return {c: {'image': torch.rand(n, 3, 64, 64, generator=g) * 2 - 1, 'mask': ellipse.repeat(n, 1, 1, 1)}
            for c in OBJECT_ORDER}


def make_batch(n, size, mask):
    from semedit.util.tensors import image_to_tensor
    image, label, instance, mask = scene_arrays(size, mask)
    refs = references()
    return {'image': image_to_tensor(image)[None].repeat(n, 1, 1, 1) * 0.9,
            'label': torch.from_numpy(label)[None, None].repeat(n, 1, 1, 1),
            'instance': torch.from_numpy(instance)[None, None].repeat(n, 1, 1, 1),
            'mask': torch.from_numpy(mask)[None, None].repeat(n, 1, 1, 1),
            'refs': {c: {k: v[None].repeat(n, 1, 1, 1, 1) for k, v in r.items()} for c, r in refs.items()}}


def references_folder(folder):
    """``<folder>/refs/<car|person>/{images,inst_mask}/`` with 4 crops each (upstream's example layout)."""
    from PIL import Image
    refs = os.path.join(folder, 'refs')
    if os.path.isdir(refs):
        return refs
    rng = np.random.RandomState(0)
    for name, w in (('car', 64), ('person', 32)):
        for sub in ('images', 'inst_mask'):
            os.makedirs(os.path.join(refs, name, sub), exist_ok=True)
        for i in range(4):
            Image.fromarray((rng.rand(64, w, 3) * 255).astype(np.uint8)).save(
                os.path.join(refs, name, 'images', f'{i}.jpg'), quality=95)
            m = np.zeros((64, w), np.uint8)
            m[6:58, 3:w - 3] = 255
            Image.fromarray(m).save(os.path.join(refs, name, 'inst_mask', f'{i}.png'))
    return refs


def cleanup():
    for folder in _FOLDERS.values():
        shutil.rmtree(folder, ignore_errors=True)
    _FOLDERS.clear()
