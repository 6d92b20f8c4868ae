"""A dataset with one broken file, and a run used from another folder or after its data moved.

A missing label or instance map, or a crop without its mask, stops train.py before the first step
with one line naming the file and nothing written; a file that only fails when decoded (a truncated
JPEG) stops the run at that sample with one line naming it, after saving what was trained, and the
run resumed once the file is fixed ends with the weights of a run that never broke. A saved run
edits the same picture from any working folder, and one whose data moved says so in one line."""
import os
import shutil

import numpy as np
import pytest
from PIL import Image

import train as train_script
from helpers import (TINY_NETS, TINY_RUN, NothingWritten, assert_same_state, error_line, expect_user_error, load,
                     one_thread, python, run, run_main, small_cityscapes, truncate)
from semedit.util.distributed import ResumableSampler

N = 4  # training frames of the small dataset


SCENE_STAGES = {
    'spmpgan': ['--model', 'spmpgan'],
    'siedob-background': ['--model', 'siedob', '--stage', 'background', '--crop_size', '64', '--batch_size', '1'],
}
OBJECT_STAGE = ['--model', 'siedob', '--stage', 'object_inpainting', '--batch_size', '1', '--no_object_repeat']


def argv(dataroot, ckpt, name, stage, *extra):
    return ['--dataset_name', 'cityscapes', '--dataroot', dataroot, '--checkpoints_dir', ckpt, '--name', name,
            *stage, *TINY_NETS, *TINY_RUN, *extra]


@pytest.mark.parametrize('stage', SCENE_STAGES)
@pytest.mark.parametrize('missing', ['labels', 'inst_map'])
def test_a_missing_map_stops_before_the_first_step(demo_root, tmp_path, capsys, stage, missing):
    data = small_cityscapes(demo_root, tmp_path / 'data')
    gone = os.path.join(data, 'cityscapes', 'train', missing, 'demo_00002.png')
    os.remove(gone)
    ckpt = tmp_path / 'checkpoints'
    with NothingWritten(tmp_path):
        expect_user_error(train_script.main, argv(data, str(ckpt), 'run', SCENE_STAGES[stage], '--max_iters', '2'),
                          capsys, gone, 'demo_00002.jpg')
    assert not ckpt.exists()


def test_an_object_crop_without_its_mask_stops_before_the_first_step(demo_root, tmp_path, capsys):
    data = small_cityscapes(demo_root, tmp_path / 'data', objects=True)
    folder = os.path.join(data, 'cityscapes', 'object_datasets', 'person', 'train')
    stem = os.path.splitext(sorted(os.listdir(os.path.join(folder, 'images')))[1])[0]
    os.remove(os.path.join(folder, 'inst_mask', stem + '.png'))
    args = argv(data, str(tmp_path / 'ckpt'), 'run', OBJECT_STAGE, '--max_iters', '2')
    gone = os.path.join(folder, 'inst_mask', stem + '.png')
    with NothingWritten(tmp_path):
        expect_user_error(train_script.main, args, capsys, gone, 'not found')


def broken_position(n, index, seed=0):
    """The 0-based iteration at which a shuffled epoch reaches sample ``index`` (batch size 1)."""
    sampler = ResumableSampler(n, seed)
    sampler.set_epoch(0)
    return list(sampler).index(index)


