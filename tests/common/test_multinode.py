"""Training across machines, on one box.

Two nodes: two ``torchrun`` launchers, one process each, meet at a c10d rendezvous on 127.0.0.1 (gloo),
as two machines would (``--nnodes 2``); SPM-PGAN and SIEDOB's object-inpainting stage train there
with batch 1 per rank (``ddp_probe.py`` records each rank's losses, weights and writes). They train
as one process with the global batch, 2: each rank's samples are the one process's batch split in
two (the sampler's order, data drawn from (seed, epoch, index)), so the mean of the ranks' losses is
the one-process loss. At the first iteration the weights are the same and only the reductions'
order differs; afterwards DDP's averaged gradient and the one process's differ in their last bits,
and Adam turns a few of those into whole steps (±lr where a gradient nearly cancels), so the losses
stay close rather than equal. Only rank 0 writes.

Faults: ``torchrun --max-restarts 2`` with ``--continue_train auto`` (``elastic_probe.py``): rank 1
is killed with SIGKILL after iteration 3, then rank 0 halfway through writing the checkpoint of
iteration 4; each time torchrun restarts both and they resume from iteration 2, and the run ends
with the weights and optimiser states of a run resumed from iteration 2 without faults, bit for bit.
A restart pointed at another configuration's run folder is refused, nothing written.
"""
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

import train as train_script
from helpers import ROOT, assert_same_state, expect_user_error, load

HERE = os.path.dirname(os.path.abspath(__file__))
ITERS = 3
COMMON = ['--dataset_name', 'demo', '--ngf', '4', '--ndf', '8', '--lambda_vgg', '0', '--max_iters', str(ITERS),
          '--num_workers', '0', '--device', 'cpu', '--print_freq', '1', '--no_tensorboard', '--save_epoch_freq', '0']
CASES = {'spmpgan': [], 'siedob-object_inpainting': ['--model', 'siedob', '--stage', 'object_inpainting']}
FLOAT32_EPS = float(np.finfo(np.float32).eps)


def without(argv, flag):
    """``argv`` less ``flag`` and its value."""
    i = argv.index(flag)
    return argv[:i] + argv[i + 2:]


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def torchrun(*argv):
    return [sys.executable, '-m', 'torch.distributed.run', *argv]


def environment():
    return dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT, TORCH_DISABLE_SHARE_RDZV_TCP_STORE='1')


@pytest.fixture(scope='module')
def two_nodes(demo_root, tmp_path_factory):
    from ddp_probe import probe
    tmp = tmp_path_factory.mktemp('two_nodes')
    records, checkpoints = tmp / 'records', str(tmp / 'two')
    cases = []
    for i, (case, extra) in enumerate(CASES.items()):
        cases += (['---'] if i else []) + [case] + COMMON + extra + [
            '--batch_size', '1', '--dataroot', demo_root, '--checkpoints_dir', checkpoints, '--name', case]
    rendezvous = ['--nnodes', '2', '--nproc_per_node', '1', '--rdzv_backend', 'c10d', '--rdzv_endpoint',
                  f'127.0.0.1:{free_port()}', '--rdzv_id', 'semedit-two-nodes']
    logs = [open(tmp / f'node{n}.log', 'w+') for n in (0, 1)]
    nodes = [subprocess.Popen(torchrun(*rendezvous, os.path.join(HERE, 'ddp_probe.py'), str(records), *cases),
                              cwd=ROOT, env=environment(), stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL) for log in logs]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the ranks' arithmetic
    try:  # the one-process runs with the global batch, meanwhile
        one = {case: probe(str(tmp / 'one' / case), COMMON + extra + [
            '--batch_size', '2', '--dataroot', demo_root, '--checkpoints_dir', str(tmp / 'one'), '--name', case],
            watch_writes=False) for case, extra in CASES.items()}
    finally:
        torch.set_num_threads(threads)
        for node in nodes:
            try:
                node.wait(timeout=600)
            finally:
                node.kill()
    outputs = []
    for log in logs:
        log.seek(0)
        outputs.append(log.read())
        log.close()
    for node, out in zip(nodes, outputs):
        assert node.returncode == 0 and 'Traceback' not in out, out[-3000:]
    two = {case: [torch.load(records / case / f'rank{r}.pt', weights_only=False) for r in (0, 1)] for case in CASES}
    return {'two': two, 'one': one, 'checkpoints': checkpoints}


