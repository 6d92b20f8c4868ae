"""train.py with DataLoader worker processes (--num_workers, default 1; every other test passes 0):
the samples and training masks do not depend on the worker count, a run resumed with workers
continues exactly, and Ctrl-C with workers stops cleanly after the iteration under way."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from semedit import data
import train as train_script
from helpers import ROOT, TINY_NETS, assert_same_state, load
from semedit.models import find_model_using_name
from semedit.options import default_options
from semedit.util.distributed import ResumableSampler
from semedit.util.interrupt import ignore_interrupts_in_worker

#: every kind of training sample (a model's ``dataset_items``), at the crop its model trains on
KINDS = {
    'spmpgan': dict(model='spmpgan', crop_size='256'),
    'siedob-background': dict(model='siedob', stage='background', crop_size='64'),
    'siedob-object_inpainting': dict(model='siedob', stage='object_inpainting'),
    'siedob-object_style': dict(model='siedob', stage='object_style'),
    'siedob-fusion': dict(model='siedob', stage='fusion', crop_size='64'),
}

def loader_batches(dataset, workers, epoch, batch_size=2, batches=3):
    """The first ``batches`` batches of an epoch, from a DataLoader built as train.py builds it."""
    sampler = ResumableSampler(len(dataset), dataset.opt.seed)
    dataset.set_epoch(epoch)
    sampler.set_epoch(epoch)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                                         worker_init_fn=ignore_interrupts_in_worker)
    out = []
    for batch in loader:
        out.append(batch)
        if len(out) == batches:
            break
    return out


def identical(a, b):
    try:
        assert_identical(a, b)
    except AssertionError:
        return False
    return True


def assert_identical(a, b, where='batch'):
    """Nested batches equal: tensors bit for bit (dtype and shape too), everything else by ==."""
    assert type(a) is type(b), where
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_identical(a[k], b[k], f'{where}[{k!r}]')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f'{where}[{i}]')
    else:
        assert a == b, where


@pytest.mark.parametrize('kind', KINDS)
def test_samples_and_masks_do_not_depend_on_the_worker_count(demo_root, kind, two_threads):
    """Batches from 0, 1 and 2 workers bit for bit, two epochs (workers load on one thread: the main
    process loads on two here, as on any machine with more than one core)."""
    options = dict(KINDS[kind])
    model_cls = find_model_using_name(options['model'], options.get('stage'))
    opt = default_options(True, dataset_name='demo', dataroot=demo_root, seed=3, **options)
    dataset = data.create_dataset(opt, 'train', model_cls.dataset_items)
    for epoch in (0, 1):  # the masks and crops are drawn from (seed, epoch, index): the epoch reaches the workers
        alone = loader_batches(dataset, 0, epoch)
        assert len(alone) == 3
        for workers in (1, 2):
            assert_identical(alone, loader_batches(dataset, workers, epoch), f'{kind}, epoch {epoch}, '
                                                                              f'{workers} workers')
    # the same samples differ from one epoch to the next (crops, flips, masks, references): the comparison
    # of epoch 1 did check that the workers draw with the epoch the main process set
    epochs = []
    for epoch in (0, 1):
        dataset.set_epoch(epoch)
        epochs.append([dataset[i] for i in range(3)])
    assert not identical(*epochs)


BACKGROUND = ['--model', 'siedob', '--stage', 'background', '--crop_size', '64', '--dataset_name', 'demo',
              *TINY_NETS, '--batch_size', '1', '--max_dataset_size', '3', '--print_freq', '1', '--save_epoch_freq',
              '0', '--no_tensorboard', '--device', 'cpu']


def test_resume_with_workers_continues_exactly(demo_root, tmp_path):
    """4 iterations without workers == 2 iterations with the default single worker, then 2 more resumed
    with --continue_train and two workers, nets bit for bit. Three samples an epoch: the resumed run
    starts mid-epoch (the sampler's offset) and crosses into the next epoch (new workers, new masks)."""
    common = BACKGROUND + ['--dataroot', demo_root, '--checkpoints_dir', str(tmp_path)]
    train_script.main(common + ['--name', 'straight', '--num_workers', '0', '--max_iters', '4'])
    train_script.main(common + ['--name', 'resumed', '--max_iters', '2'])  # --num_workers: the default, 1
    first = load(tmp_path / 'resumed' / 'latest.pth')
    assert (first['total_iters'], first['epoch'], first['epoch_iter']) == (2, 0, 2)
    train_script.main(common + ['--name', 'resumed', '--num_workers', '2', '--max_iters', '4', '--continue_train'])
    straight, resumed = load(tmp_path / 'straight' / 'latest.pth'), load(tmp_path / 'resumed' / 'latest.pth')
    assert straight['total_iters'] == resumed['total_iters'] == 4
    assert (resumed['epoch'], resumed['epoch_iter']) == (1, 1)
    assert_same_state(straight, resumed)


def test_ctrl_c_with_workers_stops_after_the_iteration(demo_root, tmp_path):
    """A terminal's Ctrl-C reaches the whole foreground process group, the loader's workers included:
    the run finishes its iteration, saves and exits 130, and no worker prints a traceback."""
    argv = [sys.executable, os.path.join(ROOT, 'train.py'), *BACKGROUND, '--dataroot', demo_root,
            '--checkpoints_dir', str(tmp_path), '--name', 'stopped', '--num_workers', '2', '--max_iters', '100000']
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    log_path = tmp_path / 'output.txt'
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 300
            # a few iterations first: the workers of the epochs after the first are running too
            while '(epoch 2, iters 5)' not in log_path.read_text():
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
                time.sleep(0.05)
            os.killpg(proc.pid, signal.SIGINT)
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    out = log_path.read_text()
    assert code == 130, out[-3000:]
    for bad in ('Traceback', 'KeyboardInterrupt', 'Error', 'DataLoader worker'):
        assert bad not in out, out[-3000:]
    stopped = [line for line in out.splitlines() if line.startswith('Interrupted after iteration ')]
    assert len(stopped) == 1, out[-3000:]
    n = int(stopped[0].split()[3].rstrip(';'))
    assert n >= 5
    ckpt = load(tmp_path / 'stopped' / 'latest.pth')
    assert ckpt['total_iters'] == n
    assert f'iters {n})' in (tmp_path / 'stopped' / 'loss_log.txt').read_text().splitlines()[-1]
