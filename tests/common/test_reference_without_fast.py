"""The reference networks need nothing of the fast implementation: with ``models/networks/fast``
made unimportable, both systems build, load the authors' checkpoints and edit with --forward
reference bit for bit as with it; the default --forward fast then says what to do in one line."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from semedit.models.networks.spmpgan import ProgressiveGenerator
from siedob.parts_folder import write_parts, write_scene

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# test.py's main in a process where importing models.networks.fast fails, as if the folder were deleted
WITHOUT_FAST = ("import sys; sys.modules['semedit.models.networks.fast'] = None; import test; test.main(sys.argv[1:]); "
                "assert sys.modules['semedit.models.networks.fast'] is None; print('edited without fast/')")


def edit(argv, without_fast):
    cmd = [sys.executable, '-c', WITHOUT_FAST] if without_fast else [sys.executable, 'test.py']
    return subprocess.run(cmd + argv + ['--device', 'cpu'], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope='module')
def cases(tmp_path_factory):
    """test.py argument lists: the authors' SPM-PGAN file, and the authors' four SIEDOB files."""
    root = tmp_path_factory.mktemp('nofast')
    torch.manual_seed(6)
    state = {k: torch.randn(v.shape) * 0.02 for k, v in ProgressiveGenerator(34, ngf=8).state_dict().items()}
    torch.save({'epoch': 0, 'netG': state}, root / 'cityscapes.pth')
    scene = write_scene(str(root / 'scene'), size=(256, 256), cars=((120, 170, 60, 150, True),))
    siedob_scene = write_scene(str(root / 'siedob_scene'), cars=((10, 30, 8, 30, False),))
    folder = os.path.dirname(write_parts(str(root / 'authors'), 'authors')['fusion'])
    spmpgan = ['--checkpoint', str(root / 'cityscapes.pth'), '--image_path', scene['image'], '--segmap_path',
               scene['label'], '--mask_path', scene['mask']]
    siedob = ['--model', 'siedob', '--checkpoints_dir', folder, '--image_path', siedob_scene['image'],
              '--segmap_path', siedob_scene['label'], '--instance_path', siedob_scene['instance'],
              '--mask_path', siedob_scene['mask']]
    return root, {'spmpgan': spmpgan, 'siedob': siedob}


@pytest.mark.parametrize('system', ['spmpgan', 'siedob'])
def test_reference_edits_the_same_without_the_fast_package(cases, system):
    root, argvs = cases
    outputs = []
    for without_fast in (False, True):
        out = root / f'{system}_{without_fast}.png'
        res = edit(argvs[system] + ['--forward', 'reference', '--output_path', str(out)], without_fast)
        assert res.returncode == 0, res.stderr
        outputs.append(np.asarray(Image.open(out)))
    assert 'edited without fast/' in res.stdout
    assert outputs[0].std() > 1 and np.array_equal(outputs[0], outputs[1])


def test_the_fast_default_without_the_package_is_one_line(cases):
    root, argvs = cases
    out = root / 'default.png'
    res = edit(argvs['spmpgan'] + ['--output_path', str(out)], without_fast=True)
    assert res.returncode != 0 and not out.exists()
    assert len(res.stderr.strip().splitlines()) == 1 and '--forward reference' in res.stderr, res.stderr
