"""A SIEDOB checkpoint folder for tests: the four parts at tiny widths, seeded random weights, saved in
our format or the authors' layout (upstream fusion/submodels/), and small scenes to edit."""
import os

import numpy as np
import torch
from PIL import Image

from models import find_model_using_name, legacy
from options import default_options
from util.checkpoint import make_checkpoint, save_checkpoint

CPU = torch.device('cpu')
#: tiny widths per stage (the authors': inpainting 64, style 32, background 32, fusion 32)
WIDTHS = {'object_inpainting': 4, 'object_style': 4, 'background': 4, 'fusion': 4}
FILES = {'object_inpainting': 'object_inpainting.pth', 'object_style': 'object_style.pth', 'background': 'bg.pth',
         'fusion': 'Fnet.pth'}


def part_checkpoint(stage, seed=0, ngf=None):
    """Our native checkpoint of a stage's generator (random weights, seeded)."""
    torch.manual_seed(seed + sorted(FILES).index(stage))
    opt = default_options(False, model='siedob', stage=stage, dataset_name='cityscapes', ngf=ngf or WIDTHS[stage])
    model = find_model_using_name('siedob', stage)(opt, CPU)
    nets = {n: {k: v.clone() for k, v in getattr(model, n).state_dict().items()} for n in model.inference_nets}
    # non-trivial spectral-norm vectors and biases, so that a dropped or mis-mapped entry shows
    for sd in nets.values():
        for k, v in sd.items():
            if k.endswith('.bias'):
                v.normal_(0, 0.1)
    return make_checkpoint('siedob', model.arch(), nets, stage=stage)


def write_parts(folder, layout='ours', seed=0, fusion_name=None):
    """The four files in ``folder`` (our format or the authors' layout); returns their paths."""
    os.makedirs(folder, exist_ok=True)
    paths = {}
    for stage, name in FILES.items():
        ckpt = part_checkpoint(stage, seed)
        path = os.path.join(folder, fusion_name if stage == 'fusion' and fusion_name else name)
        if layout == 'authors':
            torch.save(legacy.to_upstream(ckpt), path)
        else:
            save_checkpoint(ckpt, path)
        paths[stage] = path
    return paths


def scene(size=(64, 64), cars=((10, 30, 8, 30, True),), persons=(), seed=0):
    """(image uint8 RGB, label, instance, mask) of a street with rectangular objects; each object is
    (r0, r1, c0, c1, wholly_masked): wholly masked ones lie inside the mask, partly masked ones
    stick out of it."""
    h, w = size
    rng = np.random.RandomState(seed)
    label = np.full((h, w), 7, np.int64)       # road
    label[: h // 3] = 23                         # sky
    label[h // 3: h // 2] = 11                   # building
    instance = label.copy()
    mask = np.zeros((h, w), np.float32)
    for k, (cls, objects) in enumerate(((26, cars), (24, persons))):
        for j, (r0, r1, c0, c1, whole) in enumerate(objects):
            label[r0:r1, c0:c1] = cls
            instance[r0:r1, c0:c1] = cls * 1000 + j
            if whole:
                mask[max(0, r0 - 3):r1 + 3, max(0, c0 - 3):c1 + 3] = 1
            else:
                mask[r0:(r0 + r1) // 2 + 1, c0:c1] = 1
    image = (rng.rand(h, w, 3) * 80 + label[..., None] * 5).clip(0, 255).astype(np.uint8)
    return image, label, instance, mask


def write_scene(folder, size=(64, 64), **kw):
    """The scene's files as test.py reads them: JPEG image, 8-bit labels, 16-bit instances, 0/255 mask."""
    image, label, instance, mask = scene(size, **kw)
    os.makedirs(folder, exist_ok=True)
    paths = {k: os.path.join(folder, f'{k}.png') for k in ('image', 'label', 'instance', 'mask')}
    Image.fromarray(image).save(paths['image'])
    Image.fromarray(label.astype(np.uint8)).save(paths['label'])
    Image.fromarray(instance.astype(np.uint16)).save(paths['instance'])
    Image.fromarray((mask * 255).astype(np.uint8)).save(paths['mask'])
    return paths


def write_references(folder, counts=None, seed=0):
    """``<folder>/<car|person>/{images,inst_mask}/`` with ``counts`` {name: n} crops (64×64 cars, 64×32 persons)."""
    rng = np.random.RandomState(seed)
    for name, n in (counts or {'car': 2, 'person': 2}).items():
        w = 64 if name == 'car' else 32
        for i in range(n):
            img = (rng.rand(64, w, 3) * 255).astype(np.uint8)
            m = np.zeros((64, w), np.uint8)
            m[8:56, 4:w - 4] = 255
            for sub, arr in (('images', img), ('inst_mask', m)):
                os.makedirs(os.path.join(folder, name, sub), exist_ok=True)
                Image.fromarray(arr).save(os.path.join(folder, name, sub, f'{name}_{i:02d}.' + ('jpg' if sub == 'images'
                                                                                            else 'png')))
    return folder
