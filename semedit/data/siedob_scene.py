"""SIEDOB's scene samples (upstream ``background/dataset.py``, ``SIE_Dataset``): the scene datasets'
files (any ``--dataset_name`` in the Cityscapes layout, with Cityscapes instance ids), read with
SIEDOB's training masks and split into the objects SIEDOB generates separately and the background.

Per sample, besides image, label, instance map and mask (as every scene dataset):

* the training mask: brush, right half or outpainting by ``index % 3``, then on a coin flip the
  union with the boxes of every instance (``data/masks.siedob_training_mask``);
* ``fg_mask`` / ``bg_mask``: the objects of the foreground classes (``--fg_classes``, default person
  and car) that the edit touches and the background stage's selection rule keeps, and the
  rest (``data/scene_objects.py``);
* with ``--high_res`` (training split): ``image_hr``, the ``images2048/`` copy cropped and flipped
  with the 256 crop (upstream's ``gt2048``; the object stages' high-resolution targets);
* ``dataset_items = 'siedob_fusion'`` (the fusion stage, which finds its objects itself by the
  fusion rules): no fg/bg split, and ``refs``: per class, 4 style references drawn at random with
  replacement from the object crops (upstream ``NUM_OBJ_PER_IMG``);
* ``dataset_items = 'siedob_scene_crops'`` also gives ``objects``: per foreground class, the crops
  of its selected objects (upstream's ``inst_crop``), zero-padded to the rule's ``max_num``.
  (Upstream's background dataset builds them too; its trainer never reads them.)

A model asks for these samples with ``dataset_items = 'siedob_scene'`` (``data.create_dataset``).
"""
import os

import numpy as np
import torch

from semedit.data import masks as mask_gen
from semedit.data.object_extraction import write_object_dataset
from semedit.data.object_references import add_style_dir_option, references_for
from semedit.data.scene_objects import BACKGROUND_RULES, foreground, object_crops
from semedit.data.siedob_constants import CAR, FOREGROUND_CLASSES, HIGH_RES_DIR, OBJECT_DIR, OBJECT_ORDER, PERSON
from semedit.util.errors import UserError
from semedit.util.image_io import IMAGE_EXTENSIONS, read_image
from semedit.util.tensors import image_to_tensor


def add_siedob_data_options(group):
    """The flags of SIEDOB's scene samples."""
    group.add_argument('--fg_classes', type=int, nargs='+', default=list(FOREGROUND_CLASSES),
                       help=f'label ids of the object classes SIEDOB generates separately (upstream: person {PERSON}, '
                            f'car {CAR}); other ids use the car rule (edited > 40 %%, fills > 60 %% of its box)')
    group.add_argument('--high_res', action='store_true',
                       help='also read images2048/ (the full-resolution copies, 4× the images), cropped with '
                            'the training crop: the object stages\' targets; the background stage never uses them')


def selection_rules(classes, table=BACKGROUND_RULES):
    """Each class's rule from ``table``; a class it does not list gets the car's rule."""
    return {int(c): table.get(int(c), table[CAR]) for c in classes}


