"""Every measurement of one benchmark run, in order, into one dict (what --json writes)."""
import time

import torch

from scripts.benchmarking.build import build_model, device_name, inference_net, prepare_device
from scripts.benchmarking.inputs import FAMILIES, batch_for, to_device
from scripts.benchmarking.memory import MEASUREMENTS, peak_memory_mib
from scripts.benchmarking.options import eager, is_siedob_editor
from scripts.benchmarking.profiling import profile_fast_path
from scripts.benchmarking.timing import inference_times, matmul_ceiling, training_times
from scripts.benchmarking.warm_edit import warm_edit
from scripts.benchmarking.whole_process import whole_process_edit
from scripts.benchmarking.work import edit_gflops, training_gflops


def benchmark(opt):
    device = prepare_device(opt)
    t_start = time.time()
    res = {'model': opt.model + (f' --stage {opt.stage}' if opt.stage else ''),
           'device': str(device), 'device_name': device_name(device), 'torch': torch.__version__,
           'threads': torch.get_num_threads(), 'ngf': opt.ngf, 'size': opt.size, 'label_nc': opt.label_nc,
           'amp': opt.amp, 'compile': opt.compile, 'semantic_window': getattr(opt, 'semantic_window', 'n/a'),
           'tf32': opt.tf32, 'channels_last': opt.channels_last, 'cuda_graph': opt.cuda_graph}
    res['matmul_gflops_fp32'] = matmul_ceiling(device)
    ceiling = res['matmul_gflops_fp32']
    if device.type == 'cuda':
        res['matmul_gflops_bf16'] = matmul_ceiling(device, torch.bfloat16)
        res['matmul_gflops_fp16'] = matmul_ceiling(device, torch.float16)
        ceiling = res.get(f'matmul_gflops_{opt.amp}', ceiling)
    models = build_model(opt, device, fast=False), build_model(opt, device, fast=True)
    weights = inference_net(models[0]).state_dict()
    inference_net(models[1]).load_state_dict(weights)
    res['generator'] = ' + '.join(models[0].inference_nets) if is_siedob_editor(opt) else models[0].inference_nets[0]
    edit_nets = models[0].nets().values() if is_siedob_editor(opt) else [inference_net(models[0])]
    res['params_generator'] = sum(p.numel() for net in edit_nets for p in net.parameters())
    res['gflops_per_image'] = edit_gflops(models[0], to_device(batch_for(opt, 1, 'box'), device))
    counting = models[1]  # the fast path's executed work per mask family, on an eager model
    if opt.cuda_graph or opt.compile:
        counting = build_model(eager(opt), device)
        inference_net(counting).load_state_dict(weights)
    res['inference'] = {}
    for family in FAMILIES:
        ref, fast, diff = inference_times(opt, device, models, family, 1)
        work = edit_gflops(counting, to_device(batch_for(opt, 1, family), device))
        res['inference'][family] = {'reference_s': ref, 'fast_s': fast, 'speedup': ref / fast, 'max_abs_diff': diff,
                                    'fast_gflop': work, 'work_ratio': res['gflops_per_image'] / work}
    del counting
    ref, fast, diff = inference_times(opt, device, models, 'box', opt.throughput_batch)
    n = opt.throughput_batch
    res['throughput'] = {'batch': n, 'reference_img_s': n / ref, 'fast_img_s': n / fast, 'speedup': ref / fast,
                         'max_abs_diff': diff,
                         'fast_gflops_achieved': res['gflops_per_image'] * n / fast,
                         'ceiling_gflops': ceiling,
                         'fraction_of_matmul_ceiling': res['gflops_per_image'] * n / fast / ceiling}
    del models
    if not opt.skip_warm_edit and (opt.model == 'spmpgan' or is_siedob_editor(opt)):
        res['warm_edit'] = warm_edit(opt, device, sorted({1, opt.throughput_batch}))
    if not opt.skip_training:
        ref, fast = training_times(opt, device)
        work = training_gflops(opt, device, False), training_gflops(opt, device, True)
        res['training'] = {'reference_s': ref, 'fast_s': fast, 'speedup': ref / fast,
                           'reference_gflop': work[0], 'fast_gflop': work[1],
                           # the reference is float32: its ceiling is the fp32 one
                           'reference_fraction_of_ceiling': work[0] / ref / res['matmul_gflops_fp32'],
                           'fast_fraction_of_ceiling': work[1] / fast / ceiling}
    if not opt.skip_memory:
        res['memory_mib'] = {what: peak_memory_mib(opt, what) for what in MEASUREMENTS}
    # the authors' README example (SPM-PGAN), or their test_one_image.py steps (SIEDOB)
    if not opt.skip_process and device.type == 'cpu' and (opt.model == 'spmpgan' or is_siedob_editor(opt)):
        res['whole_process_edit'] = whole_process_edit(opt)
    if opt.profile:
        res['profile'] = profile_fast_path(opt, device)
    res['benchmark_seconds'] = time.time() - t_start
    return res
