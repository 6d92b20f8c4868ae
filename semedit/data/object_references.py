"""Reference objects for SIEDOB's style branch: a wholly edited car or person is drawn in the style
of a reference object of its class (upstream ``fusion/dataset.py``: ``car_dir``, ``person_dir``, and
``fusion/example/object_style/`` at test time).

A reference folder holds, per class, crops and their instance masks with the same stem::

    <folder>/car/images/<stem>.jpg      <folder>/car/inst_mask/<stem>.png
    <folder>/person/images/<stem>.jpg   <folder>/person/inst_mask/<stem>.png

(an object dataset's split, ``object_datasets/<class>/<split>/``, has the same per-class layout).
References are listed sorted by file name, read as upstream (cars as stored, 64×64; persons,
stored 64×32, stretched to 64×64 bilinearly; masks nearest) and normalised to [−1, 1].

Where an edit takes them from is explicit (``references_for``): ``--style_dir``, else the
references a fusion run's folder carries (``references/``, copied there when its training starts),
else the dataset's object crops. Editing only reads them: nothing is generated or cut.
"""
import os
import shutil
import tempfile

import torch

from semedit.data.object_dataset import crop_tensors, list_crops, read_crop
from semedit.data.siedob_constants import CLASS_NAMES, OBJECT_DIR
from semedit.util.errors import UserError

#: the folder of a fusion run that carries its references
RUN_REFERENCES = 'references'
#: the most references per class a run folder carries (evenly spaced over the sorted crops): the
#: demo's all, a sample of Cityscapes' thousands
KEPT_PER_CLASS = 256


