"""SIEDOB's object datasets (upstream ``instance_inpainting/dataset.py`` and ``instance_style/
dataset.py``): car and person crops with their instance masks, in
``<dataroot>/<dataset folder>/object_datasets/{car,person}/{train,test}/{images,inst_mask}/``
(``scripts/prepare_object_dataset.py`` writes them; the demo data's are cut on first use).

Per item, at 64×64 (persons, stored 64×32, are stretched ×2 horizontally as upstream): ``image`` X
(the crop), ``inst_mask`` K, ``class_map`` C = K × v (``data/siedob_constants.py``), ``label`` (the
class) and, for object inpainting, ``mask`` M·K: SIEDOB's hole (a brush stroke for index % 3 in
(0, 1), a side band for 2), restricted to the object. Training crops are augmented as upstream:
with probability 0.5 resized to 72×72 and cropped back to 64×64 at a random offset, then flipped
with probability 0.5. Each class's crops are listed 10 times, cut to 10,000 items (upstream's
epoch; ``--no_object_repeat`` lists each crop once).
"""
import os

import numpy as np
import torch

from semedit.data import dataset_folder, masks as mask_gen
from semedit.data.object_extraction import resize_bilinear, resize_nearest_legacy, write_object_dataset
from semedit.data.scene_dataset import sample_rngs
from semedit.data.scene_objects import BACKGROUND_RULES
from semedit.data.siedob_constants import (CLASS_NAMES, CROP_SIZE, EVAL_MASK_DIR, MASK_DIRS, OBJECT_DIR, OBJECT_ORDER,
                                   class_map)
from semedit.util.errors import UserError
from semedit.util.image_io import IMAGE_EXTENSIONS, image_size, read_image, read_mask, source_name
from semedit.util.tensors import image_to_tensor

REPEAT, ITEMS_PER_CLASS = 10, 10_000


def list_crops(folder):
    """[(image path, mask path)] of the crops in ``folder``/images/, sorted by file name, each with
    its instance mask of the same stem in ``folder``/inst_mask/ (or inst_map/); [] without images/."""
    image_dir = os.path.join(folder, 'images')
    if not os.path.isdir(image_dir):
        return []
    mask_dir = next((os.path.join(folder, d) for d in MASK_DIRS if os.path.isdir(os.path.join(folder, d))), None)
    names = sorted(f for f in os.listdir(image_dir) if f.lower().endswith(IMAGE_EXTENSIONS))
    if names and mask_dir is None:
        raise UserError(f'{folder}/inst_mask/ not found: each crop in {image_dir} needs its instance mask (same stem, '
                        f'.png)')
    return [(os.path.join(image_dir, n), os.path.join(mask_dir, os.path.splitext(n)[0] + '.png')) for n in names]


def missing_mask(mask_path, image_path, what='crop'):
    """The one-line error for an object crop without its instance mask."""
    return UserError(f'{mask_path} not found: the instance mask of the {what} {image_path} (same stem, .png)')


def read_crop(image_path, mask_path, stored_size=None, what='crop'):
    """(64×64×3 uint8 RGB, 64×64 mask {0, 1}) of one object crop: bilinear, the mask legacy-nearest,
    as upstream reads them. ``stored_size``: the (rows, cols) the crop must have on disk."""
    image = read_image(image_path, what=what)
    if isinstance(mask_path, (str, os.PathLike)) and not os.path.isfile(mask_path):
        raise missing_mask(mask_path, image_path, what)
    mask = read_mask(mask_path, what=f'{what} mask')
    image_path, mask_path = source_name(image_path), source_name(mask_path)  # the Python API's arrays, named
    if stored_size is not None and not image.shape[:2] == mask.shape == tuple(stored_size):
        raise UserError(f'{image_path} is {image.shape[1]}×{image.shape[0]} and its mask {mask.shape[1]}×'
                        f'{mask.shape[0]} (W×H); {what}s are {stored_size[1]}×{stored_size[0]}, as '
                        f'scripts/prepare_object_dataset.py writes them')
    if image.shape[:2] != mask.shape:
        raise UserError(f'size mismatch: the {what} {image_path} is {image.shape[1]}×{image.shape[0]} but its mask '
                        f'{mask_path} is {mask.shape[1]}×{mask.shape[0]}')
    size = (CROP_SIZE, CROP_SIZE)
    return resize_bilinear(image, size), resize_nearest_legacy(mask, size)


