"""Scene datasets in the upstream layout (upstream ``dataset.py``).

``<dataroot>/<dataset_name>/{train,test}/images/<stem>.jpg`` (or .png), ``labels/<stem>.png`` (label
ids), ``inst_map/<stem>.png`` (instance ids, format per dataset). Training: random crop, flip and a
training mask whose type is fixed by the sample index, as upstream. Test: no crop or flip; masks
come from ``--mask_dir`` (paired by sorted name, as upstream) or are generated with a fixed seed.
"""
import os
import random

import numpy as np
import torch

from semedit.data import dataset_folder, masks as mask_gen
from semedit.data.preprocess import parse_wxh, resize_image, resize_nearest
from semedit.util.tensors import image_to_tensor
from semedit.util.errors import UserError
from semedit.util.image_io import (IMAGE_EXTENSIONS, check_same_size, image_size, read_image, read_instance, read_label,
                           read_mask)


def parse_crop_size(value, size_rule=None):
    """'256' -> (256, 256); '512x256' (W×H) -> (256, 512) as (h, w); checked against the model's
    ``size_rule`` (``util/sizes.py``) when one is given."""
    h, w = parse_wxh(value, '--crop_size')
    problem = size_rule.problem(h, w) if size_rule is not None else None
    if problem:
        raise UserError(f'--crop_size {value}: {problem}')
    return h, w


def sample_rngs(*seed_parts):
    """Independent (random.Random, np.random.RandomState) for one sample: masks and crops do not
    depend on worker count, rank or the order in which samples are loaded."""
    ss = np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in seed_parts])
    a, b = ss.generate_state(2)
    return random.Random(int(a)), np.random.RandomState(int(b))