@pytest.mark.parametrize('case', list(CASES))
def test_two_nodes_train_as_one_process_with_the_global_batch(two_nodes, case):
    rank0, rank1 = two_nodes['two'][case]
    one = two_nodes['one'][case]
    # two nodes of one process each: global ranks 0 and 1, local rank 0 on both
    assert (rank0['rank'], rank1['rank'], rank0['world_size'], rank1['world_size']) == (0, 1, 2, 2)
    assert rank0['local_rank'] == rank1['local_rank'] == 0 and {rank0['node'], rank1['node']} == {'0', '1'}
    assert_same_state(rank0['nets'], rank1['nets'])
    # each iteration the ranks had the one process's batch between them
    assert sorted(rank0['indices'] + rank1['indices']) == sorted(one['indices'])
    for it in range(ITERS):
        assert {rank0['indices'][it], rank1['indices'][it]} == set(one['indices'][2 * it:2 * it + 2])
    # the mean of the ranks' losses is the one-process loss: to float32 rounding at the first
    # iteration (same weights), within 1e-3 of the loss's scale after Adam's steps
    for it in range(ITERS):
        for name, value in one['losses'][it].items():
            ranks = (rank0['losses'][it][name] + rank1['losses'][it][name]) / 2
            bound = 64 * FLOAT32_EPS * (abs(value) + 1) if it == 0 else 1e-3 * (abs(value) + 0.1)
            assert abs(ranks - value) <= bound, (it, name, ranks, value)
    # and the weights: nearly all equal to the one process's, to float32 rounding
    close = total = 0
    for net, params in rank0['nets'].items():
        for key, value in params.items():
            if value.is_floating_point():
                total += value.numel()
                close += int(torch.isclose(value, one['nets'][net][key], rtol=1e-4, atol=1e-6).sum())
    assert close >= 0.99 * total, f'only {close} of {total} weights match the one-process run'
    # only rank 0 writes: its run folder
    run_dir = os.path.join(two_nodes['checkpoints'], case) + os.sep
    assert rank1['writes'] == [], rank1['writes']
    assert os.path.join(run_dir, 'latest.pth') in rank0['writes']
    assert all(w.startswith(run_dir) or w + os.sep == run_dir for w in rank0['writes']), rank0['writes']
    assert_same_state(load(os.path.join(run_dir, 'latest.pth')), rank0['nets'])


# ---- faults ----------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def restarted(demo_root, tmp_path_factory):
    """The fault run (torchrun --max-restarts 2 through elastic_probe.py) and its reference: a run to
    iteration 2, then resumed to 6, without faults."""
    tmp = tmp_path_factory.mktemp('elastic')
    args = without(COMMON, '--max_iters') + [
        '--batch_size', '1', '--save_latest_freq', '2', '--dataroot', demo_root, '--checkpoints_dir', str(tmp)]
    standalone = ['--standalone', '--nproc_per_node', '2']

    def launch(*argv):
        res = subprocess.run(torchrun(*standalone, *argv), cwd=ROOT, env=environment(), capture_output=True,
                             text=True, stdin=subprocess.DEVNULL, timeout=600)
        return res.returncode, res.stdout + res.stderr

    faults = launch('--max-restarts', '2', os.path.join(HERE, 'elastic_probe.py'), *args, '--name', 'faults',
                    '--max_iters', '6', '--continue_train', 'auto')
    reference = [launch('train.py', *args, '--name', 'reference', '--max_iters', '2'),
                 launch('train.py', *args, '--name', 'reference', '--max_iters', '6', '--continue_train')]
    return {'faults': faults, 'reference': reference, 'root': tmp, 'args': args}


