"""A photo's label map (and Cityscapes instance map) from a public segmentation model, for a photo
that comes without one.

The model is SegFormer (Xie et al., NeurIPS 2021), or any semantic segmentation checkpoint that
``transformers`` loads with AutoModelForSemanticSegmentation and an image processor; its classes
become our label ids through data/segmentation_classes.py. Nothing is downloaded: a hub name is read
from the local Hugging Face cache only, and where it is missing the error says the one command that
fetches it.
"""
import contextlib
import os
from typing import Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from semedit.data.segmentation_classes import (check_dataset, dataset_for_label_nc, instances_from_labels,
                                               our_label_nc, segmenter_classes, to_label_ids)
from semedit.util.device import resolve_device
from semedit.util.errors import UserError
from semedit.util.image_io import read_image, read_label

#: the small public checkpoint per dataset (SegFormer-B0, 3.7 M parameters; the model cards list
#: Cityscapes val mIoU 76.2 at 1024×1024 and ADE20K val mIoU 37.4 at 512×512)
DEFAULT_SEGMENTERS = {'cityscapes': 'nvidia/segformer-b0-finetuned-cityscapes-1024-1024',
                      'ade20k': 'nvidia/segformer-b0-finetuned-ade-512-512'}
#: the logits are upsampled to at most this long side before the argmax (then nearest to the photo's
#: size): 150 ADE20K classes at a phone photo's 12 MP would take 7 GB; the edit works at 256 anyway
MAX_LOGIT_SIDE = 1024


def fetch_hint(name):
    return f'fetch it once with `hf download {name}` (or give a folder holding the model: --segmenter / segmenter=)'


@contextlib.contextmanager
def quiet_loading():
    """transformers' loading progress bars off for the block (the drivers print one line), then as they were."""
    from transformers.utils import logging as hf_logging
    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


class Segmenter:
    """A segmentation model loaded once: ``segmenter(photo)`` -> (label ids, instance ids or None)."""

    def __init__(self, model, processor, dataset, name, device):
        self.model, self.processor, self.dataset, self.name, self.device = model, processor, dataset, name, device
        self.label_nc = our_label_nc(dataset)

    @classmethod
    def load(cls, segmenter: Optional[Union[str, os.PathLike]] = None, dataset: str = 'cityscapes',
             device: str = 'auto') -> 'Segmenter':
        check_dataset(dataset)
        name = os.fspath(segmenter) if segmenter is not None else DEFAULT_SEGMENTERS[dataset]
        try:
            import transformers  # noqa: F401  (optional until asked for)
        except ImportError:
            raise UserError('segmenting a photo needs the transformers package: pip install -r requirements.txt') \
                from None
        from transformers import AutoImageProcessor, AutoModelForSemanticSegmentation
        folder = os.path.isdir(name)
        if folder and not os.path.isfile(os.path.join(name, 'config.json')):
            raise UserError(f'segmenter folder {name} holds no config.json: give a folder written by '
                            f'save_pretrained or `hf download NAME --local-dir {name}`')
        if not folder and (os.path.exists(name) or name.startswith(('.', '/', '~')) or name.count('/') != 1):
            raise UserError(f'segmenter {name}: no such folder (give a folder holding the model, or a Hugging Face '
                            f'name such as {DEFAULT_SEGMENTERS[dataset]})')
        try:
            with quiet_loading():
                model = AutoModelForSemanticSegmentation.from_pretrained(name, local_files_only=True)
                processor = AutoImageProcessor.from_pretrained(name, local_files_only=True)
        except (OSError, ValueError, KeyError) as e:
            if folder:
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                raise UserError(f'segmenter folder {name} could not be loaded ({first})') from None
            raise UserError(f'the segmenter {name} is not on this machine (nothing is downloaded): '
                            + fetch_hint(name)) from None
        want = segmenter_classes(dataset)
        if model.config.num_labels != want:
            raise UserError(f'segmenter {name} predicts {model.config.num_labels} classes; {dataset} segmenters '
                            f'predict {want} (e.g. {DEFAULT_SEGMENTERS[dataset]})')
        device = resolve_device(device)
        return cls(model.to(device).eval(), processor, dataset, name, device)

    @torch.inference_mode()
    def classes(self, photo: np.ndarray) -> np.ndarray:
        """The segmenter's class of every pixel (H×W int64), at the photo's size."""
        h, w = photo.shape[:2]
        inputs = self.processor(images=Image.fromarray(photo), return_tensors='pt')
        logits = self.model(pixel_values=inputs['pixel_values'].to(self.device)).logits
        scale = min(1.0, MAX_LOGIT_SIDE / max(h, w))
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        classes = F.interpolate(logits.float(), size=size, mode='bilinear', align_corners=False).argmax(1)[0]
        if size != (h, w):
            classes = F.interpolate(classes[None, None].float(), size=(h, w), mode='nearest')[0, 0].long()
        return classes.cpu().numpy().astype(np.int64)

    def __call__(self, photo, what='photo') -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """(label ids in our numbering, H×W int64; a Cityscapes instanceIds map, or None for ADE20K).
        ``photo``: a path, a PIL image (its EXIF orientation applied) or an H×W×3 uint8 RGB array;
        ``what``: how an error names it."""
        photo = read_image(photo, what=what)
        labels = to_label_ids(self.classes(photo), self.dataset)
        return labels, instances_from_labels(labels) if self.dataset == 'cityscapes' else None


def auto_maps(image, segmap, instances, editor, segmenter=None, device='auto'):
    """test.py's ``--segmap_path auto`` / ``--instance_path auto``: (label map, instance map) with each
    'auto' made from the photo (the segmenter) or from the label map (connected thing regions); with
    an automatic label map the instances come with it unless a file is given."""
    if isinstance(segmap, str) and segmap == 'auto':
        segment = Segmenter.load(segmenter, dataset_for_label_nc(editor.label_nc), device)
        segmap, derived = segment(image, what='image')
        if instances is None or instances == 'auto':
            return segmap, derived
    if isinstance(instances, str) and instances == 'auto':
        if editor.instance_kind != 'cityscapes' or editor.label_nc != our_label_nc('cityscapes'):
            raise UserError('--instance_path auto makes a Cityscapes instance map (34 label ids); give this '
                            "model's instance map yourself")
        instances = instances_from_labels(read_label(segmap, editor.label_nc, what='label map (--segmap_path)'))
    return segmap, instances