class SceneDataset(torch.utils.data.Dataset):
    default_label_nc = 34
    instance_kind = 'cityscapes'   # format of inst_map/ files: cityscapes | ade | none
    num_mask_types = 5             # training mask type = index % this (as upstream)

    @staticmethod
    def modify_commandline_options(parser, is_train):
        g = parser.add_argument_group('dataset')
        g.add_argument('--crop_size', default='256',
                       help='training crop: N (N×N, upstream 256) or WxH, e.g. 512x256 for whole Cityscapes '
                            'frames; sides the model accepts (else an error says which)')
        if is_train:
            g.add_argument('--load_size', type=int, default=0,
                           help='resize training images so the short side is this before cropping '
                                '(0 = no resize, as upstream: prepare the dataset at the right size)')
        g.add_argument('--no_instance', action='store_true',
                       help='ignore inst_map/: edge maps come from the label maps')
        g.add_argument('--inclusive_box', action='store_true',
                       help='fix: the instance-box mask includes its last row and column '
                            '(upstream leaves them out)')
        return parser

    def __init__(self, opt, phase):
        self.opt = opt
        self.phase = phase
        self.label_nc = opt.label_nc
        self.color_order = opt.color_order
        self.crop_h, self.crop_w = parse_crop_size(getattr(opt, 'crop_size', '256'))
        self.root = os.path.join(opt.dataroot, dataset_folder(opt.dataset_name), phase)
        self.prepare_data(opt)
        self.epoch = 0
        image_dir = os.path.join(self.root, 'images')
        if not os.path.isdir(image_dir):
            raise UserError(f'dataset folder not found: {image_dir} (expected {opt.dataroot}/'
                            f'{dataset_folder(opt.dataset_name)}/{phase}/{{images,labels,inst_map}}: give --dataroot '
                            f'the folder that holds {dataset_folder(opt.dataset_name)}/; see docs/datasets.md)')
        names = sorted(f for f in os.listdir(image_dir) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not names:
            raise UserError(f'no images in {image_dir}')
        if getattr(opt, 'max_dataset_size', None):
            names = names[:opt.max_dataset_size]
        self.stems = [os.path.splitext(n)[0] for n in names]
        self.image_paths = [os.path.join(image_dir, n) for n in names]
        self.use_instance = self.instance_kind != 'none' and not getattr(opt, 'no_instance', False)
        if self.use_instance and not os.path.isdir(os.path.join(self.root, 'inst_map')):
            self.no_instance_maps()
            self.use_instance = False
        self.mask_paths = None
        mask_dir = getattr(opt, 'mask_dir', None)
        if phase == 'test' and mask_dir:
            self.mask_paths = self._predefined_masks(mask_dir)

    #: the dataset creates its files on first use (``prepare_data``)
    prepares_itself = False

    @classmethod
    def prepare_data(cls, opt):
        """Hook for datasets that create themselves on first use (demo)."""

    def no_instance_maps(self):
        """The split has no inst_map/ folder. Upstream crashes here; the edge map from the label map
        is the documented fallback (what --no_instance asks for)."""
        print(f'note: {self.root}/inst_map/ not found: edge maps come from the label maps (--no_instance)')

    def _check_mask_sizes(self, mask_paths):
        """Each predefined mask the size of its image (file headers only), when the split is opened:
        a wrong mask folder stops test.py, evaluation and train-time FID before any editing."""
        for image_path, mask_path in zip(self.image_paths, mask_paths):
            img, mask = image_size(image_path), image_size(mask_path)
            if img != mask:
                raise UserError(f'size mismatch: mask {mask_path} is {mask[0]}×{mask[1]} but its image '
                                f'{image_path} is {img[0]}×{img[1]} (W×H, as shown); masks are paired with the '
                                f'test images by sorted name and must match them')

    def check_files(self, size_rule):
        """Before training, from the files' headers (no decoding: seconds for Cityscapes): every image
        has its label map (and instance map), each readable and of the image's size, the crop is one the
        model accepts (its ``size_rule``) and every image (after --load_size) at least the crop. A
        missing or broken file stops the run with one line naming it before the first step."""
        parse_crop_size(getattr(self.opt, 'crop_size', '256'), size_rule)
        load = getattr(self.opt, 'load_size', 0)
        small = []
        for i, path in enumerate(self.image_paths):
            w, h = image_size(path)
            paired = [(self._label_path(i), 'label map')]
            if self.use_instance:
                paired.append((self._instance_path(i), 'instance map'))
            for other, what in paired:
                if not os.path.isfile(other):
                    raise UserError(f'{path} has no {what} {other}: every image needs one (same stem, .png); '
                                    f'python scripts/check_dataset.py lists every problem of a dataset')
                ow, oh = image_size(other, what)
                if (ow, oh) != (w, h):
                    raise UserError(f'size mismatch: {what} {other} is {ow}×{oh} but its image {path} is {w}×{h} '
                                    f'(W×H); they must match')
            if load:
                h, w = working_short_side((h, w), load)
            if h < self.crop_h or w < self.crop_w:
                small.append((path, w, h))
        if small:
            path, w, h = small[0]
            raise UserError(f'{path}: training images must be at least {self.crop_w}×{self.crop_h} (--crop_size, '
                            f'W×H){" after --load_size" if load else ""}; got {w}×{h} ({len(small)} of '
                            f'{len(self.image_paths)} images are smaller). Resize the dataset first, or use '
                            f'--load_size {max(self.crop_h, self.crop_w)}')

    def _predefined_masks(self, mask_dir):
        if not os.path.isdir(mask_dir):
            raise UserError(f'mask folder not found: {mask_dir}')
        files = sorted(f for f in os.listdir(mask_dir) if f.lower().endswith(IMAGE_EXTENSIONS))
        if len(files) < len(self.stems):
            raise UserError(f'{mask_dir} has {len(files)} masks but the test split has {len(self.stems)} images; '
                            f'masks are paired with images by sorted name, so at least as many are needed')
        paths = [os.path.join(mask_dir, f) for f in files[:len(self.stems)]]
        self._check_mask_sizes(paths)
        return paths

    def set_epoch(self, epoch):
        """Training masks and crops are drawn from (seed, epoch, index): reproducible and resumable."""
        self.epoch = epoch

    def __len__(self):
        return len(self.stems)

    def _label_path(self, i):
        return os.path.join(self.root, 'labels', self.stems[i] + '.png')

    def _instance_path(self, i):
        return os.path.join(self.root, 'inst_map', self.stems[i] + '.png')

    def load_sample(self, i):
        """The sample as numpy arrays (RGB uint8 image, label ids, instance ids or None, float mask),
        after the train-time crop and flip; test.py edits these at any size."""
        image = read_image(self.image_paths[i])
        label_path = self._label_path(i)
        label = read_label(label_path, self.label_nc)
        arrays = [(self.image_paths[i], image), (label_path, label)]
        instance = None
        if self.use_instance:
            instance = read_instance(self._instance_path(i), self.instance_kind)
            arrays.append((self._instance_path(i), instance))
        check_same_size(arrays)

        crop = None
        if self.phase == 'train':
            rng, np_rng = sample_rngs(self.opt.seed, self.epoch, i)
            image, label, instance, crop = self._crop_flip(image, label, instance, rng, self.image_paths[i])
            mask = self.training_mask(i, label, instance, rng, np_rng)
        elif self.mask_paths is not None:
            mask = read_mask(self.mask_paths[i])
            check_same_size([(self.image_paths[i], image), (self.mask_paths[i], mask)])
        else:
            rng, np_rng = sample_rngs(self.opt.seed, 2 ** 31 - 1, i)  # fixed per image, not per epoch
            mask = self.training_mask(i, label, instance, rng, np_rng, fix=False)
        return {'image': image, 'label': label, 'instance': instance, 'mask': mask,
                'path': self.image_paths[i], 'index': i, 'crop': crop}

    def training_mask(self, i, label, instance, rng, np_rng, fix=True):
        """The mask of sample ``i`` (upstream: the type is ``i % num_mask_types``); ``fix``: honour
        --inclusive_box (the seeded test masks keep upstream's box)."""
        return mask_gen.training_mask(i, label, instance, rng, np_rng, self.num_mask_types,
                                      self.instance_kind if instance is not None else 'none',
                                      inclusive=fix and getattr(self.opt, 'inclusive_box', False))

    def __getitem__(self, i):
        return self.to_item(self.load_sample(i))

    def to_item(self, s):
        """The tensors of sample arrays ``s`` (``load_sample``)."""
        i = s['index']
        item = {
            'image': image_to_tensor(s['image'], self.color_order),
            'label': torch.from_numpy(np.ascontiguousarray(s['label'])).unsqueeze(0).long(),
            'mask': torch.from_numpy(np.ascontiguousarray(s['mask'], dtype=np.float32)).unsqueeze(0),
            'path': s['path'],
            'index': i,
        }
        if s['instance'] is not None:
            item['instance'] = torch.from_numpy(np.ascontiguousarray(s['instance'])).unsqueeze(0).long()
        return item

    def _crop_flip(self, image, label, instance, rng, path):
        """Random crop (same window for all maps, offsets uniform over the valid integers) and a
        horizontal flip when random() > 0.5, as upstream. Also returns the crop as a dict (top, left,
        flipped, and the size it was cut from), for data aligned with the image (SIEDOB's
        high-resolution copy)."""
        ch, cw = self.crop_h, self.crop_w
        load = getattr(self.opt, 'load_size', 0)
        if load:
            size = working_short_side(label.shape, load)
            image, label = resize_image(image, size), resize_nearest(label, size)
            instance = resize_nearest(instance, size) if instance is not None else None
        h, w = label.shape
        if h < ch or w < cw:
            raise UserError(f'{path}: training images must be at least {cw}×{ch} (--crop_size, W×H); got {w}×{h}. '
                            f'Resize the dataset first, or use --load_size')
        top = rng.randint(0, h - ch) if h > ch else 0
        left = rng.randint(0, w - cw) if w > cw else 0
        window = (slice(top, top + ch), slice(left, left + cw))
        image, label = image[window], label[window]
        instance = instance[window] if instance is not None else None
        flipped = not getattr(self.opt, 'no_flip', False) and rng.random() > 0.5
        if flipped:
            image, label = image[:, ::-1], label[:, ::-1]
            instance = instance[:, ::-1] if instance is not None else None
        return image, label, instance, {'top': top, 'left': left, 'flipped': flipped, 'source_size': (h, w)}


def working_short_side(shape, short):
    """(h, w) with the short side scaled to ``short`` and the aspect ratio kept."""
    h, w = shape
    if h <= w:
        return short, max(short, int(round(w * short / h)))
    return max(short, int(round(h * short / w))), short


class CityscapesDataset(SceneDataset):
    """Cityscapes labelIds (34 classes) and 16-bit instanceIds."""


class DemoDataset(CityscapesDataset):
    """Procedurally generated Cityscapes-format scenes, created in <dataroot>/demo on first use."""

    prepares_itself = True

    @classmethod
    def prepare_data(cls, opt):
        """Generated for training only: editing reads, it never writes data (a run whose demo folder
        is gone is told so)."""
        if opt.is_train:
            from semedit.data.demo import ensure_demo_dataset
            ensure_demo_dataset(opt.dataroot)


class ADE20KRoomDataset(SceneDataset):
    """ADE20K-150 (ids 0..150) with RGB instance maps whose G channel holds the ids; id 0 is a valid
    instance-box choice, as upstream."""
    default_label_nc = 151
    instance_kind = 'ade'


class ADE20KLandscapeDataset(SceneDataset):
    """ADE20K landscape subset: no instance maps (upstream crashes here; we use the label
    edges) and four mask types (no instance box)."""
    default_label_nc = 151
    instance_kind = 'none'
    num_mask_types = 4


class CustomDataset(SceneDataset):
    """Your own data in the same layout. --label_nc is required; --instance_format tells how inst_map/
    is stored (none: no instance maps, edges from labels)."""
    default_label_nc = None

    @staticmethod
    def modify_commandline_options(parser, is_train):
        SceneDataset.modify_commandline_options(parser, is_train)
        parser.add_argument('--instance_format', choices=['none', 'cityscapes', 'ade'], default='none',
                            help='custom data: format of inst_map/ files')
        parser.add_argument('--num_mask_types', type=int, default=5, choices=[4, 5],
                            help='custom data: 5 uses all training mask types, 4 leaves out the instance box')
        return parser

    def __init__(self, opt, phase):
        self.instance_kind = opt.instance_format
        self.num_mask_types = opt.num_mask_types
        super().__init__(opt, phase)
