"""Reference objects for SIEDOB's style branch: a wholly edited car or person is drawn in the style
of a reference object of its class (upstream ``fusion/dataset.py``: ``car_dir``, ``person_dir``, and
``fusion/example/object_style/`` at test time).

A reference folder holds, per class, crops and their instance masks with the same stem::

    <folder>/car/images/<stem>.jpg      <folder>/car/inst_mask/<stem>.png
    <folder>/person/images/<stem>.jpg   <folder>/person/inst_mask/<stem>.png

(an object dataset's split, ``object_datasets/<class>/<split>/``, has the same per-class layout).
References are listed sorted by file name, read as upstream (cars as stored, 64×64; persons,
stored 64×32, stretched to 64×64 bilinearly; masks nearest) and normalised to [−1, 1].
"""
import os

import numpy as np
import torch

from data.object_extraction import CLASS_NAMES, OBJECT_DIR, resize_bilinear, resize_nearest_legacy
from util.errors import UserError
from util.image_io import IMAGE_EXTENSIONS, read_image, read_mask
from util.tensors import image_to_tensor

SIZE = 64
MASK_DIRS = ('inst_mask', 'inst_map')


class ObjectReferences:
    """Per class (label id), the sorted reference crops of ``folders[c]`` (a folder holding
    ``images/`` and ``inst_mask/``), read when first needed."""

    def __init__(self, folders, color_order='bgr', source=None):
        self.folders = dict(folders)
        self.color_order = color_order
        self.source = source or ', '.join(sorted(set(os.path.dirname(f) for f in self.folders.values())))
        self._tensors = {}

    @classmethod
    def from_style_dir(cls, folder, color_order='bgr'):
        """``<folder>/<car|person>/{images,inst_mask}/`` (upstream's ``example/object_style/``)."""
        if not os.path.isdir(folder):
            raise UserError(f'--style_dir {folder} not found: it holds car/ and person/ folders, each with images/ '
                            f'and inst_mask/ (reference crops and their masks, same stems)')
        return cls({c: os.path.join(folder, name) for c, name in CLASS_NAMES.items()}, color_order, folder)

    @classmethod
    def from_object_dataset(cls, scene_root, split='train', color_order='bgr'):
        """A scene dataset's object crops (``<scene_root>/object_datasets/<class>/<split>/``)."""
        base = os.path.join(scene_root, OBJECT_DIR)
        return cls({c: os.path.join(base, name, split) for c, name in CLASS_NAMES.items()}, color_order, base)

    def entries(self, c):
        """[(image path, mask path)] of class ``c``, sorted by file name."""
        folder = self.folders.get(int(c))
        image_dir = os.path.join(folder, 'images') if folder else None
        if not image_dir or not os.path.isdir(image_dir):
            return []
        mask_dir = next((os.path.join(folder, d) for d in MASK_DIRS if os.path.isdir(os.path.join(folder, d))), None)
        names = sorted(f for f in os.listdir(image_dir) if f.lower().endswith(IMAGE_EXTENSIONS))
        if names and mask_dir is None:
            raise UserError(f'{folder}/inst_mask/ not found: each reference crop in {image_dir} needs its instance '
                            f'mask (same stem, .png)')
        return [(os.path.join(image_dir, n), os.path.join(mask_dir, os.path.splitext(n)[0] + '.png')) for n in names]

    def count(self, c):
        return len(self.entries(c))

    def missing(self, c):
        """The one-line error for an edit that needs a reference of class ``c`` and has none."""
        name = CLASS_NAMES.get(int(c), f'class {c}')
        folder = self.folders.get(int(c), os.path.join(self.source, name))
        return (f'no {name} references in {folder}/images/: the edit wholly covers a {name}, which is drawn in the '
                f'style of a reference {name}; put {name} crops (images/) and their masks (inst_mask/) there, or '
                f'give another --style_dir')

    def read(self, image_path, mask_path):
        """(3×64×64 image in [−1, 1], 1×64×64 mask) of one reference."""
        image = read_image(image_path, what='reference image')
        if not os.path.isfile(mask_path):
            raise UserError(f'{mask_path} not found: the instance mask of the reference {image_path} (same stem, .png)')
        mask = read_mask(mask_path, what='reference mask')
        if image.shape[:2] != mask.shape:
            raise UserError(f'size mismatch: the reference {image_path} is {image.shape[1]}×{image.shape[0]} but its '
                            f'mask {mask_path} is {mask.shape[1]}×{mask.shape[0]}')
        image = resize_bilinear(image, (SIZE, SIZE))
        mask = resize_nearest_legacy(mask, (SIZE, SIZE))
        return (image_to_tensor(image, self.color_order),
                torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None])

    def tensors(self, c):
        """(N×3×64×64, N×1×64×64) of every reference of class ``c``, in file-name order (read once)."""
        c = int(c)
        if c not in self._tensors:
            pairs = [self.read(*e) for e in self.entries(c)]
            if not pairs:
                raise UserError(self.missing(c))
            self._tensors[c] = (torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs]))
        return self._tensors[c]

    def on(self, device):
        """class -> (images, masks) on ``device``: what ``composition.compose`` asks for."""
        return lambda c: tuple(t.to(device) for t in self.tensors(c))

    def draw(self, c, rng, n):
        """``n`` references of class ``c`` drawn uniformly with replacement (upstream's ``random.randint``
        over the listing), as (n×3×64×64, n×1×64×64)."""
        entries = self.entries(c)
        if not entries:
            raise UserError(self.missing(c))
        picks = [self.read(*entries[rng.randrange(len(entries))]) for _ in range(n)]
        return torch.stack([p[0] for p in picks]), torch.stack([p[1] for p in picks])


def references_for(opt, color_order):
    """``--style_dir`` if given, else the dataset's object crops (``object_datasets/<class>/train/``),
    else the demo's (generated and cut on first use)."""
    from data import dataset_folder
    from data.demo import ensure_demo_dataset
    from data.object_extraction import write_object_dataset
    if getattr(opt, 'style_dir', None):
        return ObjectReferences.from_style_dir(opt.style_dir, color_order)
    if getattr(opt, 'dataset_name', None):
        root = os.path.join(opt.dataroot, dataset_folder(opt.dataset_name))
        if os.path.isdir(os.path.join(root, OBJECT_DIR)):
            return ObjectReferences.from_object_dataset(root, 'train', color_order)
    ensure_demo_dataset(opt.dataroot)
    root = os.path.join(opt.dataroot, 'demo')
    if not os.path.isdir(os.path.join(root, OBJECT_DIR)):
        write_object_dataset(root)
    return ObjectReferences.from_object_dataset(root, 'train', color_order)
