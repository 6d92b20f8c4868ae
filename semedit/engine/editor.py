"""The editor behind test.py's single-image edits and the Python API (``semedit.load``): a model
loaded once from a checkpoint file or SIEDOB's folder of parts, editing images given as files, PIL
images or numpy arrays. Loading and editing read files only: nothing is written, generated or cached
on disk (test.py writes its outputs itself)."""
import os
import random
from typing import Optional, Sequence, Union

import numpy as np
import torch
from PIL import Image

from semedit import data
from semedit.data.preprocess import resize_image
from semedit.data.object_references import ObjectReferences, references_for
from semedit.data.siedob_constants import CLASS_NAMES
from semedit.engine.editing import edit_samples, working_size
from semedit.engine.inference import build_model, parse_with_checkpoint
from semedit.options.test_options import TestOptions
from semedit.util.errors import UserError, usage_errors_raise
from semedit.util.image_io import check_same_size, read_image, read_instance, read_label, read_mask
from semedit.util.label_classes import class_table
from semedit.util.tensors import tensor_to_image
from semedit.util.visualizer import colorize_label

#: what the Python API takes for a picture: a file path, a PIL image, or an array (see ``Editor.edit``)
Picture = Union[str, os.PathLike, Image.Image, np.ndarray]

#: how many inputs of one working size a list is edited with at a time (``load(..., batch_size=N)``)
LIST_BATCH = 8

#: the references the Python API's error asks for
GIVE_REFERENCES = "references= (a folder as test.py's --style_dir, or {'car': [(image, mask), ...]})"


def stage_images(model, size):
    """A model's intermediate results of the last edit (SIEDOB: objects, background, composite before
    fusion) as RGB arrays of ``size``; none for a one-network model (test.py's panel, the web editor)."""
    out = []
    for t in model.edit_visuals().values():
        img = tensor_to_image(t[0], model.color_order)
        out.append(img if img.shape[:2] == tuple(size) else resize_image(img, size))
    return out


def options_argv(options):
    """test.py's command line for keyword options: ``ngf=8`` -> ``--ngf 8``, ``save_panel=True`` ->
    ``--save_panel``; False and None leave a flag out."""
    argv = []
    for key, value in options.items():
        if value is None or value is False:
            continue
        argv.append(f'--{key}')
        if value is not True:
            argv.extend(str(v) for v in (value if isinstance(value, (list, tuple)) else [value]))
    return argv


