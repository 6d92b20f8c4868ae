"""Speed and memory of a model (SPM-PGAN by default; ``--model siedob --stage background`` for
SIEDOB's background generator): the fast path against the reference (unfused, module by module, as
the paper, float32) on the same weights, in one run. Prints a table; --json writes the numbers.
The command line is ``scripts/benchmark.py``; this module is its library (tests call its parts).

    python scripts/benchmark.py                    # paper settings: ngf 32, 256×256, Cityscapes labels
    python scripts/benchmark.py --quick            # a smoke run with small widths
    python scripts/benchmark.py --json bench.json --device cuda --amp bf16 [--compile]
    python scripts/benchmark.py --model siedob --stage background --json bg.json
    python scripts/benchmark.py --model siedob --stage object_inpainting          # 64×64 object crops

Measures: the machine's matmul ceiling (fp32; bf16/fp16 on CUDA); inference latency at batch 1
per mask family (box, brush, right half, outpainting) and throughput at batch 8, reference vs fast,
with the max abs difference of the edited images; one full training iteration (generator,
discriminators, VGG19 stand-in) reference vs fast; peak memory (RSS on CPU in a child process, max_memory_allocated on
CUDA); parameters and GFLOPs per image (the reference's multiply-adds ×2); the work each path
executes (GFLOP per edit per mask family and per training iteration, windows at their real size),
whose ratio bounds the speed-up at equal efficiency, and the fraction of the matmul ceiling that
the training iteration reaches. Median of --repeats after --warmup runs (training: of
max(3, repeats / 2)); the reference and the fast path run in turn, so each ratio compares runs
made under the same load. The reference is always float32 (TF32 off unless --tf32); --amp,
--compile and --semantic_window apply to the fast path only, so the speed-ups include them and
the max abs difference shows what they cost. Speed claims of this project come from this script,
never from timed tests.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time

import numpy as np
import torch

from data.masks import brush_stroke_mask, outpainting_mask, right_half_mask
from util.device import configure_backends, resolve_device

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, 'scripts', 'benchmark.py')  # the child processes run the command line

FAMILIES = ('box', 'brush', 'right_half', 'outpainting')


def make_mask(family, size, seed=0):
    h, w = size
    rng, np_rng = random.Random(seed), np.random.RandomState(seed)
    if family == 'box':  # a 15 % box, like the authors' data_test masks
        m = np.zeros(size, np.float32)
        bh, bw = int(h * 0.35), int(w * 0.43)
        m[h // 3:h // 3 + bh, w // 4:w // 4 + bw] = 1
        return m
    if family == 'brush':
        return brush_stroke_mask(h, w, rng, np_rng)
    if family == 'right_half':
        return right_half_mask(h, w)
    return outpainting_mask(h, w, rng)


def make_batch(n, size, family, seed=0):
    """Sky, road and a car (an instance of its own, and a selected object: outside ``bg_mask``)."""
    g = torch.Generator().manual_seed(seed)
    h, w = size
    label = torch.full((n, 1, h, w), 7, dtype=torch.long)
    label[:, :, : h // 3] = 23
    car = (slice(None), slice(None), slice(h // 2, h // 2 + h // 5), slice(w // 3, w // 3 + w // 4))
    label[car] = 26
    instance = label.clone()
    instance[car] = 26000
    bg_mask = torch.ones(n, 1, h, w)
    bg_mask[car] = 0
    mask = torch.from_numpy(make_mask(family, size, seed))[None, None].repeat(n, 1, 1, 1)
    # for the object networks: a car filling the middle of the crop (an ellipse), its class map
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing='ij')
    inst_mask = ((yy / 0.8) ** 2 + (xx / 0.9) ** 2 <= 1).float()[None, None].repeat(n, 1, 1, 1)
    class_map = inst_mask * torch.tensor([1.0, 0.0, 0.0])[:, None, None]
    return {'image': torch.rand((n, 3, h, w), generator=g) * 2 - 1, 'label': label, 'mask': mask,
            'instance': instance, 'bg_mask': bg_mask, 'inst_mask': inst_mask, 'class_map': class_map}


def model_class(args):
    from models import find_model_using_name
    return find_model_using_name(args.model, args.stage)


def is_composite(args):
    """A model test.py reads from a folder of parts (``read_checkpoint_folder``: SIEDOB's editor)."""
    return hasattr(model_class(args), 'read_checkpoint_folder')


def batch_for(args, n, family, seed=0):
    """The benchmark's input batch for this model (SIEDOB's editor: three objects and references)."""
    if is_composite(args):
        from engine import benchmark_siedob
        return benchmark_siedob.make_batch(n, (args.size, args.size), make_mask(family, (args.size, args.size), seed))
    return make_batch(n, (args.size, args.size), family, seed)


def to_device(batch, device):
    return {k: to_device(v, device) if isinstance(v, dict) else v.to(device) for k, v in batch.items()}


def inference_net(model):
    """The network an edit runs (the first of the model's ``inference_nets``)."""
    return getattr(model, model.inference_nets[0])


def build_model(args, device, train=False, fast=True):
    """The model as train.py / test.py build it; --amp / --compile / --semantic_window only for
    the fast path."""
    from options import default_options
    kwargs = dict(label_nc=args.label_nc, ngf=args.ngf, ndf=args.ndf, lambda_vgg=10.0,
                  forward='fast' if fast else 'reference', amp=args.amp if fast else 'none',
                  compile=args.compile and fast, semantic_window=args.semantic_window,
                  channels_last=args.channels_last and fast, cuda_graph=args.cuda_graph and fast)
    if is_composite(args):  # a model made of several files (SIEDOB's editor; training: its fusion stage)
        from engine import benchmark_siedob
        return benchmark_siedob.build(args, device, train, fast, kwargs)
    opt = default_options(train, model=args.model, stage=args.stage, **kwargs)
    vgg = None
    if train:
        import torchvision
        vgg = torchvision.models.vgg19(weights=None).features  # same compute as the real weights
    torch.manual_seed(0)
    return model_class(args)(opt, device, vgg_features=vgg).setup()


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
    n = n or (2048 if device.type == 'cpu' else 8192)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    t, = paired_median_times([lambda: a @ b], device, 2, repeats)
    return 2 * n ** 3 / t / 1e9


def _count_onednn_convs():
    """FlopCounterMode knows aten.convolution; fast.kernels.conv2d calls aten.mkldnn_convolution directly
    for small CPU inference convs, which it would otherwise leave out."""
    from torch.utils import flop_counter
    op = torch.ops.aten.mkldnn_convolution
    if op in flop_counter.flop_registry or op.default in flop_counter.flop_registry:
        return

    @flop_counter.register_flop_formula(op)
    def onednn_conv_flop(x_shape, w_shape, *args, out_shape=None, **kwargs):
        return flop_counter.conv_flop_count(x_shape, w_shape, out_shape, transposed=False)


def executed_gflop(fn):
    """GFLOP that ``fn()`` executes: PyTorch's FlopCounterMode counts 2 per multiply-add of every
    convolution and matmul as run (the fast path's windows at their real size). Only eager models
    count: a replayed CUDA graph or a compiled net is invisible to the counter."""
    from torch.utils.flop_counter import FlopCounterMode
    _count_onednn_convs()
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops() / 1e9


def eager(args):
    """The same options without --cuda_graph / --compile: the same work, visible op by op."""
    return argparse.Namespace(**{**vars(args), 'compile': False, 'cuda_graph': False})


def edit_gflops(model, batch):
    """GFLOP per image of ``model.edit`` as executed (``model`` eager; the reference's is the full
    work of its generator)."""
    with torch.inference_mode():
        return executed_gflop(lambda: model.edit(batch)) / batch['image'].shape[0]


def inference_times(args, device, models, family, n):
    """(reference s, fast s, max |diff|) of model.edit on one batch; ``models`` = (reference, fast)
    with the same weights."""
    batch = to_device(batch_for(args, n, family), device)
    with torch.inference_mode():
        outputs = [model.edit(batch) for model in models]
        diff = float((outputs[0] - outputs[1]).abs().max())
        ref, fast = paired_median_times([lambda m=m: m.edit(batch) for m in models], device, args.warmup,
                                        args.repeats)
    return ref, fast, diff


def training_step(args, device, fast):
    """One training iteration at batch 1 (box mask) as a callable, on a fresh model."""
    model = build_model(args, device, train=True, fast=fast)
    model.train()
    batch = batch_for(args, 1, 'box')

    def step():
        model.set_input(batch)
        model.optimize_parameters()
    return step


def training_gflops(args, device, fast):
    """GFLOP of one training iteration as executed (forward and backward of G, D's and VGG19),
    counted on an eager model."""
    return executed_gflop(training_step(eager(args), device, fast))


def training_times(args, device):
    """(reference s, fast s) of one training iteration, the two runs alternating."""
    steps = training_step(args, device, False), training_step(args, device, True)
    return paired_median_times(steps, device, 1 + 2 * args.compile, max(3, args.repeats // 2))


def child_peak_memory(args, what):
    """Run one measurement in a fresh process: RSS peaks are per process on CPU."""
    cmd = [sys.executable, SCRIPT, '--_memory', what, '--model', args.model] + \
        (['--stage', args.stage] if args.stage else []) + ['--ngf', str(args.ngf), '--ndf',
           str(args.ndf), '--size', str(args.size), '--label_nc', str(args.label_nc), '--device', args.device,
           '--amp', args.amp, '--semantic_window', args.semantic_window] + ['--tf32'] * args.tf32 + \
        ['--channels_last'] * args.channels_last + ['--cuda_graph'] * args.cuda_graph
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if res.returncode != 0:
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])['peak_mib']


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


def memory_child(args, device):
    reset_peak_rss()
    mode, fast = args._memory.split(':')
    fast = fast == 'fast'
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    if mode == 'train':
        step = training_step(args, device, fast)
        for _ in range(2):
            step()
    else:
        model = build_model(args, device, fast=fast)
        batch = to_device(batch_for(args, 1, 'box'), device)
        with torch.inference_mode():
            for _ in range(2):
                model.edit(batch)
    if device.type == 'cuda':
        peak = torch.cuda.max_memory_allocated(device) / 2 ** 20
    else:
        peak = peak_rss_mib()
    print(json.dumps({'peak_mib': peak}))


# ---- a whole edit as a user waits for it: start, import, build, load, edit, write ----------------

def write_authors_example(folder, args):
    """The authors' README example as files in ``folder``: a generator in their layout ({'epoch',
    'netG'}, seeded N(0, 0.02) weights and biases with unit u/v, as large as theirs at ngf 32; larger
    random weights make the net chaotic, its float32 output then off by up to 2.0 from float64), a
    256² JPEG, its label map and a 15 % box mask; and a VGG19 ImageNet-layout file for their trainer."""
    from PIL import Image
    import torchvision
    from models.networks.spmpgan import ProgressiveGenerator
    torch.manual_seed(0)
    state = ProgressiveGenerator(args.label_nc, args.ngf, 2 * args.ngf).state_dict()
    for k, v in state.items():
        t = torch.randn(v.shape) * 0.02
        state[k] = t / t.norm() if k.endswith(('weight_u', 'weight_v')) else t
    paths = {k: os.path.join(folder, name) for k, name in (
        ('ckpt', 'cityscapes.pth'), ('image', 'input.jpg'), ('label', 'segmap_1.png'), ('mask', 'mask_1.png'),
        ('vgg', 'vgg19.pth'))}
    torch.save({'epoch': 0, 'netG': state}, paths['ckpt'])
    torch.save(torchvision.models.vgg19(weights=None).state_dict(), paths['vgg'])
    size = (args.size, args.size)
    batch = make_batch(1, size, 'box')
    yy, xx = np.mgrid[0:size[0], 0:size[1]]
    image = np.stack([xx * 255 // size[1], yy * 255 // size[0], (xx + yy) * 127 // size[0]], -1).astype(np.uint8)
    Image.fromarray(image).save(paths['image'], quality=95)
    Image.fromarray(batch['label'][0, 0].numpy().astype(np.uint8)).save(paths['label'])
    Image.fromarray((batch['mask'][0, 0].numpy() * 255).astype(np.uint8)).save(paths['mask'])
    return paths


def authors_steps_edit(folder, label_nc):
    """The steps of the authors' test.py, on this project's reference modules (their own code needs
    CUDA): it imports torchvision, builds its trainer as its config says (is_train: True: the
    generator, three discriminators, Adam, a VGG19 loss whose ImageNet weights torchvision reads
    from a file), initialises them N(0, 0.02), reads the whole checkpoint with torch.load, runs the
    full reference forward and writes two JPEGs."""
    import torchvision  # noqa: F401  (their test.py imports torchvision.transforms)
    from models.spmpgan_model import SPMPGANModel
    from engine.editing import edit_arrays
    from util.image_io import read_image, read_label, read_mask, save_image_atomic
    join = lambda name: os.path.join(folder, name)  # noqa: E731
    vgg = torchvision.models.vgg19(weights=None)
    vgg.load_state_dict(torch.load(join('vgg19.pth'), weights_only=True))
    from options import default_options
    opt = default_options(True, label_nc=label_nc, lambda_vgg=10.0, forward='reference')
    state = torch.load(join('cityscapes.pth'), map_location='cpu', weights_only=True)['netG']
    opt.ngf = int(state['G1.enc1.conv2d.weight'].shape[0])
    model = SPMPGANModel(opt, torch.device('cpu'), vgg_features=vgg.features).setup()
    model.netG.load_state_dict(state)
    model.eval()
    image, mask = read_image(join('input.jpg')), read_mask(join('mask_1.png'))
    label = read_label(join('segmap_1.png'), label_nc)
    with torch.no_grad():
        out, masked = edit_arrays(model, image, label, mask)
    os.makedirs(join('results'), exist_ok=True)
    save_image_atomic(out, join('results/test_single_result.jpg'))
    save_image_atomic(masked, join('results/masked_img.jpg'))


def process_commands(paths, args):
    """(name, argv) of the three whole processes: the authors' test.py steps, ours with the
    reference forward, ours as it runs by default."""
    ours = [sys.executable, os.path.join(ROOT, 'test.py'), '--dataset_name', 'cityscapes', '--ckt_path',
            paths['ckpt'], '--image_path', paths['image'], '--segmap_path', paths['label'], '--mask_path',
            paths['mask'], '--device', 'cpu']
    folder = os.path.dirname(paths['ckpt'])
    return [('authors\' test.py steps', [sys.executable, SCRIPT, '--_authors_edit', folder,
                                          '--label_nc', str(args.label_nc)]),
            ('test.py --forward reference', ours + ['--forward', 'reference', '--output_path',
                                                    os.path.join(folder, 'reference.png')]),
            ('test.py (default)', ours + ['--output_path', os.path.join(folder, 'default.png')])]


# Times one process and reads its peak RSS. Run from a small launcher process: a child forked from
# this (by then large) benchmark would report this process's peak as its own (Linux carries the
# parent's RSS high-water mark through fork and exec into the child's ru_maxrss).
_LAUNCHER = """
import json, os, subprocess, sys, time
t = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
out = proc.stdout.read()
_, status, usage = os.wait4(proc.pid, 0)
seconds = time.perf_counter() - t
code = os.waitstatus_to_exitcode(status)
print(json.dumps({'seconds': seconds, 'peak_mib': usage.ru_maxrss / 1024, 'code': code,
                  'tail': out.decode(errors='replace')[-2000:] if code else ''}))
"""


def run_timed(argv):
    """(wall seconds, peak RSS MiB) of one process; its output is discarded unless it fails."""
    res = subprocess.run([sys.executable, '-c', _LAUNCHER, *argv], capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0:
        raise RuntimeError(f'the process launcher failed:\n{res.stderr[-2000:]}')
    r = json.loads(res.stdout.strip().splitlines()[-1])
    if r['code'] != 0:
        raise RuntimeError(f'{" ".join(argv)} failed:\n{r["tail"]}')
    return r['seconds'], r['peak_mib']


def fidelity(folder, mask_path):
    """The default output against the reference's PNG: in the edited region the share of pixels more
    than one grey level off and the mean difference (levels); outside it the largest difference."""
    from PIL import Image
    a, b = (np.asarray(Image.open(os.path.join(folder, f))).astype(int) for f in ('default.png', 'reference.png'))
    hole = np.asarray(Image.open(mask_path)) >= 128
    diff = np.abs(a - b).max(-1)
    return {'edited_share_over_1_level': float((diff[hole] > 1).mean()),
            'edited_mean_levels': float(np.abs(a - b)[hole].mean()),
            'known_max_levels': int(diff[~hole].max()) if (~hole).any() else 0}


def whole_process_edit(args):
    """Each process run in turn within every repeat (medians over --process_repeats)."""
    import shutil
    import tempfile
    folder = tempfile.mkdtemp(prefix='semedit_bench_')
    try:
        if is_composite(args):
            from engine import benchmark_siedob
            paths = benchmark_siedob.write_example(folder, args, make_mask('box', (args.size, args.size)))
            commands = benchmark_siedob.process_commands(paths, args, SCRIPT, ROOT)
        else:
            paths = write_authors_example(folder, args)
            commands = process_commands(paths, args)
        for _, argv in commands:  # warm the page cache and the interpreter's files once
            run_timed(argv)
        runs = {name: [] for name, _ in commands}
        for _ in range(args.process_repeats):
            for name, argv in commands:
                runs[name].append(run_timed(argv))
        rows = {name: {'median_s': float(np.median([r[0] for r in rs])), 'min_s': min(r[0] for r in rs),
                       'max_s': max(r[0] for r in rs), 'peak_rss_mib': max(r[1] for r in rs)}
                for name, rs in runs.items()}
        files = [os.path.join(folder, f) for f in os.listdir(folder) if f.endswith('.pth') and f != 'vgg19.pth']
        return {'checkpoint_mb': sum(os.path.getsize(f) for f in files) / 1e6, 'repeats': args.process_repeats,
                'processes': rows, 'fidelity': fidelity(folder, paths['mask'])}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def set_precision(args, device):
    configure_backends(device)  # what train.py / test.py do: cudnn autotuning, CPU allocator
    if device.type == 'cuda':  # PyTorch runs cuDNN convs in TF32 by default: not a float32 reference
        torch.backends.cudnn.allow_tf32 = args.tf32
        torch.backends.cuda.matmul.allow_tf32 = args.tf32


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', default='spmpgan', help='the model to measure (its --stage for one trained in parts)')
    p.add_argument('--stage', default=None, help='e.g. --model siedob --stage background')
    p.add_argument('--device', default='auto')
    p.add_argument('--ngf', type=int, default=32)
    p.add_argument('--ndf', type=int, default=64)
    p.add_argument('--size', type=int, default=None, help='image side (default 256; 64 for the object stages)')
    p.add_argument('--label_nc', type=int, default=34)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--throughput_batch', type=int, default=8)
    p.add_argument('--amp', choices=['none', 'bf16', 'fp16'], default='none', help='fast path: autocast (GPUs)')
    p.add_argument('--compile', action='store_true', help='fast path: torch.compile the nets')
    p.add_argument('--semantic_window', choices=['auto', 'on', 'off'], default='auto',
                   help='fast path: the semantic branch only around the edit')
    p.add_argument('--channels_last', action='store_true', help='fast path: NHWC memory format')
    p.add_argument('--cuda_graph', action='store_true', help='fast path: inference and the training step replay CUDA graphs')
    p.add_argument('--tf32', action='store_true', help='CUDA: allow TF32 in both paths (default: true float32)')
    p.add_argument('--profile', action='store_true',
                   help='also profile the fast path (batch-8 edit, training iteration): top operators by self time')
    p.add_argument('--skip_training', action='store_true')
    p.add_argument('--skip_memory', action='store_true')
    p.add_argument('--skip_process', action='store_true', help='skip the whole-process edit (CPU only)')
    p.add_argument('--process_repeats', type=int, default=5, help='repeats of each whole-process edit')
    p.add_argument('--quick', action='store_true', help='ngf 8 / ndf 16, 2 repeats: a smoke run')
    p.add_argument('--json', default=None, help='also write the results here')
    p.add_argument('--_memory', default=None, help=argparse.SUPPRESS)
    p.add_argument('--_authors_edit', default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._authors_edit:
        if is_composite(args):
            from engine import benchmark_siedob
            return benchmark_siedob.authors_steps_edit(args._authors_edit, args.label_nc)
        return authors_steps_edit(args._authors_edit, args.label_nc)
    if args.size is None:
        args.size = 64 if model_class(args).edits == 'object' else 256
    if args.quick:
        args.ngf, args.ndf, args.repeats, args.throughput_batch = 8, 16, 2, 2
    device = resolve_device(args.device)
    set_precision(args, device)
    if args._memory:
        return memory_child(args, device)
    t_start = time.time()
    res = {'model': args.model + (f' --stage {args.stage}' if args.stage else ''),
           'device': str(device), 'device_name': device_name(device), 'torch': torch.__version__,
           'threads': torch.get_num_threads(), 'ngf': args.ngf, 'size': args.size, 'label_nc': args.label_nc,
           'amp': args.amp, 'compile': args.compile, 'semantic_window': args.semantic_window, 'tf32': args.tf32,
           'channels_last': args.channels_last, 'cuda_graph': args.cuda_graph}
    res['matmul_gflops_fp32'] = matmul_ceiling(device)
    ceiling = res['matmul_gflops_fp32']
    if device.type == 'cuda':
        res['matmul_gflops_bf16'] = matmul_ceiling(device, torch.bfloat16)
        res['matmul_gflops_fp16'] = matmul_ceiling(device, torch.float16)
        ceiling = res.get(f'matmul_gflops_{args.amp}', ceiling)
    models = build_model(args, device, fast=False), build_model(args, device, fast=True)
    weights = inference_net(models[0]).state_dict()
    inference_net(models[1]).load_state_dict(weights)
    res['generator'] = ' + '.join(models[0].inference_nets) if is_composite(args) else models[0].inference_nets[0]
    edit_nets = models[0].nets().values() if is_composite(args) else [inference_net(models[0])]
    res['params_generator'] = sum(p.numel() for net in edit_nets for p in net.parameters())
    res['gflops_per_image'] = edit_gflops(models[0], to_device(batch_for(args, 1, 'box'), device))
    counting = models[1]  # the fast path's executed work per mask family, on an eager model
    if args.cuda_graph or args.compile:
        counting = build_model(eager(args), device)
        inference_net(counting).load_state_dict(weights)
    res['inference'] = {}
    for family in FAMILIES:
        ref, fast, diff = inference_times(args, device, models, family, 1)
        work = edit_gflops(counting, to_device(batch_for(args, 1, family), device))
        res['inference'][family] = {'reference_s': ref, 'fast_s': fast, 'speedup': ref / fast, 'max_abs_diff': diff,
                                    'fast_gflop': work, 'work_ratio': res['gflops_per_image'] / work}
    del counting
    ref, fast, diff = inference_times(args, device, models, 'box', args.throughput_batch)
    n = args.throughput_batch
    res['throughput'] = {'batch': n, 'reference_img_s': n / ref, 'fast_img_s': n / fast, 'speedup': ref / fast,
                         'max_abs_diff': diff,
                         'fast_gflops_achieved': res['gflops_per_image'] * n / fast,
                         'ceiling_gflops': ceiling,
                         'fraction_of_matmul_ceiling': res['gflops_per_image'] * n / fast / ceiling}
    del models
    if not args.skip_training:
        ref, fast = training_times(args, device)
        work = training_gflops(args, device, False), training_gflops(args, device, True)
        res['training'] = {'reference_s': ref, 'fast_s': fast, 'speedup': ref / fast,
                           'reference_gflop': work[0], 'fast_gflop': work[1],
                           # the reference is float32: its ceiling is the fp32 one
                           'reference_fraction_of_ceiling': work[0] / ref / res['matmul_gflops_fp32'],
                           'fast_fraction_of_ceiling': work[1] / fast / ceiling}
    if not args.skip_memory:
        res['memory_mib'] = {k: child_peak_memory(args, k) for k in
                             ('infer:reference', 'infer:fast', 'train:reference', 'train:fast')}
    # the authors' README example (SPM-PGAN), or their test_one_image.py steps (SIEDOB)
    if not args.skip_process and device.type == 'cpu' and (args.model == 'spmpgan' or is_composite(args)):
        res['whole_process_edit'] = whole_process_edit(args)
    if args.profile:
        res['profile'] = profile_fast_path(args, device)
    res['benchmark_seconds'] = time.time() - t_start
    print_table(res)
    for what, rows in res.get('profile', {}).items():
        print_profile(what, rows)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(res, f, indent=2)
        print(f'wrote {args.json}')
    return res


def profile_fast_path(args, device, top=12):
    """Which operators take the fast path's time: torch.profiler over one batch-8 edit and one
    training iteration (after warm-up), self time per operator (device time on CUDA). Profiled
    without --cuda_graph / --compile: the same kernels, but each one attributed to its operator (a
    replayed graph hides them)."""
    from torch.profiler import ProfilerActivity, profile
    args = eager(args)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == 'cuda' else [])
    key = 'self_device_time_total' if device.type == 'cuda' else 'self_cpu_time_total'
    batch = {k: v.to(device) for k, v in
             batch_for(args, args.throughput_batch, 'box').items()}
    model = build_model(args, device, fast=True)
    with torch.inference_mode():
        for _ in range(args.warmup + 1):
            model.edit(batch)
    runs = {'inference b%d' % args.throughput_batch: lambda: model.edit(batch)}
    if not args.skip_training:
        step = training_step(args, device, True)
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


def print_profile(what, rows):
    print(f"\nprofile, fast path, {what}: {rows['total_ms']:.1f} ms of operator self time")
    for r in rows['ops']:
        print(f"  {r['op'][:58]:<60}{r['ms']:>9.1f} ms{100 * r['share']:>6.1f} %{r['calls']:>7} calls")


def device_name(device):
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    import platform
    return platform.processor() or platform.machine()


def print_table(r):
    print(f"\n{r['model']} benchmark on {r['device']} {r['device_name']} (torch {r['torch']}, {r['threads']} threads), "
          f"ngf {r['ngf']}, {r['size']}×{r['size']}, L={r['label_nc']}; fast path: amp {r['amp']}, compile "
          f"{r['compile']}, channels_last {r['channels_last']}, CUDA graph {r['cuda_graph']}, semantic window "
          f"{r['semantic_window']}; tf32 {r['tf32']}")
    print(f"{r['generator']} {r['params_generator'] / 1e6:.3f} M parameters, {r['gflops_per_image']:.1f} GFLOP per image; "
          f"fp32 matmul ceiling {r['matmul_gflops_fp32']:.0f} GFLOP/s")
    dtype = r['amp'] if r['amp'] != 'none' else 'fp32'  # the fast path's, and its ceiling's
    print(f"\n{'measurement':<34}{'reference':>12}{'fast':>12}{'speed-up':>10}{'max |diff|':>12}{'work cut':>10}")
    for fam, v in r['inference'].items():
        print(f"{'inference b1, ' + fam + ' mask (s)':<34}{v['reference_s']:>12.3f}{v['fast_s']:>12.3f}"
              f"{v['speedup']:>9.2f}×{v['max_abs_diff']:>12.2e}{v['work_ratio']:>9.2f}×")
    t = r['throughput']
    print(f"{'throughput b' + str(t['batch']) + ', box (img/s)':<34}{t['reference_img_s']:>12.2f}{t['fast_img_s']:>12.2f}"
          f"{t['speedup']:>9.2f}×{t['max_abs_diff']:>12.2e}")
    if 'training' in r:
        t = r['training']
        print(f"{'training iteration b1 (s)':<34}{t['reference_s']:>12.3f}{t['fast_s']:>12.3f}{t['speedup']:>9.2f}×"
              f"{'':>12}{t['reference_gflop'] / t['fast_gflop']:>9.2f}×")
    if 'memory_mib' in r:
        m = r['memory_mib']
        fmt = lambda v: f'{v:>12.0f}' if v is not None else f"{'n/a':>12}"  # noqa: E731
        print(f"{'peak memory, inference (MiB)':<34}{fmt(m['infer:reference'])}{fmt(m['infer:fast'])}")
        print(f"{'peak memory, training (MiB)':<34}{fmt(m['train:reference'])}{fmt(m['train:fast'])}")
    if 'whole_process_edit' in r:
        w = r['whole_process_edit']
        rows = w['processes']
        base = next(iter(rows.values()))['median_s']
        what = ('the authors\' README example' if r['model'] == 'spmpgan' else 'upstream\'s test_one_image.py case: '
                'three objects edited in part')
        print(f"\nwhole-process edit (start, import, build, load, edit, write; {what}, "
              f"{r['size']}², {w['checkpoint_mb']:.0f} MB of checkpoint files; median of {w['repeats']}, in turn)")
        print(f"{'process':<34}{'median s':>10}{'min':>8}{'max':>8}{'vs first':>12}{'peak MiB':>10}")
        for name, v in rows.items():
            print(f"{name:<34}{v['median_s']:>10.2f}{v['min_s']:>8.2f}{v['max_s']:>8.2f}"
                  f"{base / v['median_s']:>11.2f}×{v['peak_rss_mib']:>10.0f}")
        f = w['fidelity']
        print(f"default vs --forward reference PNG: edited region {100 * f['edited_share_over_1_level']:.3f} % of "
              f"pixels > 1 grey level off, mean {f['edited_mean_levels']:.4f} levels; known region max "
              f"{f['known_max_levels']} level(s)")
    print("\nwork cut: the reference's GFLOP over the fast path's, as executed (convs and matmuls, FlopCounterMode)")
    if 'training' in r:
        t = r['training']
        print(f"training iteration work (forward + backward): reference "
              f"{t['reference_gflop']:.0f} GFLOP, {100 * t['reference_fraction_of_ceiling']:.0f} % of the fp32 "
              f"ceiling; fast {t['fast_gflop']:.0f} GFLOP ({t['reference_gflop'] / t['fast_gflop']:.2f}× less), "
              f"{100 * t['fast_fraction_of_ceiling']:.0f} % of the {dtype} ceiling")
    t = r['throughput']
    print(f"\nfast path at batch {t['batch']}: {t['fast_gflops_achieved']:.0f} GFLOP/s (nominal work) = "
          f"{100 * t['fraction_of_matmul_ceiling']:.0f} % of the {dtype} matmul "
          f"ceiling ({t['ceiling_gflops']:.0f} GFLOP/s); benchmark took "
          f"{r['benchmark_seconds']:.0f} s")
