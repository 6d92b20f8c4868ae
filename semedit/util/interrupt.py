"""Ctrl-C during training: finish the iteration under way, then stop, so that the checkpoint saved
on the way out is the state after a whole iteration (a resumed run then continues exactly). A
second Ctrl-C stops at once."""
import signal
import threading

import torch

from semedit.util import distributed


class StopAfterIteration:
    """``with StopAfterIteration() as stop: ... if stop.requested(): ...`` around a training loop."""

    def __init__(self):
        self._flag = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False

    def _handle(self, signum, frame):
        if self._flag:  # the second Ctrl-C
            raise KeyboardInterrupt
        self._flag = True
        print('\nCtrl-C: stopping after this iteration (Ctrl-C again to stop at once, without saving)', flush=True)

    def requested(self):
        """Whether any rank was asked to stop (all ranks agree, so that they stop together)."""
        if distributed.world_size() > 1 and torch.distributed.is_initialized():
            flag = torch.tensor([float(self._flag)], device=_collective_device())
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            return bool(flag.item())
        return self._flag


def _collective_device():
    backend = torch.distributed.get_backend()
    return torch.device('cuda', torch.cuda.current_device()) if backend == 'nccl' else torch.device('cpu')


def ignore_interrupts_in_worker(worker_id):
    """DataLoader ``worker_init_fn``: a terminal's Ctrl-C reaches the loader's workers too; they
    keep serving batches while the main process finishes its iteration (it stops them after)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
