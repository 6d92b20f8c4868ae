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


def init_distributed(device):
    """Initialise the process group when launched by torchrun with more than one process."""
    if world_size() > 1 and not torch.distributed.is_initialized():
        backend = 'nccl' if device.type == 'cuda' else 'gloo'
        if device.type == 'cuda':
            torch.cuda.set_device(device)
        torch.distributed.init_process_group(backend=backend)


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