def test_killed_ranks_restart_resume_and_end_as_an_uninterrupted_run(restarted):
    code, out = restarted['faults']
    assert code == 0, out[-4000:]
    for attempt in (0, 1, 2):
        assert f'attempt {attempt} rank 0 starts' in out and f'attempt {attempt} rank 1 starts' in out
    folder = restarted['root'] / 'faults'
    assert f'--continue_train auto: no {folder / "latest.pth"} yet, starting the run' in out
    # both restarts resumed from iteration 2: the save of iteration 4 was cut off, latest.pth stayed whole
    assert out.count(f'Resuming from {folder / "latest.pth"}: epoch 0, iteration 2') == 2, out[-4000:]
    assert out.count('a save that was cut off') == 1
    assert not [n for n in os.listdir(folder) if n.endswith('.tmp')]
    for code, ref_out in restarted['reference']:
        assert code == 0, ref_out[-3000:]
    ours, reference = load(folder / 'latest.pth'), load(restarted['root'] / 'reference' / 'latest.pth')
    assert ours['total_iters'] == reference['total_iters'] == 6
    assert_same_state(ours, reference)
    for name in reference['optimizers']:
        for a, b in zip(torch.utils._pytree.tree_leaves(ours['optimizers'][name]),
                        torch.utils._pytree.tree_leaves(reference['optimizers'][name])):
            assert (torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b), name


def snapshot(folder):
    return {os.path.join(d, f): (os.path.getsize(os.path.join(d, f)), os.path.getmtime(os.path.join(d, f)))
            for d, _, files in os.walk(folder) for f in files}


@pytest.mark.parametrize('change', [['--model', 'siedob', '--stage', 'object_inpainting'], ['--ngf', '8'],
                                    ['--dataset_name', 'cityscapes']],
                         ids=['another-model', 'another-width', 'another-dataset'])
def test_a_restart_on_another_configurations_run_folder_is_refused(restarted, capsys, change):
    folder = restarted['root'] / 'reference'
    before = snapshot(folder)
    args = without(restarted['args'], change[0]) if change[0] in restarted['args'] else restarted['args']
    expect_user_error(train_script.main, args + ['--name', 'reference', '--max_iters', '8', '--continue_train',
                                                  'auto'] + change, capsys, 'opt.json records --', 'new --name')
    assert snapshot(folder) == before


def test_torchruns_shared_store_with_restarts_is_warned_of():
    from semedit.util.distributed import shared_store_warning
    shared = {'TORCHELASTIC_USE_AGENT_STORE': 'True', 'TORCHELASTIC_MAX_RESTARTS': '2'}
    assert 'TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1' in shared_store_warning(shared)
    assert shared_store_warning(dict(shared, TORCHELASTIC_MAX_RESTARTS='0')) is None
    assert shared_store_warning(dict(shared, TORCHELASTIC_USE_AGENT_STORE='False')) is None
    assert shared_store_warning({}) is None


def test_the_slurm_script_trains_and_a_requeue_resumes(demo_root, tmp_path):
    """scripts/slurm_train.sbatch on one "node" (srun and scontrol stand-ins, one CPU process): the run
    starts, and the same job run again (a requeue) with a larger --max_iters resumes it."""
    stubs = tmp_path / 'bin'
    stubs.mkdir()
    (stubs / 'scontrol').write_text('#!/bin/sh\necho 127.0.0.1\n')
    (stubs / 'srun').write_text('#!/bin/sh\nexec "$@"\n')
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    env = dict(environment(), PATH=f'{stubs}{os.pathsep}{os.environ["PATH"]}', SLURM_JOB_NODELIST='node1',
               SLURM_JOB_NUM_NODES='1', SLURM_JOB_ID='4242', SLURM_SUBMIT_DIR=ROOT, GPUS_PER_NODE='1',
               PORT=str(free_port()))
    env.pop('TORCH_DISABLE_SHARE_RDZV_TCP_STORE')  # the script sets it
    argv = ['bash', os.path.join(ROOT, 'scripts', 'slurm_train.sbatch')] + without(COMMON, '--max_iters') + [
        '--batch_size', '1', '--dataroot', demo_root, '--checkpoints_dir', str(tmp_path), '--name', 'slurm',
        '--save_latest_freq', '2']

    def job(iters):
        res = subprocess.run(argv + ['--max_iters', str(iters)], cwd=str(tmp_path), env=env, capture_output=True,
                             text=True, stdin=subprocess.DEVNULL, timeout=600)
        out = res.stdout + res.stderr
        assert res.returncode == 0 and 'Traceback' not in out, out[-3000:]
        return out

    first = job(2)
    assert 'starting the run' in first and 'Done: 2 iterations' in first and 'warning' not in first
    second = job(4)
    assert f'Resuming from {tmp_path / "slurm" / "latest.pth"}: epoch 0, iteration 2' in second
    assert 'Done: 4 iterations' in second and load(tmp_path / 'slurm' / 'latest.pth')['total_iters'] == 4
