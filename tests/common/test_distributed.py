"""torchrun with two CPU processes (gloo): the ranks train one model, on different samples, and only
rank 0 writes.

One ``torchrun`` launch trains all four models one after the other in the same two processes
(``ddp_probe.py``, which calls ``train.train`` as train.py does and saves per rank what it trained
on and what it ended with): SPM-PGAN, and SIEDOB's background stage (seeded so that one rank's
first sample has no mask boundary: its patch discriminator sees 0 patches while the other rank's
sees 4, the hazard DDP must survive) and both object stages. The object stages are kept because a
DDP bug can be a model's own (a net called directly instead of through ``BaseModel.wrap``, so its
gradients are never averaged; a parameter some inputs leave unused, which stops DDP), and in the
shared launch they cost about 2 s each, where a launch of their own costs ~15 s (torch's import in
two processes, the rendezvous). The one-process runs the two-process weights are compared with run
in this process, on one thread as the ranks do, while torchrun runs.

For each model: (a) the ranks end with the same weights, bit for bit; (b) those are not the
weights of a one-process run with the same flags (the averaged gradient of two different samples is
not one sample's; a run whose ranks all read the whole dataset would match it bit for bit); (c)
each rank was fed its own share of the sampler's order, the two shares disjoint; (d) rank 1 wrote
no file (an audit hook records every write below the run and data folders), rank 0 wrote the run
folder, and latest.pth holds the trained weights. The sampler itself is checked in-process for
several dataset sizes, world sizes and a resume offset.
"""
import os
import subprocess
import sys

import pytest
import torch

from helpers import ROOT, assert_same_state, load
from semedit.util.distributed import ResumableSampler

PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'ddp_probe.py')
ITERS = 2
COMMON = ['--dataset_name', 'demo', '--ngf', '4', '--ndf', '8', '--lambda_vgg', '0', '--max_iters', str(ITERS),
          '--batch_size', '1', '--num_workers', '0', '--device', 'cpu', '--print_freq', '1', '--no_tensorboard',
          '--save_epoch_freq', '0']
CASES = {
    'spmpgan': [],
    # seed 4: rank 0's first sample has no background-mask boundary (0 patches), rank 1's has one (4)
    'siedob-background': ['--model', 'siedob', '--stage', 'background', '--crop_size', '64', '--seed', '4'],
    'siedob-object_inpainting': ['--model', 'siedob', '--stage', 'object_inpainting'],
    'siedob-object_style': ['--model', 'siedob', '--stage', 'object_style'],
}


#: a file that only rank 1 reaches, at its second iteration, is truncated (SPM-PGAN on a copy of the
#: demo's first frames): both ranks stop after the first iteration, rank 0 saves it and says so
BROKEN = 'spmpgan-broken-file'


def train_argv(case, dataroot, checkpoints_dir):
    return COMMON + CASES[case] + ['--dataroot', dataroot, '--checkpoints_dir', checkpoints_dir, '--name', case]


def broken_dataset(demo_root, dest):
    """(dataroot, the truncated file) of the broken case."""
    from helpers import small_cityscapes, truncate
    data = small_cityscapes(demo_root, dest, n=4)
    images = os.path.join(data, 'cityscapes', 'train', 'images')
    second_of_rank1 = ResumableSampler(4, 0, num_replicas=2, rank_id=1).order()[1]
    broken = os.path.join(images, sorted(os.listdir(images))[second_of_rank1])
    truncate(broken)
    return data, broken