class SIEDOBScene:
    """Mixed into a scene dataset class (``data.create_dataset``): SIEDOB's masks and samples."""
    with_object_crops = False
    split_objects = True      # fg_mask / bg_mask by the background stage's rules

    @classmethod
    def modify_commandline_options(cls, parser, is_train):
        super(SIEDOBScene, cls).modify_commandline_options(parser, is_train)  # the dataset's own flags
        add_siedob_data_options(parser.add_argument_group('siedob data'))
        return parser

    def __init__(self, opt, phase):
        super().__init__(opt, phase)
        if not self.use_instance or self.instance_kind != 'cityscapes':
            self.no_instance_maps()
        self.rules = selection_rules(getattr(opt, 'fg_classes', FOREGROUND_CLASSES))
        self.high_res = bool(getattr(opt, 'high_res', False)) and phase == 'train'
        if self.high_res:
            if getattr(opt, 'load_size', 0):
                raise UserError('--high_res reads images2048/ aligned with the images as stored: drop --load_size')
            folder = os.path.join(self.root, HIGH_RES_DIR)
            if not os.path.isdir(folder):
                raise UserError(f'--high_res: {folder} not found; it holds each training image at full resolution '
                                f'(same stem, e.g. 2048×1024 for 512×256 Cityscapes images; '
                                f'scripts/prepare_cityscapes.py --layout siedob writes it), or drop --high_res')

    def no_instance_maps(self):
        raise UserError(f'SIEDOB needs Cityscapes-format instance maps (class·1000 + k, 16-bit PNG) in '
                        f'{self.root}/inst_map/: it finds the objects of an edit from them'
                        + (' (drop --no_instance)' if getattr(self.opt, 'no_instance', False) else ''))

    def training_mask(self, i, label, instance, rng, np_rng, fix=True):
        return mask_gen.siedob_training_mask(i, instance, rng, np_rng)

    def high_res_path(self, i):
        stem = self.stems[i]
        folder = os.path.join(self.root, HIGH_RES_DIR)
        for ext in IMAGE_EXTENSIONS:
            path = os.path.join(folder, stem + ext)
            if os.path.isfile(path):
                return path
        raise UserError(f'{folder}/{stem}.jpg not found: every training image needs its full-resolution copy '
                        f'there with the same stem (or drop --high_res)')

    def high_res_crop(self, i, crop):
        """The high-resolution copy of sample ``i`` cut and flipped as ``crop`` cut the image."""
        path = self.high_res_path(i)
        hr = read_image(path)
        h, w = crop['source_size']
        factor = hr.shape[0] // h
        if factor < 1 or hr.shape[:2] != (factor * h, factor * w):
            raise UserError(f'{path} is {hr.shape[1]}×{hr.shape[0]} (W×H); it must be a whole multiple of its image '
                            f'{self.image_paths[i]} ({w}×{h}), e.g. 2048×1024 for 512×256')
        top, left = factor * crop['top'], factor * crop['left']
        hr = hr[top:top + factor * self.crop_h, left:left + factor * self.crop_w]
        return hr[:, ::-1] if crop['flipped'] else hr

    def to_item(self, s):
        item = super().to_item(s)
        if not self.split_objects:
            return item
        split = foreground(s['label'], s['instance'], s['mask'], self.rules,
                           limits=(s['label'].shape[0] - 1, s['label'].shape[1] - 1))
        item['fg_mask'] = torch.from_numpy(split['fg'])[None]
        item['bg_mask'] = torch.from_numpy(split['bg'])[None]
        if self.high_res:
            hr = self.high_res_crop(s['index'], s['crop'])
            item['image_hr'] = image_to_tensor(np.ascontiguousarray(hr), self.color_order)
        if self.with_object_crops:
            masked = item['image'] * (1 - item['mask'])
            item['objects'] = {c: object_crops(item['image'], masked, item['label'].float(), item['mask'],
                                               split['objects'][c], rule.crop, item.get('image_hr'), rule.max_num)
                               for c, rule in self.rules.items()}
        return item


class SIEDOBSceneCrops(SIEDOBScene):
    """SIEDOB's scene samples with the crops of their selected objects."""
    with_object_crops = True


#: style references per class and sample (upstream fusion/dataset.py NUM_OBJ_PER_IMG)
REFS_PER_SAMPLE = 4


class SIEDOBFusionScene(SIEDOBScene):
    """The fusion stage's samples: the scene and ``refs`` per object class ({'image': 4×3×64×64,
    'mask': 4×1×64×64}), drawn from ``--style_dir`` or the dataset's object crops
    (``object_datasets/<class>/train/``, cut on first use for the demo)."""
    split_objects = False

    @classmethod
    def modify_commandline_options(cls, parser, is_train):
        super(SIEDOBFusionScene, cls).modify_commandline_options(parser, is_train)
        if is_train:  # test.py edits with the editor's flags (models/siedob/fusion.add_editor_options)
            add_style_dir_option(parser, is_train)
        return parser

    def __init__(self, opt, phase):
        super().__init__(opt, phase)
        scene_root = os.path.dirname(self.root)
        if self.prepares_itself and opt.is_train and not getattr(opt, 'style_dir', None) and \
                not os.path.isdir(os.path.join(scene_root, OBJECT_DIR)):
            write_object_dataset(scene_root)
        self.references = references_for(opt, self.color_order)
        for c in OBJECT_ORDER:
            if not self.references.count(c):
                raise UserError(self.references.missing(c).replace('the edit wholly covers', 'the fusion stage '
                                                                   'trains on edits that wholly cover'))

    def to_item(self, s):
        from semedit.data.scene_dataset import sample_rngs
        item = super().to_item(s)
        rng, _ = sample_rngs(self.opt.seed, self.epoch if self.phase == 'train' else 2 ** 31 - 1, s['index'], 2)
        item['refs'] = {}
        for c in OBJECT_ORDER:
            images, masks = self.references.draw(c, rng, REFS_PER_SAMPLE)
            item['refs'][c] = {'image': images, 'mask': masks}
        return item
