"""A segmentation model's classes as our label ids, for a photo that comes without a label map.

Public semantic segmentation checkpoints (SegFormer's among them) predict Cityscapes' 19 training
classes (trainIds 0..18) or ADE20K's 150 classes (0..149); our datasets number Cityscapes by its
34 labelIds and ADE20K by 1..150 with 0 "other" (util/label_classes.py). The tables here are the
one place that says how one numbering becomes the other. A Cityscapes instance map for SIEDOB is
approximated from the label map: each connected region of a "thing" class is one instance (two
touching cars become one; a panoptic model would tell them apart).
"""
import numpy as np
from scipy import ndimage

from semedit import data
from semedit.data.siedob_constants import THING_CLASSES
from semedit.util.errors import UserError

#: Cityscapes' trainIds 0..18 (the classes a segmenter predicts): their names and labelIds
CITYSCAPES_TRAIN_NAMES = ('road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light', 'traffic sign',
                          'vegetation', 'terrain', 'sky', 'person', 'rider', 'car', 'truck', 'bus', 'train',
                          'motorcycle', 'bicycle')
CITYSCAPES_TRAIN_TO_LABEL = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)
#: ADE20K: the segmenter's class k is our label id k + 1
ADE20K_CLASSES = 150

DATASETS = ('cityscapes', 'ade20k')


def segmenter_classes(dataset):
    """How many classes a segmenter of ``dataset`` predicts."""
    return {'cityscapes': len(CITYSCAPES_TRAIN_TO_LABEL), 'ade20k': ADE20K_CLASSES}[check_dataset(dataset)]


def check_dataset(dataset):
    if dataset not in DATASETS:
        raise UserError(f'dataset={dataset!r}: a segmenter gives label maps for {" or ".join(DATASETS)}')
    return dataset


def our_label_nc(dataset):
    """How many label ids our numbering of ``dataset`` has (the dataset registry's: 34, 151)."""
    return data.default_label_nc(check_dataset(dataset))


def dataset_for_label_nc(label_nc):
    """The segmenter's dataset for a model with ``label_nc`` label ids."""
    for dataset in DATASETS:
        if our_label_nc(dataset) == label_nc:
            return dataset
    raise UserError(f'a segmenter gives Cityscapes ({our_label_nc("cityscapes")} label ids) or ADE20K '
                    f'({our_label_nc("ade20k")}) label maps; this model has {label_nc}: give the label map '
                    f'(--segmap_path) yourself')


def to_label_ids(classes, dataset):
    """A segmenter's class map (H×W ints) -> our label ids (H×W int64)."""
    classes = np.asarray(classes)
    n = segmenter_classes(dataset)
    if classes.size and (classes.min() < 0 or classes.max() >= n):
        raise UserError(f'the segmenter predicted class {int(classes.max())}; a {dataset} segmenter has {n} classes')
    if dataset == 'cityscapes':
        return np.asarray(CITYSCAPES_TRAIN_TO_LABEL, np.int64)[classes]
    return classes.astype(np.int64) + 1


def to_segmenter_classes(labels, dataset):
    """Our label ids -> the segmenter's classes; -1 for ids it does not predict (Cityscapes' void
    classes, ADE20K's 0 "other")."""
    labels = np.asarray(labels, np.int64)
    if check_dataset(dataset) == 'cityscapes':
        table = np.full(our_label_nc('cityscapes'), -1, np.int64)
        table[list(CITYSCAPES_TRAIN_TO_LABEL)] = np.arange(len(CITYSCAPES_TRAIN_TO_LABEL))
        return table[labels]
    return labels - 1


def instances_from_labels(labels, things=THING_CLASSES):
    """A Cityscapes instanceIds map from label ids: stuff pixels hold their class id, each connected
    region of a thing class (person .. bicycle) is an instance class·1000 + k, k from 0 in reading order."""
    labels = np.asarray(labels, np.int64)
    out = labels.copy()
    for c in things:
        regions, n = ndimage.label(labels == c)
        if n:
            out[regions > 0] = c * 1000 + regions[regions > 0] - 1
    return out