@pytest.fixture(scope='module')
def runs(demo_root, tmp_path_factory):
    """{'two': {case: [rank0, rank1]}, 'one': {case: record}, 'stdout', 'checkpoints'}: one torchrun
    launch for every case, and the one-process runs in this process meanwhile."""
    from ddp_probe import probe
    tmp = tmp_path_factory.mktemp('ddp')
    two_ckpt, one_ckpt = str(tmp / 'two'), str(tmp / 'one')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', PROBE,
           str(tmp / 'records')]
    for i, case in enumerate(CASES):
        cmd += (['---'] if i else []) + [case] + train_argv(case, demo_root, two_ckpt)
    broken_root, broken = broken_dataset(demo_root, tmp / 'broken_data')
    cmd += ['---', BROKEN] + COMMON + ['--dataset_name', 'cityscapes', '--dataroot', broken_root, '--checkpoints_dir',
                                       two_ckpt, '--name', BROKEN]
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    with open(tmp / 'torchrun.log', 'w+') as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the ranks' arithmetic (OMP_NUM_THREADS=1)
        try:
            one = {case: probe(str(tmp / 'one_records' / case), train_argv(case, demo_root, one_ckpt),
                               watch_writes=False) for case in CASES}
        finally:
            torch.set_num_threads(threads)
            try:
                proc.wait(timeout=600)
            finally:
                proc.kill()
        log.seek(0)
        stdout = log.read()
    assert 'Traceback' not in stdout, stdout[-3000:]
    assert proc.returncode == 0, stdout[-3000:]
    two = {case: [torch.load(tmp / 'records' / case / f'rank{r}.pt', weights_only=False) for r in (0, 1)]
           for case in list(CASES) + [BROKEN]}
    return {'two': two, 'one': one, 'stdout': stdout, 'checkpoints': two_ckpt, 'dataroot': demo_root,
            'broken': broken}


@pytest.mark.parametrize('case', list(CASES))
def test_ranks_train_one_model_on_their_own_samples(runs, case):
    rank0, rank1 = runs['two'][case]
    assert (rank0['rank'], rank0['world_size'], rank1['rank'], rank1['world_size']) == (0, 2, 1, 2)

    # (a) one model: every parameter and buffer equal on both ranks after the steps
    assert_same_state(rank0['nets'], rank1['nets'])

    # (b) it learnt from both ranks' samples. Adam's first step moves a weight by lr·g/(|g| + eps), ±lr
    # wherever the gradient is not tiny, so every weight where the two-sample gradient has the other
    # sign than the one-sample gradient ends ~2·lr from the one-process run's: 39-87 % of each net's weights
    # here. The same arithmetic on the same samples (one thread on both sides; DDP's
    # average of two equal gradients is exact) leaves every weight where it is, bit for bit.
    one = runs['one'][case]
    for net, params in rank0['nets'].items():
        moved = total = 0
        for key, value in params.items():
            if key in set(one['parameters'][net]):
                total += value.numel()
                moved += int(((value.double() - one['nets'][net][key].double()).abs() > one['lr'] / 2).sum())
        assert moved > total / 10, (f'{net}: only {moved} of {total} weights differ by more than lr/2 from a '
                                    f'one-process run\'s: rank 1\'s samples made (almost) no difference')

    # (c) rank r was fed the r-th share of the sampler's order, the shares disjoint
    n = rank0['dataset_len'][0]
    assert rank0['dataset_len'] == rank1['dataset_len'] == [n]
    for record in (rank0, rank1):
        share = ResumableSampler(n, record['seed'], num_replicas=2, rank_id=record['rank']).order()
        assert record['indices'] == share[:ITERS], record['rank']
    assert not set(rank0['indices']) & set(rank1['indices'])
    assert len(rank0['paths']) == len(rank1['paths']) == ITERS
    assert not set(rank0['paths']) & set(rank1['paths']), 'both ranks trained on the same files'
    assert one['indices'] == ResumableSampler(n, one['seed'], num_replicas=1, rank_id=0).order()[:ITERS]

    # (d) only rank 0 writes: its run folder, nothing in the data; rank 1 nothing at all
    run_dir = os.path.join(runs['checkpoints'], case) + os.sep
    assert rank1['writes'] == [], f'rank 1 wrote {rank1["writes"]}'
    assert os.path.join(run_dir, 'latest.pth') in rank0['writes'], rank0['writes']
    assert all(w.startswith(run_dir) or w + os.sep == run_dir for w in rank0['writes']), rank0['writes']
    summaries = [line for line in runs['stdout'].splitlines()
                 if line.strip() == f'checkpoint:   {os.path.join(run_dir, "latest.pth")}']
    assert len(summaries) == 1, runs['stdout'][-3000:]
    ckpt = load(os.path.join(run_dir, 'latest.pth'))
    assert ckpt['total_iters'] == ITERS
    assert_same_state(ckpt, rank0['nets'])