class Editor:
    """A model ready to edit: ``edit(image, labels, mask)`` -> the edited picture.

    ``opt`` holds test.py's options (from the checkpoint and the keywords ``load`` was given),
    ``model`` the network(s), ``path`` the checkpoint file or folder they came from."""

    def __init__(self, opt, model, path, list_batch=LIST_BATCH):
        self.opt, self.model, self.path = opt, model, path
        self.list_batch = list_batch  # inputs of one working size a list edits at once
        self.label_nc = getattr(model, 'label_nc', None)
        # SIEDOB's object stages edit crops and name no dataset
        kind = getattr(data.find_dataset_using_name(opt.dataset_name), 'instance_kind', 'cityscapes') \
            if opt.dataset_name else 'cityscapes'
        self.instance_kind = 'ade' if kind == 'ade' else 'cityscapes'
        self._references = {}

    # ---- loading ------------------------------------------------------------------------------------
    @classmethod
    def from_command_line(cls, options, argv=None, verbose=True):
        """test.py's editor: the checkpoint and options its command line names."""
        opt, ckpt, path = parse_with_checkpoint(options, argv)
        model, path = build_model(opt, ckpt, path, options.parser, verbose=verbose)
        return cls(opt, model, path)

    @classmethod
    def load(cls, path: Union[str, os.PathLike], dataset: Optional[str] = None, device: str = 'auto',
             **options) -> 'Editor':
        """See ``semedit.load``."""
        path = os.fspath(path)
        if os.path.isdir(path):
            argv = ['--model', 'siedob', '--checkpoints_dir', path]
        elif os.path.isfile(path):
            argv = ['--checkpoint', path]
        else:
            raise UserError(f'checkpoint {path} not found: give a checkpoint file (train.py\'s latest.pth, the '
                            f'authors\' cityscapes.pth / ade20k.pth) or a folder of SIEDOB\'s parts')
        batch = options.pop('batch_size', LIST_BATCH)
        argv += options_argv(dict(options, dataset_name=dataset, device=device))
        with usage_errors_raise("semedit.load takes test.py's flags as keywords; python test.py --help lists them"):
            editor = cls.from_command_line(TestOptions(), argv, verbose=False)
        if editor.model.edits == 'object':
            raise UserError(f'{path} holds one of SIEDOB\'s object stages, which edits object crops (test.py); '
                            f'semedit.load edits scenes: give a SPM-PGAN checkpoint or SIEDOB\'s folder of four parts')
        editor.list_batch = int(batch)  # load's keyword, not one of test.py's flags
        return editor

    # ---- the model's classes --------------------------------------------------------------------------
    @property
    def classes(self):
        """[(id, name, (r, g, b))] for every label id of the model's dataset, each its own colour."""
        return class_table(self.label_nc)

    def colorize(self, labels) -> Image.Image:
        """A label map (a path, a PIL image or an H×W array of ids) in the classes' colours, RGB."""
        return Image.fromarray(colorize_label(read_label(labels, self.label_nc, what='labels='), self.label_nc))

    # ---- editing ------------------------------------------------------------------------------------
    def read(self, image, labels, mask, instances=None, what=('image', 'labels', 'mask', 'instances')):
        """The inputs as arrays (RGB uint8, label ids, {0, 1} mask, instance ids or None), checked to
        be of one size; ``what``: how errors name each input."""
        named = [(what[0], read_image(image, what=what[0])),
                 (what[1], read_label(labels, self.label_nc, what=what[1])),
                 (what[2], read_mask(mask, what=what[2]))]
        if instances is not None:
            named.append((what[3], read_instance(instances, self.instance_kind, what=what[3])))
        check_same_size([(self._describe(n, s), a) for (n, a), s in zip(named, (image, labels, mask, instances))])
        arrays = [a for _, a in named]
        return arrays + [None] * (4 - len(arrays))

    @staticmethod
    def _describe(name, source):
        return f'{name} {source}' if isinstance(source, (str, os.PathLike)) else name

    def edit_arrays(self, image, label, mask, instance=None, source='the input'):
        """(edited, masked input) H×W×3 uint8 of arrays, as test.py writes them."""
        return self.edit_samples([{'image': image, 'label': label, 'mask': mask, 'instance': instance,
                                   'path': source}])[0]

    def edit_samples(self, samples):
        """[(edited, masked input)] of samples of one working size, edited as one batch."""
        o = self.opt
        with torch.inference_mode():
            return edit_samples(self.model, samples, o.preprocess, o.load_size, o.quantize)

    def edit(self, image: Union[Picture, Sequence[Picture]], labels, mask, instances=None,
             references: Optional[Union[str, os.PathLike]] = None, seed: Optional[int] = None):
        """See ``semedit.Editor.edit`` (the public docstring lives in semedit/__init__.py)."""
        if isinstance(image, (list, tuple)):
            n = len(image)
            if not (isinstance(labels, (list, tuple)) and isinstance(mask, (list, tuple))
                    and len(labels) == n and len(mask) == n):
                raise UserError(f'image= is a list of {n}: give labels= and mask= as lists of {n} too')
            if instances is not None and (not isinstance(instances, (list, tuple)) or len(instances) != n):
                raise UserError(f'image= is a list of {n}: give instances= as a list of {n} too (or none)')
            return self._edit_many(list(image), list(labels), list(mask),
                                   list(instances) if instances is not None else [None] * n, references, seed)
        return self._edit_many([image], [labels], [mask], [instances], references, seed)[0]

    def _edit_many(self, images, labels, masks, instances, references, seed):
        self._use_references(references)
        if seed is not None:
            random.seed(seed)
            np.random.seed(seed % 2 ** 32)
            torch.manual_seed(seed)
        samples = []
        for i, inputs in enumerate(zip(images, labels, masks, instances)):
            suffix = f'[{i}]' if len(images) > 1 else ''
            arrays = self.read(*inputs, what=tuple(f'{k}={suffix}' for k in ('image', 'labels', 'mask', 'instances')))
            samples.append(dict(zip(('image', 'label', 'mask', 'instance'), arrays), path=f'image={suffix}'))
        # inputs of one working size go together, at most list_batch at a time
        out = [None] * len(samples)
        groups = {}
        for i, s in enumerate(samples):
            size = working_size(self.model, s['image'].shape[:2], self.opt.preprocess, self.opt.load_size, s['path'])
            groups.setdefault(size, []).append(i)
        for indices in groups.values():
            for start in range(0, len(indices), self.list_batch):
                chunk = indices[start:start + self.list_batch]
                for i, (edited, _) in zip(chunk, self.edit_samples([samples[i] for i in chunk])):
                    out[i] = Image.fromarray(edited)
        return out

    def _use_references(self, references):
        """SIEDOB's references for wholly edited objects: ``references`` (a folder or pairs), else
        test.py's --style_dir keyword, else those the checkpoint folder carries (``references_for``
        without the dataset's crops), else none (an edit that needs one names ``references=``)."""
        if not hasattr(self.model, 'use_references'):
            if references is not None:
                raise UserError('references= is for SIEDOB\'s wholly edited objects; this model takes none')
            return
        if isinstance(references, dict):  # {'car': [(image, instance mask), ...], 'person': [...]}
            ids = {name: c for c, name in CLASS_NAMES.items()}
            unknown = [name for name in references if name not in ids]
            if unknown:
                raise UserError(f'references= names {", ".join(map(repr, unknown))}: give a dict of '
                                f'{" and ".join(map(repr, ids))}, each a list of (image, instance mask) pairs')
            self.model.use_references(ObjectReferences.from_pairs(
                {ids[name]: list(pairs) for name, pairs in references.items()}, self.model.color_order,
                give=GIVE_REFERENCES))
            return
        key = None if references is None else os.path.abspath(os.fspath(references))
        if key not in self._references:  # read once per folder
            order = self.model.color_order
            if key is None:
                self._references[key] = references_for(self.opt, order, self.model.folder, dataset=False,
                                                       give=GIVE_REFERENCES)
            elif not os.path.isdir(key):
                raise UserError(f'references= {references} not found: give a folder holding car/ and person/, '
                                f'each with images/ and inst_mask/ (crops and their masks, same stems)')
            else:
                self._references[key] = ObjectReferences.from_folder(key, order, give=GIVE_REFERENCES)
        self.model.use_references(self._references[key])
