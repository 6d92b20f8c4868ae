"""Times, each the median of --repeats after --warmup runs, the reference and the fast path run in
turn within every repeat, so that each ratio compares runs made under the same load."""
import time

import numpy as np
import torch

from scripts.benchmarking.build import build_model
from scripts.benchmarking.inputs import batch_for, to_device


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def paired_median_times(fns, device, warmup, repeats):
    """Median time of each of ``fns``, run in turn within every repeat: the ratios then compare
    runs made under the same load (this shared VM drifts by ±15 % between runs)."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            sync(device)
            t = time.perf_counter()
            fn()
            sync(device)
            ts.append(time.perf_counter() - t)
    return [float(np.median(ts)) for ts in times]


def matmul_ceiling(device, dtype=torch.float32, n=None, repeats=5):
    """GFLOP/s of one large matmul: what the machine's arithmetic allows."""
    n = n or (2048 if device.type == 'cpu' else 8192)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    t, = paired_median_times([lambda: a @ b], device, 2, repeats)
    return 2 * n ** 3 / t / 1e9


def inference_times(opt, device, models, family, n):
    """(reference s, fast s, max |diff|) of model.edit on one batch; ``models`` = (reference, fast)
    with the same weights."""
    batch = to_device(batch_for(opt, n, family), device)
    with torch.inference_mode():
        outputs = [model.edit(batch) for model in models]
        diff = float((outputs[0] - outputs[1]).abs().max())
        ref, fast = paired_median_times([lambda m=m: m.edit(batch) for m in models], device, opt.warmup,
                                        opt.repeats)
    return ref, fast, diff


def training_step(opt, device, fast):
    """One training iteration at batch 1 (box mask) as a callable, on a fresh model."""
    model = build_model(opt, device, train=True, fast=fast)
    model.train()
    batch = batch_for(opt, 1, 'box')

    def step():
        model.set_input(batch)
        model.optimize_parameters()
    return step


def training_times(opt, device):
    """(reference s, fast s) of one training iteration, the two runs alternating."""
    steps = training_step(opt, device, False), training_step(opt, device, True)
    return paired_median_times(steps, device, 1 + 2 * opt.compile, max(3, opt.repeats // 2))