def test_a_file_one_rank_cannot_read_stops_every_rank_after_a_save(runs):
    """Rank 1 reaches the truncated file at iteration 2: both ranks stop after iteration 1 (rank 0
    would otherwise wait for rank 1 forever), rank 0 saves it and says so in one line naming the
    file, rank 1 leaves quietly with exit 2 (torchrun shows rank 0's line)."""
    rank0, rank1 = runs['two'][BROKEN]
    assert rank1.get('exit') == 2 and 'error' not in rank1
    line = rank0['error']
    assert runs['broken'] in line and 'stopped after iteration 1 and saved' in line and '--continue_train' in line
    assert len(rank0['indices']) == len(rank1['indices']) == 1
    ckpt = load(os.path.join(runs['checkpoints'], BROKEN, 'latest.pth'))
    assert ckpt['total_iters'] == 1 and rank1['writes'] == []


def test_background_ranks_saw_different_patch_counts(runs):
    """The seed of the background case does exercise the hazard: a rank with no boundary patches."""
    rank0, rank1 = runs['two']['siedob-background']
    assert rank0['patches'] != rank1['patches'], (
        f'patches per iteration {rank0["patches"]} and {rank1["patches"]}: the demo data changed, pick a --seed '
        f'for which one rank draws a sample without a mask boundary')


# ---- the sampler -------------------------------------------------------------------------------

def shares(n, world, seed=0, epoch=0):
    out = []
    for r in range(world):
        s = ResumableSampler(n, seed, num_replicas=world, rank_id=r)
        s.set_epoch(epoch)
        out.append(list(s))
        assert len(s) == len(out[-1])
    return out


@pytest.mark.parametrize('n', [1, 2, 5, 7, 12, 100])
@pytest.mark.parametrize('world', [1, 2, 3, 4])
def test_sampler_splits_each_epoch_across_ranks(n, world):
    per_rank = -(-n // world)
    for epoch in (0, 1):
        parts = shares(n, world, seed=3, epoch=epoch)
        assert [len(p) for p in parts] == [per_rank] * world  # same count per rank: no rank waits
        seen = [i for p in parts for i in p]
        assert set(seen) == set(range(n))  # the whole dataset once per epoch ...
        assert len(seen) - n == per_rank * world - n  # ... plus only the padding that evens the shares
        assert parts == shares(n, world, seed=3, epoch=epoch)  # drawn from (seed, epoch) alone
    if n >= 5:
        assert shares(n, world, seed=3, epoch=0) != shares(n, world, seed=3, epoch=1)
        assert shares(n, world, seed=3) != shares(n, world, seed=4)


@pytest.mark.parametrize('world', [1, 2, 3])
def test_sampler_resumes_mid_epoch(world):
    n, epoch = 23, 2
    for r in range(world):
        full = ResumableSampler(n, 5, num_replicas=world, rank_id=r)
        full.set_epoch(epoch)
        order = list(full)
        for start in (0, 1, 4, len(order)):
            resumed = ResumableSampler(n, 5, num_replicas=world, rank_id=r)
            resumed.set_epoch(epoch, start=start)
            assert list(resumed) == order[start:]
            assert len(resumed) == len(order) - start


@pytest.mark.parametrize('n,world', [(1, 3), (2, 5), (3, 8)])
def test_sampler_with_fewer_samples_than_half_the_ranks(n, world):
    """Padding longer than the dataset cycles it: every rank gets its one sample (a rank without one
    would leave DDP waiting for it forever)."""
    parts = shares(n, world)
    assert [len(p) for p in parts] == [1] * world and {i for p in parts for i in p} == set(range(n))
