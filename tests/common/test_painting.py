"""semedit/engine/painting.py: a painted canvas read back to label ids, the mask grown, the instance
map of an edit (the web editor's arithmetic, without a browser)."""
import numpy as np
import pytest

from semedit.engine.painting import (MAX_CANVAS, REPAINT_ONLY, canvas_size, edit_from_strokes, instances_after_edit,
                                     read_strokes, repaint_only_colour, show)
from semedit.util.label_classes import palette

CAR, ROAD, SKY, PERSON = 26, 7, 23, 24


def labels(h=40, w=60):
    out = np.full((h, w), ROAD, np.int64)
    out[: h // 3] = SKY
    return out


@pytest.mark.parametrize('label_nc', [34, 151, 10])
def test_strokes_read_back_by_nearest_colour_also_at_blended_edges(label_nc):
    lab = labels() % label_nc
    shown = show(lab, label_nc)
    painted = shown.copy()
    c = 3 % label_nc
    painted[20:24, 10:30] = palette(label_nc)[c]
    # an anti-aliased edge: 80 % of the brush over what was shown
    edge = (0.8 * palette(label_nc)[c] + 0.2 * shown[24, 10:30]).round().astype(np.uint8)
    painted[24, 10:30] = edge
    where, ids = read_strokes(shown, painted, label_nc)
    assert where[20:25, 10:30].all() and where.sum() == 5 * 20
    assert (ids[20:25, 10:30] == c).all()


def test_the_repaint_only_brush_grows_the_mask_and_keeps_the_classes():
    lab = labels()
    shown = show(lab, 34)
    painted = shown.copy()
    painted[5:8, 5:15] = repaint_only_colour(34)
    painted[30:33, 40:50] = palette(34)[CAR]
    edited, mask = edit_from_strokes(lab, shown, painted, 34, grow=2)
    assert (edited[5:8, 5:15] == SKY).all() and (edited[30:33, 40:50] == CAR).all()
    assert (edited != lab).sum() == 30
    assert mask[5:8, 5:15].all() and mask[30:33, 40:50].all()
    assert mask[3, 10] and mask[28, 45] and not mask[2, 10] and not mask[27, 45]  # grown by 2, not 3
    assert read_strokes(shown, painted, 34)[1][6, 6] == REPAINT_ONLY
    assert tuple(repaint_only_colour(34)) not in {tuple(c) for c in palette(34)[:34]}


def test_a_large_label_map_is_painted_on_a_smaller_canvas_and_read_back_at_its_size():
    lab = labels(1200, 3000)
    assert canvas_size(lab.shape) == (410, MAX_CANVAS)
    shown = show(lab, 34)
    assert shown.shape == (410, MAX_CANVAS, 3)
    painted = shown.copy()
    painted[200:210, 500:520] = palette(34)[CAR]
    edited, mask = edit_from_strokes(lab, shown, painted, 34, grow=0)
    assert edited.shape == lab.shape and mask.shape == lab.shape
    rows, cols = np.nonzero(edited == CAR)
    scale = 3000 / MAX_CANVAS
    assert abs(rows.min() - 200 * scale) <= scale and abs(cols.max() + 1 - 520 * scale) <= scale
    assert np.array_equal(mask, edited != lab)


def test_a_canvas_of_another_size_is_refused():
    lab = labels()
    with pytest.raises(ValueError, match='60×40'):
        read_strokes(show(lab, 34), np.zeros((10, 10, 3), np.uint8), 34)


def test_each_painted_car_region_is_a_new_instance_and_stuff_takes_its_class():
    lab = labels()
    inst = lab.copy()
    lab[30:35, 2:8] = CAR
    inst[30:35, 2:8] = CAR * 1000 + 4        # an existing car: the next is 26005
    edited = lab.copy()
    edited[20:25, 10:20] = CAR               # two separate strokes of car
    edited[20:25, 40:50] = CAR
    edited[2:5, 2:5] = ROAD                  # stuff
    edited[14:18, 30:33] = PERSON            # the first person: 24000
    out = instances_after_edit(inst, lab, edited)
    assert set(np.unique(out[20:25, 10:20])) == {26005} and set(np.unique(out[20:25, 40:50])) == {26006}
    assert (out[2:5, 2:5] == ROAD).all() and (out[14:18, 30:33] == 24000).all()
    assert (out[30:35, 2:8] == 26004).all()
    untouched = edited == lab
    assert np.array_equal(out[untouched], inst[untouched])
