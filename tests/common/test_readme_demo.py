"""The README's first command, `bash scripts/demo.sh`, as a whole (scripts/demo.sh, which runs
scripts/demo_siedob.sh, both running scripts/make_demo_edit.py): one training iteration per run
(ITERS, SIEDOB_ITERS), grids drawn at it (--display_freq 1, an extra argument for train.py), in a
fresh folder (DEMO_DIR) holding a copy of the session's demo data. Every output the README promises
is there, as images of the demo's size."""
import os
import sys

import pytest
from PIL import Image

from helpers import ROOT, copy_demo, run

SIZE = (256, 256)  # the demo test images: (W, H)
GAP = 4  # between a panel's tiles (util/visualizer.py)


def panel_size(tiles):
    return tiles * SIZE[0] + (tiles - 1) * GAP, SIZE[1]


def image_size(path):
    with Image.open(path) as im:
        im.load()  # a truncated file fails here
        return im.size


def images_in(folder):
    return sorted(name for name in os.listdir(folder) if name.endswith(('.png', '.jpg')))


@pytest.fixture(scope='module')
def demo(tmp_path_factory, demo_root):
    """The demo's folder after the run, and what the run printed."""
    folder = copy_demo(demo_root, str(tmp_path_factory.mktemp('readme') / 'datasets'))
    folder = os.path.dirname(folder)
    out = run(folder, 'bash', os.path.join(ROOT, 'scripts', 'demo.sh'), '--display_freq', '1',
              env={'ITERS': '1', 'SIEDOB_ITERS': '1', 'DEMO_DIR': folder})
    assert 'Generating the demo dataset' not in out  # the copy was used, as a user's earlier run
    return folder, out


def test_spmpgan_part_writes_what_the_readme_promises(demo):
    """results/demo/edited.png and its four-tile panel (input | masked input | edited labels |
    output), the test split's 8 edits and panels, training grids and TensorBoard logs."""
    folder, out = demo
    results, runs = os.path.join(folder, 'results', 'demo'), os.path.join(folder, 'checkpoints', 'demo')
    assert 'SPM-PGAN results:' in out and 'edited image:        results/demo/edited.png' in out
    assert image_size(os.path.join(results, 'edited.png')) == SIZE
    assert image_size(os.path.join(results, 'edited_panel.png')) == panel_size(4)
    for kind in ('edited', 'panels'):
        names = images_in(os.path.join(results, 'test_latest', kind))
        assert len(names) == 8, (kind, names)
    edits = [image_size(os.path.join(results, 'test_latest', 'edited', n)) for n in images_in(
        os.path.join(results, 'test_latest', 'edited'))]
    assert edits == [SIZE] * 8
    grids = images_in(os.path.join(runs, 'web', 'images'))
    assert grids and all(image_size(os.path.join(runs, 'web', 'images', g))[0] >= SIZE[0] for g in grids)
    assert any(name.startswith('events.out.tfevents') for name in os.listdir(os.path.join(runs, 'logs')))


def test_siedob_part_writes_what_the_readme_promises(demo):
    """results/siedob_demo/edited.png and its seven-tile panel (input | masked | edited labels |
    pasted objects | background | before fusion | output), each stage's grids, and in
    checkpoints/siedob_demo/fusion/ the four parts test.py --model siedob edits with."""
    folder, out = demo
    results, runs = (os.path.join(folder, 'results', 'siedob_demo'),
                     os.path.join(folder, 'checkpoints', 'siedob_demo'))
    assert 'SIEDOB results:' in out
    assert image_size(os.path.join(results, 'edited.png')) == SIZE
    assert image_size(os.path.join(results, 'edited_panel.png')) == panel_size(7)
    for stage in ('object_inpainting', 'object_style', 'background', 'fusion'):
        assert images_in(os.path.join(runs, stage, 'web', 'images')), stage
    parts = set(os.listdir(os.path.join(runs, 'fusion')))
    assert {'latest.pth', 'bg.pth', 'object_inpainting.pth', 'object_style.pth', 'references'} <= parts, parts


def readme_python_example():
    """The README's Python example, as written there."""
    readme = open(os.path.join(ROOT, 'README.md'), encoding='utf-8').read()
    start = readme.index('```python', readme.index('Edit from Python')) + len('```python')
    return readme[start:readme.index('```', start)]


def test_the_readme_python_example_gives_test_pys_pictures(demo):
    """The README's semedit example, run as written in the demo's folder: test.py's PNG of the same
    inputs, byte for byte (SPM-PGAN), and a SIEDOB edit of the demo's size."""
    folder, _ = demo
    code = readme_python_example() + "\nprint(out.size)\n"
    out = run(folder, sys.executable, '-c', code)
    assert out.strip().splitlines()[-1] == str(SIZE)
    with open(os.path.join(folder, 'edited_from_python.png'), 'rb') as a, \
            open(os.path.join(folder, 'results', 'demo', 'edited.png'), 'rb') as b:
        assert a.read() == b.read()