def crop_tensors(image, mask, color_order):
    """(X 3×H×W in [−1, 1], K 1×H×W) of a crop (uint8 image, {0, 1} mask)."""
    k = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None]
    return image_to_tensor(np.ascontiguousarray(image), color_order), k


class ObjectDataset(torch.utils.data.Dataset):
    """Object crops of the scene dataset ``--dataset_name`` names (``scene_class``)."""
    scene_class = None      # set by data.dataset_class
    with_hole = True        # object inpainting: the hole mask M

    @staticmethod
    def modify_commandline_options(parser, is_train):
        g = parser.add_argument_group('siedob object data')
        g.add_argument('--no_object_repeat', action='store_true',
                       help='list each object crop once per epoch (upstream lists each class 10 times, cut to '
                            '10,000 items)')
        g.add_argument('--object_mask_dir', default=None,
                       help='test holes, paired with the sorted test crops (default: object_datasets/object_mask/)')
        return parser

    def __init__(self, opt, phase):
        self.opt, self.phase = opt, phase
        self.color_order = opt.color_order
        scene_root = os.path.join(opt.dataroot, dataset_folder(opt.dataset_name))
        self.root = os.path.join(scene_root, OBJECT_DIR)
        if self.scene_class is not None and self.scene_class.prepares_itself and opt.is_train:
            self.scene_class.prepare_data(opt)  # the demo scenes, then (once) their objects
            if not os.path.isdir(self.root):
                write_object_dataset(scene_root)
        self.epoch = 0
        self.entries = []   # (image path, mask path, class)
        for c in OBJECT_ORDER:
            entries = [(image, mask, c) for image, mask in list_crops(os.path.join(self.root, CLASS_NAMES[c], phase))]
            if phase == 'train' and not getattr(opt, 'no_object_repeat', False):
                entries = (entries * REPEAT)[:ITEMS_PER_CLASS]
            self.entries += entries
        if not self.entries:
            raise UserError(f'no object crops in {self.root}/{{car,person}}/{phase}/images/: cut them from the '
                            f'scene dataset with scripts/prepare_object_dataset.py --dataroot {opt.dataroot} '
                            f'--dataset_name {opt.dataset_name}')
        if phase == 'test' and self.with_hole:
            self.hole_paths = self._test_holes(getattr(opt, 'object_mask_dir', None)
                                               or os.path.join(self.root, EVAL_MASK_DIR))

    def _test_holes(self, folder):
        if not os.path.isdir(folder):
            raise UserError(f'object hole masks not found: {folder} (scripts/prepare_object_dataset.py writes them; '
                            f'or give --object_mask_dir)')
        files = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))
        if len(files) < len(self.entries):
            raise UserError(f'{folder} has {len(files)} masks but the test split has {len(self.entries)} object '
                            f'crops; the i-th sorted mask goes with the i-th sorted crop, so at least as many are needed')
        return [os.path.join(folder, f) for f in files]

    def set_epoch(self, epoch):
        self.epoch = epoch

    def check_files(self, size_rule):
        """Before training: the crops are resized to 64×64 whatever the rule (the rule must accept that),
        and every crop has its mask, both readable and of one size (headers only): a missing or broken
        file stops the run with one line naming it before the first step."""
        if not size_rule.accepts(CROP_SIZE, CROP_SIZE):
            raise UserError(f'this model cannot run on {CROP_SIZE}×{CROP_SIZE} object crops: {size_rule.describe()}')
        for image_path, mask_path, c in dict.fromkeys(self.entries):
            what = f'{CLASS_NAMES[c]} crop'
            size = image_size(image_path, what)
            if not os.path.isfile(mask_path):
                raise missing_mask(mask_path, image_path, what)
            mask_size = image_size(mask_path, f'{what} mask')
            if mask_size != size:
                raise UserError(f'size mismatch: the {what} {image_path} is {size[0]}×{size[1]} but its mask '
                                f'{mask_path} is {mask_size[0]}×{mask_size[1]} (W×H); they must match')

    def __len__(self):
        return len(self.entries)

    def read_crop(self, i):
        """(image H×W×3 uint8 RGB, mask H×W float {0, 1}, class) at 64×64, checked."""
        image_path, mask_path, c = self.entries[i]
        image, mask = read_crop(image_path, mask_path, BACKGROUND_RULES[c].crop, f'{CLASS_NAMES[c]} crop')
        if not mask.any():
            raise UserError(f'{mask_path} is empty: an object crop needs its object (white pixels)')
        return image, mask, c

    def __getitem__(self, i):
        image, mask, c = self.read_crop(i)
        rng, np_rng = sample_rngs(self.opt.seed, self.epoch if self.phase == 'train' else 2 ** 31 - 1, i)
        if self.phase == 'train':
            image, mask = augment(image, mask, rng, flip=not getattr(self.opt, 'no_flip', False))
        x, k = crop_tensors(image, mask, self.color_order)
        item = {'image': x, 'inst_mask': k, 'class_map': class_map(k[None], [c])[0], 'label': torch.tensor(c),
                'path': self.entries[i][0], 'index': i}
        if self.with_hole:
            if self.phase == 'train':
                hole = mask_gen.object_training_mask(i, CROP_SIZE, CROP_SIZE, rng, np_rng)
            else:
                hole = resize_nearest_legacy(read_mask(self.hole_paths[i]), (CROP_SIZE, CROP_SIZE))
            item['mask'] = torch.from_numpy(np.ascontiguousarray(hole, dtype=np.float32))[None] * k
        return item


