"""The public Python API, re-exported by the package (``semedit.load``, ``semedit.Editor``, ...): the
usage is in semedit/__init__.py's docstring."""
import os
from typing import Optional, Tuple, Union

import numpy as np

from semedit.engine.editor import Editor, Picture
from semedit.engine.segmenter import Segmenter
from semedit.util.errors import UserError as InputError

__all__ = ['load', 'Editor', 'InputError', 'Picture', 'segment', 'load_segmenter', 'Segmenter']


def load(path: Union[str, os.PathLike], dataset: Optional[str] = None, device: str = 'auto',
         **options) -> Editor:
    """The editor of a checkpoint, loaded once for any number of edits.

    path:    a checkpoint file (train.py's ``latest.pth`` of any SPM-PGAN run, or the authors'
             ``cityscapes.pth`` / ``ade20k.pth``), or a folder of SIEDOB's four parts (ours, a fusion
             run's folder, or the authors' ``object_inpainting.pth``, ``object_style.pth``, ``bg.pth``,
             ``Fnet.pth``).
    dataset: test.py's ``--dataset_name`` (cityscapes, ade20k, ...), where the weights do not say.
    device:  'auto' (CUDA if present, else the CPU), 'cpu', 'cuda' or 'cuda:N', as test.py's --device.
    options: test.py's flags as keywords, e.g. ``quantize='round'``, ``forward='reference'``,
             ``style_dir='refs/'``; ``batch_size`` is how many inputs of one size a list edits at once.

    Raises InputError for a missing or unreadable file, a file that is no model's, an unknown option.
    """
    return Editor.load(path, dataset=dataset, device=device, **options)


def load_segmenter(segmenter: Optional[Union[str, os.PathLike]] = None, dataset: str = 'cityscapes',
                   device: str = 'auto') -> Segmenter:
    """A segmentation model loaded once: ``load_segmenter(...)(photo)`` -> (labels, instances), as ``segment``.

    segmenter: a folder holding a transformers semantic segmentation model (config.json, the weights,
               preprocessor_config.json), or a Hugging Face name already in the local cache; default
               SegFormer-B0 of the dataset (nvidia/segformer-b0-finetuned-cityscapes-1024-1024,
               nvidia/segformer-b0-finetuned-ade-512-512). Nothing is downloaded: a name not in the
               cache raises InputError saying the one ``hf download`` command that fetches it.
    dataset:   'cityscapes' (the segmenter's 19 trainIds become labelIds 0..33) or 'ade20k' (150 classes
               become label ids 1..150).
    device:    'auto', 'cpu', 'cuda' or 'cuda:N'.
    """
    return Segmenter.load(segmenter, dataset=dataset, device=device)


def segment(photo: Picture, dataset: str = 'cityscapes', segmenter: Optional[Union[str, os.PathLike]] = None,
            device: str = 'auto') -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """A photo's label map, for a photo that comes without one -> (labels, instances), the photo's size.

    labels:    H×W int64 label ids in the dataset's numbering (Cityscapes labelIds 0..33, ADE20K 0..150),
               ready for ``editor.edit`` (change them where the edit goes, then edit).
    instances: Cityscapes: an instanceIds map (class·1000 + k), each connected region of a thing class
               (person .. bicycle) one instance: touching cars become one, an approximation a panoptic
               model would refine. None for ADE20K.
    photo:     a path, a PIL image (its EXIF orientation applied) or an H×W×3 uint8 RGB array.
    segmenter, dataset, device: as ``load_segmenter``, which loads the model once for many photos.
    """
    return load_segmenter(segmenter, dataset, device)(photo)


Editor.edit.__doc__ = """Edit a picture, or a list of them (edited in batches) -> PIL.Image(s), RGB, their sizes.

    image:      a path, a PIL image (its EXIF orientation applied) or an H×W×3 uint8 RGB array.
    labels:     the edited label map: a path, a PIL image (mode L, or P whose palette indices are the
                ids) or an H×W integer array of label ids, each below the model's number of classes.
    mask:       where to repaint: a path, a PIL image (white, where painted on a transparent layer) or
                an H×W array of bool, {0, 1} or {0, 255}; true / 1 / 255 = repaint.
    instances:  SIEDOB: the instance map, a 16-bit Cityscapes instanceIds path or PIL image, or an H×W
                integer array (class·1000 + k).
    references: SIEDOB: the reference objects for wholly edited ones: a folder laid out as test.py's
                --style_dir, or {'car': [(image, instance mask), ...], 'person': [...]}; default:
                those the checkpoint folder carries.
    seed:       pins any random choice.

    Pixels outside the mask are the input's: exactly with load(..., quantize='round'); with the
    authors' default truncation some come out one grey level low. Raises InputError for bad input
    (the argument named)."""
