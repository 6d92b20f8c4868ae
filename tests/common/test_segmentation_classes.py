"""semedit/data/segmentation_classes.py: a segmenter's classes as our label ids, class by class, and
back; the instance map approximated from a label map."""
import numpy as np
import pytest

from semedit.data.segmentation_classes import (CITYSCAPES_TRAIN_NAMES, CITYSCAPES_TRAIN_TO_LABEL, instances_from_labels,
                                               to_label_ids, to_segmenter_classes)
from semedit.util.errors import UserError
from semedit.util.label_classes import ADE20K, CITYSCAPES


def test_every_cityscapes_train_id_maps_to_the_label_id_of_its_name():
    names = [name for name, _ in CITYSCAPES]
    assert len(CITYSCAPES_TRAIN_TO_LABEL) == len(set(CITYSCAPES_TRAIN_TO_LABEL)) == 19
    for train_id, name in enumerate(CITYSCAPES_TRAIN_NAMES):
        label_id = int(to_label_ids(np.array([[train_id]]), 'cityscapes')[0, 0])
        assert names[label_id] == name, (train_id, name, label_id)


@pytest.mark.parametrize('dataset, n', [('cityscapes', 19), ('ade20k', 150)])
def test_the_tables_round_trip(dataset, n):
    classes = np.arange(n).reshape(1, n)
    labels = to_label_ids(classes, dataset)
    assert np.array_equal(to_segmenter_classes(labels, dataset), classes)
    if dataset == 'ade20k':
        assert labels.min() == 1 and labels.max() == len(ADE20K)          # 0 stays "other"
        assert to_segmenter_classes(np.array([0]), dataset)[0] == -1
    else:  # the void labelIds (0..6, 9, 10, ...) have no segmenter class
        void = sorted(set(range(34)) - set(CITYSCAPES_TRAIN_TO_LABEL))
        assert (to_segmenter_classes(np.array(void), dataset) == -1).all()


def test_a_class_the_dataset_does_not_have_is_refused_in_one_line():
    with pytest.raises(UserError, match='19 classes'):
        to_label_ids(np.array([[19]]), 'cityscapes')
    with pytest.raises(UserError, match='cityscapes or ade20k'):
        to_label_ids(np.array([[0]]), 'coco')


def test_each_connected_thing_is_an_instance_and_stuff_keeps_its_class():
    labels = np.full((20, 30), 7)              # road
    labels[2:6, 2:8] = 26                      # a car
    labels[10:14, 20:28] = 26                  # another car
    labels[12:18, 2:5] = 24                    # a person
    inst = instances_from_labels(labels)
    assert set(np.unique(inst[2:6, 2:8])) == {26000} and set(np.unique(inst[10:14, 20:28])) == {26001}
    assert set(np.unique(inst[12:18, 2:5])) == {24000}
    assert (inst[labels == 7] == 7).all()
    assert inst.dtype == np.int64 and (inst // 1000 == np.where(inst >= 1000, labels, 0)).all()
