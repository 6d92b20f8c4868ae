"""--profile: which operators take the fast path's time."""
import torch

from scripts.benchmarking.build import build_model
from scripts.benchmarking.inputs import batch_for
from scripts.benchmarking.options import eager
from scripts.benchmarking.timing import sync, training_step


def profile_fast_path(opt, device, top=12):
    """torch.profiler over one batch-8 edit and one training iteration (after warm-up), self time
    per operator (device time on CUDA). Profiled without --cuda_graph / --compile: the same kernels,
    but each one attributed to its operator (a replayed graph hides them)."""
    from torch.profiler import ProfilerActivity, profile
    opt = eager(opt)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == 'cuda' else [])
    key = 'self_device_time_total' if device.type == 'cuda' else 'self_cpu_time_total'
    batch = {k: v.to(device) for k, v in
             batch_for(opt, opt.throughput_batch, 'box').items()}
    model = build_model(opt, device, fast=True)
    with torch.inference_mode():
        for _ in range(opt.warmup + 1):
            model.edit(batch)
    runs = {'inference b%d' % opt.throughput_batch: lambda: model.edit(batch)}
    if not opt.skip_training:
        step = training_step(opt, device, True)
        for _ in range(2):
            step()
        runs['training iteration b1'] = step
    out = {}
    for what, fn in runs.items():
        with torch.inference_mode(what.startswith('inference')), profile(activities=activities) as prof:
            fn()
            sync(device)
        events = [e for e in prof.key_averages() if getattr(e, key, 0) > 0]
        total = sum(getattr(e, key) for e in events)
        events.sort(key=lambda e: -getattr(e, key))
        out[what] = {'total_ms': total / 1e3, 'ops': [
            {'op': e.key, 'ms': getattr(e, key) / 1e3, 'calls': e.count, 'share': getattr(e, key) / total}
            for e in events[:top]]}
    return out