def augment(image, mask, rng, flip=True):
    """Upstream's object augmentation: with random() > 0.5 resize to 72×72 (bilinear / nearest) and
    cut 64×64 at (randint(0, 8), randint(0, 8)); then with random() > 0.5 a horizontal flip."""
    if rng.random() > 0.5:
        big, side = CROP_SIZE + 8, CROP_SIZE
        image, mask = resize_bilinear(image, (big, big)), resize_nearest_legacy(mask, (big, big))
        top, left = rng.randint(0, 8), rng.randint(0, 8)
        image, mask = image[top:top + side, left:left + side], mask[top:top + side, left:left + side]
    if rng.random() > 0.5 and flip:
        image, mask = image[:, ::-1], mask[:, ::-1]
    return image, mask


class ObjectStyleDataset(ObjectDataset):
    """The object-style stage's items: each crop (augmented as above, no hole) with a reference of
    its class, not augmented: ``ref_image``, ``ref_inst_mask``, ``ref_class_map``. Training draws the
    reference uniformly among the class's crops (what upstream intends; its index arithmetic assumes
    10,000 items per class and fails on smaller data); the test split uses a fixed one (the class's
    second crop; upstream always its list's second item)."""
    with_hole = False

    def __init__(self, opt, phase):
        super().__init__(opt, phase)
        self.by_class = {}
        for i, (_, _, c) in enumerate(self.entries):
            self.by_class.setdefault(c, []).append(i)

    def __getitem__(self, i):
        item = super().__getitem__(i)
        c = int(item['label'])
        same = self.by_class[c]
        if self.phase == 'train':
            rng, _ = sample_rngs(self.opt.seed, self.epoch, i, 1)  # a stream of its own, beside the crop's
            j = same[rng.randrange(len(same))]
        else:
            j = same[min(1, len(same) - 1)]
        image, mask, _ = self.read_crop(j)
        item['ref_image'], item['ref_inst_mask'] = crop_tensors(image, mask, self.color_order)
        item['ref_class_map'] = class_map(item['ref_inst_mask'][None], [c])[0]
        return item
