"""Peak memory of one measurement, each in a fresh process: RSS peaks are per process on a CPU (on
CUDA: max_memory_allocated). The process is a spawned interpreter that runs ``measure``."""
import multiprocessing

import torch

from scripts.benchmarking.build import build_model, prepare_device
from scripts.benchmarking.inputs import batch_for, to_device
from scripts.benchmarking.timing import training_step

#: mode:path of each measurement
MEASUREMENTS = ('infer:reference', 'infer:fast', 'train:reference', 'train:fast')
TIMEOUT_S = 900


def peak_memory_mib(opt, what):
    """The peak of ``what`` (one of ``MEASUREMENTS``) in MiB, or None if its process failed."""
    context = multiprocessing.get_context('spawn')
    results = context.SimpleQueue()
    child = context.Process(target=measure, args=(opt, what, results))
    child.start()
    child.join(TIMEOUT_S)
    if child.is_alive():
        child.kill()
        child.join()
        raise TimeoutError(f'the {what} memory measurement took more than {TIMEOUT_S} s')
    return results.get() if child.exitcode == 0 else None


def measure(opt, what, results):
    """In the child: two edits (or training iterations) of one path, then its peak into ``results``."""
    reset_peak_rss()
    device = prepare_device(opt)
    mode, path = what.split(':')
    fast = path == 'fast'
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    if mode == 'train':
        step = training_step(opt, device, fast)
        for _ in range(2):
            step()
    else:
        model = build_model(opt, device, fast=fast)
        batch = to_device(batch_for(opt, 1, 'box'), device)
        with torch.inference_mode():
            for _ in range(2):
                model.edit(batch)
    results.put(torch.cuda.max_memory_allocated(device) / 2 ** 20 if device.type == 'cuda' else peak_rss_mib())


def reset_peak_rss():
    """A child started by fork+exec inherits the parent's RSS high-water mark; Linux resets it
    when 5 is written to clear_refs."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
    except OSError:
        pass


def peak_rss_mib():
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
