"""Multi-GPU support (torchrun + DDP): per-rank seeds and samplers, only rank 0 writes.

Single-process runs never touch torch.distributed.
"""
import os

import torch


def world_size():
    return int(os.environ.get('WORLD_SIZE', '1'))


def rank():
    return int(os.environ.get('RANK', '0'))


def local_rank():
    return int(os.environ.get('LOCAL_RANK', '0'))


def is_main_process():
    return rank() == 0


_CONTROL = {}  # the process group of the ranks' small CPU messages (gloo), once initialised


def init_distributed(device):
    """Initialise the process group when launched by torchrun with more than one process, and a
    gloo group beside an NCCL one for the ranks' small agreements (``first_message``): a CPU
    all-reduce there does not wait for the GPU's queued work, as one through NCCL would."""
    if world_size() > 1 and not torch.distributed.is_initialized():
        backend = 'nccl' if device.type == 'cuda' else 'gloo'
        if device.type == 'cuda':
            torch.cuda.set_device(device)
        torch.distributed.init_process_group(backend=backend)
        _CONTROL['group'] = torch.distributed.new_group(backend='gloo') if backend != 'gloo' else None


def shared_store_warning(environ=os.environ):
    """The line to print when torchrun may restart workers (--max-restarts) while they share its
    rendezvous store: a restarted worker can then read a dead worker's address and fail to connect
    (pytorch/pytorch#135712; seen here with gloo). None when the launch is safe."""
    if environ.get('TORCHELASTIC_USE_AGENT_STORE') == 'True' and int(environ.get('TORCHELASTIC_MAX_RESTARTS', 0)):
        return ('warning: torchrun --max-restarts with its shared store: a restart can reach for a dead worker\'s '
                'address and fail; launch with TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 (docs/usage.md, '
                '"Training across machines")')
    return None


def first_message(message):
    """Under DDP, every rank's answer to "did any rank stop?": the lowest rank's message that is not
    None (a rank's own when it has one), or None when no rank has one; one process: ``message``.
    Costs one 1-element CPU all-reduce, and a gather only when some rank has a message."""
    if world_size() == 1 or not torch.distributed.is_initialized():
        return message
    group = _CONTROL.get('group')
    flag = torch.tensor([int(message is not None)])
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX, group=group)
    if not flag.item():
        return None
    messages = [None] * world_size()
    torch.distributed.all_gather_object(messages, message, group=group)
    return message if message is not None else next(m for m in messages if m is not None)


def any_and_all(flag):
    """(any rank's flag, every rank's flag); one process: (flag, flag). A CPU all-reduce of one element."""
    if world_size() == 1 or not torch.distributed.is_initialized():
        return bool(flag), bool(flag)
    both = torch.tensor([int(bool(flag)), -int(bool(flag))])  # max of -flag is -(min of flag)
    torch.distributed.all_reduce(both, op=torch.distributed.ReduceOp.MAX, group=_CONTROL.get('group'))
    return bool(both[0].item()), bool(-both[1].item())


def barrier():
    if world_size() > 1 and torch.distributed.is_initialized():
        torch.distributed.barrier()


class ResumableSampler(torch.utils.data.Sampler):
    """Shuffled order drawn from (seed, epoch), split across ranks, able to start mid-epoch.

    With the same seed an interrupted run resumed with --continue_train sees exactly the samples
    it had not seen yet, in the same order."""

    def __init__(self, dataset_len, seed=0, shuffle=True, num_replicas=None, rank_id=None):
        self.n = dataset_len
        self.seed = seed
        self.shuffle = shuffle
        self.num_replicas = num_replicas or world_size()
        self.rank = rank() if rank_id is None else rank_id
        self.epoch = 0
        self.start = 0
        self.per_rank = (self.n + self.num_replicas - 1) // self.num_replicas

    def set_epoch(self, epoch, start=0):
        """``start`` counts samples of this rank's share already consumed."""
        self.epoch = epoch
        self.start = start

    def order(self):
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed * 100003 + self.epoch)
            idx = torch.randperm(self.n, generator=g).tolist()
        else:
            idx = list(range(self.n))
        total = self.per_rank * self.num_replicas  # pad so every rank gets the same count, cycling the
        idx = (idx * -(-total // self.n))[:total]  # order when there are fewer samples than padding
        return idx[self.rank::self.num_replicas]

    def __iter__(self):
        return iter(self.order()[self.start:])

    def __len__(self):
        return self.per_rank - self.start