@pytest.mark.parametrize('stage', ['spmpgan', 'object_inpainting'])
def test_a_truncated_file_mid_run_stops_saves_and_resumes_exactly(demo_root, tmp_path, capsys, stage):
    """One loader worker (the default): the worker's error reaches the user as its one line, from
    train.py's process. The run saved the iterations before the broken sample; fixed and resumed, it
    ends as a run that never broke (both through train.main, as the first run's code path)."""
    data = small_cityscapes(demo_root, tmp_path / 'data', objects=stage != 'spmpgan')
    flags = SCENE_STAGES['spmpgan'] if stage == 'spmpgan' else OBJECT_STAGE
    if stage == 'spmpgan':
        folder, n = os.path.join(data, 'cityscapes', 'train', 'images'), N
    else:
        folder, n = os.path.join(data, 'cityscapes', 'object_datasets', 'car', 'train', 'images'), 6
    names = sorted(os.listdir(folder))
    # the sample the epoch reaches third: two steps are saved before it, one follows
    index = next(i for i in range(n) if broken_position(n, i) == 2)
    entries = names if stage == 'spmpgan' else names + sorted(os.listdir(folder.replace('car', 'person')))
    broken = os.path.join(folder if index < len(names) else folder.replace('car', 'person'), entries[index])
    original = truncate(broken)
    ckpt = str(tmp_path / 'ckpt')
    args = argv(data, ckpt, 'run', flags, '--max_iters', '3', '--num_workers', '1')
    out = run(tmp_path, *python('train.py', *args), expect=2)
    line = error_line(out, broken, 'stopped after iteration 2', '--continue_train')
    assert line.startswith('error: cannot read')
    saved = load(os.path.join(ckpt, 'run', 'latest.pth'))
    assert saved['total_iters'] == 2
    open(broken, 'wb').write(original)
    with one_thread():  # as the process ran: the same sums, bit for bit
        for name, extra in (('run', ['--continue_train']), ('straight', [])):
            code, _, err, _ = run_main(train_script.main, argv(data, ckpt, name, flags, '--max_iters', '3',
                                                               '--num_workers', '1', *extra), capsys)
            assert code == 0, err[-3000:]
    resumed, straight = (load(os.path.join(ckpt, name, 'latest.pth')) for name in ('run', 'straight'))
    assert resumed['total_iters'] == straight['total_iters'] == 3
    assert_same_state(resumed, straight)


# ---- a saved run, used from elsewhere ------------------------------------------------------------

@pytest.fixture(scope='module')
def relative_run(demo_root, tmp_path_factory):
    """An SPM-PGAN run trained from folder ``a`` with ``--dataroot data`` (relative)."""
    root = tmp_path_factory.mktemp('moved')
    small_cityscapes(demo_root, root / 'a' / 'data')
    ckpt = str(root / 'checkpoints')
    run(root / 'a', *python('train.py', *argv('data', ckpt, 'run', [], '--max_iters', '1')))
    return root, ckpt


def edit_test_split(cwd, ckpt, results, expect=0):
    return run(cwd, *python('test.py', '--name', 'run', '--checkpoints_dir', ckpt, '--results_dir', str(results),
                            '--how_many', '2', '--device', 'cpu'), expect=expect)


def test_a_saved_run_edits_the_same_from_any_folder(relative_run):
    root, ckpt = relative_run
    assert load(os.path.join(ckpt, 'run', 'latest.pth'))['opt']['dataroot'] == str(root / 'a' / 'data')
    (root / 'b').mkdir()
    pictures = []
    for cwd in ('a', 'b'):
        edit_test_split(root / cwd, ckpt, root / f'results_{cwd}')
        folder = root / f'results_{cwd}' / 'run' / 'test_latest' / 'edited'
        pictures.append([np.asarray(Image.open(folder / f)) for f in sorted(os.listdir(folder))])
        assert len(pictures[-1]) == 2
    assert all(np.array_equal(x, y) for x, y in zip(*pictures))
    assert sorted(os.listdir(root / 'b')) == []   # nothing generated where the command ran


def test_a_run_whose_data_moved_says_so(relative_run, tmp_path):
    root, ckpt = relative_run
    shutil.move(str(root / 'a' / 'data'), str(root / 'elsewhere'))
    try:
        with NothingWritten(root, tmp_path):
            out = edit_test_split(tmp_path, ckpt, tmp_path / 'results', expect=2)
        error_line(out, str(root / 'a' / 'data' / 'cityscapes' / 'test' / 'images'), '--dataroot')
        assert not (tmp_path / 'results').exists()
    finally:
        shutil.move(str(root / 'elsewhere'), str(root / 'a' / 'data'))
