"""train.py with faults, for tests/common/test_multinode.py (not a test): under
``torchrun --max-restarts 2``, with ``--save_latest_freq 2`` and ``--continue_train auto``,

- attempt 0 (TORCHELASTIC_RESTART_COUNT 0): rank 1 kills itself with SIGKILL after its 3rd iteration
  (latest.pth holds iteration 2);
- attempt 1: rank 0 kills itself with SIGKILL halfway through writing the checkpoint of iteration 4
  (the bytes go to the atomic writer's temporary file, as a real save's would);
- attempt 2: no fault; the run finishes.

torchrun restarts every worker with the same command line after each death.
"""
import os
import signal
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def die():
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def main(argv):
    import io

    import torch

    import train
    from semedit import models
    from semedit.util import distributed as dist
    from semedit.util.atomic import atomic_path

    attempt, rank = int(os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')), dist.rank()
    print(f'attempt {attempt} rank {rank} starts', flush=True)
    if attempt == 0 and rank == 1:
        cls = models.find_model_using_name('spmpgan')
        optimize, done = cls.optimize_parameters, [0]

        def optimize_then_die(self):
            optimize(self)
            done[0] += 1
            if done[0] == 3:
                die()
        cls.optimize_parameters = optimize_then_die
    if attempt == 1 and rank == 0:
        save = train.save_checkpoint

        def save_half_then_die(state, path):
            if state['total_iters'] != 4:
                return save(state, path)
            buf = io.BytesIO()
            torch.save(state, buf)
            data = buf.getvalue()
            with atomic_path(path) as tmp, open(tmp, 'wb') as f:
                f.write(data[:len(data) // 2])
                f.flush()
                os.fsync(f.fileno())
                die()
        train.save_checkpoint = save_half_then_die
    train.main(argv)


if __name__ == '__main__':
    main(sys.argv[1:])