class ObjectReferences:
    """Per class (label id), the sorted reference crops of ``folders[c]`` (a folder holding
    ``images/`` and ``inst_mask/``), read when first needed. ``source`` names where they come from
    in the error for a class without any."""

    def __init__(self, folders, color_order='bgr', source='no reference folder given', give='--style_dir DIR'):
        self.folders = dict(folders)
        self.color_order = color_order
        self.source = source
        self.give = give  # how the error for a class without references says to give some
        self._tensors = {}

    @classmethod
    def from_folder(cls, folder, color_order='bgr', give='--style_dir DIR'):
        """``<folder>/<car|person>/{images,inst_mask}/`` (upstream's ``example/object_style/``)."""
        return cls({c: os.path.join(folder, name) for c, name in CLASS_NAMES.items()}, color_order, folder, give)

    @classmethod
    def from_pairs(cls, pairs, color_order='bgr', give='--style_dir DIR'):
        """{class id: [(image, instance mask)]}, each a file, a PIL image or an array (the Python
        API), read as a crop of a reference folder is."""
        refs = cls({}, color_order, 'none given for this class', give)
        for c, items in pairs.items():
            crops = [crop_tensors(*read_crop(image, mask, what=f'{CLASS_NAMES[c]} reference {k}'), color_order)
                     for k, (image, mask) in enumerate(items)]
            if crops:
                refs._tensors[int(c)] = (torch.stack([x for x, _ in crops]), torch.stack([m for _, m in crops]))
        return refs

    @classmethod
    def from_object_dataset(cls, scene_root, split='train', color_order='bgr'):
        """A scene dataset's object crops (``<scene_root>/object_datasets/<class>/<split>/``)."""
        base = os.path.join(scene_root, OBJECT_DIR)
        return cls({c: os.path.join(base, name, split) for c, name in CLASS_NAMES.items()}, color_order, base)

    def entries(self, c):
        """[(image path, mask path)] of class ``c``, sorted by file name."""
        folder = self.folders.get(int(c))
        return list_crops(folder) if folder else []

    def count(self, c):
        return len(self.entries(c))

    def missing(self, c):
        """The one-line error for an edit that needs a reference of class ``c`` and has none."""
        name = CLASS_NAMES.get(int(c), f'class {c}')
        folder = self.folders.get(int(c))
        where = f'in {folder}/images/' if folder else f'({self.source})'
        return (f'no {name} references {where}: the edit wholly covers a {name}, which is drawn in the style of a '
                f'reference {name}; give {self.give} holding {name}/images/ and {name}/inst_mask/ (crops and '
                f'their masks, same stems)')

    def read(self, image_path, mask_path):
        """(3×64×64 image in [−1, 1], 1×64×64 mask) of one reference."""
        image, mask = read_crop(image_path, mask_path, what='reference')
        return crop_tensors(image, mask, self.color_order)

    def tensors(self, c):
        """(N×3×64×64, N×1×64×64) of every reference of class ``c``, in file-name order (read once)."""
        c = int(c)
        if c not in self._tensors:
            self._tensors[c] = self._stack(self.entries(c), c)
        return self._tensors[c]

    def _stack(self, entries, c):
        pairs = [self.read(*e) for e in entries]
        if not pairs:
            raise UserError(self.missing(c))
        return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])

    def on(self, device):
        """class -> (images, masks) on ``device``: what ``composition.compose`` asks for."""
        return lambda c: tuple(t.to(device) for t in self.tensors(c))

    def draw(self, c, rng, n):
        """``n`` references of class ``c`` drawn uniformly with replacement (upstream's ``random.randint``
        over the listing), as (n×3×64×64, n×1×64×64)."""
        entries = self.entries(c)
        if not entries:
            raise UserError(self.missing(c))
        return self._stack([entries[rng.randrange(len(entries))] for _ in range(n)], c)

    def keep(self, folder, per_class=KEPT_PER_CLASS):
        """Copy up to ``per_class`` references of each class (all when there are no more, else evenly
        spaced over the sorted list, names kept so the order stays) to ``<folder>/<class>/``, which
        replaces ``folder`` as a whole (written beside it, then renamed)."""
        parent, name = os.path.split(os.path.abspath(folder))
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=f'.{name}.', dir=parent)
        try:
            for c, class_name in CLASS_NAMES.items():
                entries = self.entries(c)
                if len(entries) > per_class:
                    entries = [entries[i * len(entries) // per_class] for i in range(per_class)]
                for image, mask in entries:
                    for path, sub in ((image, 'images'), (mask, 'inst_mask')):
                        os.makedirs(os.path.join(staging, class_name, sub), exist_ok=True)
                        shutil.copyfile(path, os.path.join(staging, class_name, sub, os.path.basename(path)))
            old = staging + '.old'
            if os.path.isdir(folder):
                os.replace(folder, old)
            os.replace(staging, folder)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def add_style_dir_option(group, is_train):
    """--style_dir: the references of the fusion stage's training samples, or of test.py's edits."""
    layout = '<dir>/<car|person>/{images,inst_mask}/<stem>.{jpg,png} (upstream fusion/example/object_style/)'
    if is_train:
        use = (f'the references the training samples draw from, with replacement: {layout}. Default: the '
               f'dataset\'s object crops (object_datasets/<class>/train/; the demo\'s are cut on first use)')
    else:
        use = (f'references for wholly edited objects: {layout}; sorted by file name, object k of a class takes '
               f'reference k mod N. Default: the references/ a fusion run\'s folder carries, else the dataset\'s '
               f'object crops (object_datasets/<class>/train/ of --dataroot, --dataset_name)')
    group.add_argument('--style_dir', default=None, help=use)


def references_for(opt, color_order, run_folder=None, dataset=True, give='--style_dir DIR'):
    """The references an edit takes: ``--style_dir`` if given, else those the fusion run's folder
    carries (``<run_folder>/references/``), else (``dataset``: test.py, not the Python API) the
    dataset's object crops (``object_datasets/<class>/train/`` of --dataroot / --dataset_name). None
    of them is an error only when an edit needs a reference (``ObjectReferences.missing``, which
    says to ``give``)."""
    from semedit.data import dataset_folder
    if getattr(opt, 'style_dir', None):
        if not os.path.isdir(opt.style_dir):
            raise UserError(f'--style_dir {opt.style_dir} not found: it holds car/ and person/ folders, each with '
                            f'images/ and inst_mask/ (reference crops and their masks, same stems)')
        return ObjectReferences.from_folder(opt.style_dir, color_order, give)
    carried = os.path.join(run_folder, RUN_REFERENCES) if run_folder else None
    if carried and os.path.isdir(carried):
        return ObjectReferences.from_folder(carried, color_order, give)
    if not dataset:
        return ObjectReferences({}, color_order, 'none given', give)
    if getattr(opt, 'dataset_name', None):
        root = os.path.join(opt.dataroot, dataset_folder(opt.dataset_name))
        if os.path.isdir(os.path.join(root, OBJECT_DIR)):
            return ObjectReferences.from_object_dataset(root, 'train', color_order)
    looked = [p for p in (carried, os.path.join(getattr(opt, 'dataroot', '.'), '<dataset>', OBJECT_DIR)) if p]
    return ObjectReferences({}, color_order, 'none in ' + ' or '.join(looked))
