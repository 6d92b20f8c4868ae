"""A whole edit as a user waits for it (start, import, build, load, edit, write), CPU only: the
authors' example as files (SPM-PGAN: their README example; SIEDOB: upstream's test_one_image.py
case, three objects edited in part), then three processes timed in turn: the authors' test steps
(``upstream_steps``), test.py with the reference forward, test.py as it runs by default."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch

from scripts.benchmarking import siedob_editor
from scripts.benchmarking.inputs import make_batch, make_mask
from scripts.benchmarking.options import is_siedob_editor
from scripts.benchmarking.upstream_steps import FILES, VGG_FILE

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: the first row of each model's table
UPSTREAM_ROW = {'spmpgan': "authors' test.py steps", 'siedob': "upstream's steps (reference)"}


def whole_process_edit(opt):
    """Each process run in turn within every repeat (medians over --process_repeats), after one
    warm-up run of each; the example's files are removed afterwards."""
    folder = tempfile.mkdtemp(prefix='semedit_bench_')
    try:
        paths = write_example(folder, opt)
        commands = process_commands(paths, opt)
        for _, argv in commands:  # warm the page cache and the interpreter's files once
            run_timed(argv)
        runs = {name: [] for name, _ in commands}
        for _ in range(opt.process_repeats):
            for name, argv in commands:
                runs[name].append(run_timed(argv))
        rows = {name: {'median_s': float(np.median([r[0] for r in rs])), 'min_s': min(r[0] for r in rs),
                       'max_s': max(r[0] for r in rs), 'peak_rss_mib': max(r[1] for r in rs)}
                for name, rs in runs.items()}
        files = [os.path.join(folder, f) for f in os.listdir(folder) if f.endswith('.pth') and f != VGG_FILE]
        return {'checkpoint_mb': sum(os.path.getsize(f) for f in files) / 1e6, 'repeats': opt.process_repeats,
                'processes': rows, 'fidelity': fidelity(folder, paths['mask'])}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def example_of(opt):
    """Whose example the processes edit: 'siedob' (the editor's) or 'spmpgan'."""
    return 'siedob' if is_siedob_editor(opt) else 'spmpgan'


def write_example(folder, opt):
    """The example's files in ``folder`` (``upstream_steps.FILES``): the checkpoint(s) in the authors'
    layout, the scene (a JPEG, 8-bit labels, SIEDOB's 16-bit instances, a 0/255 mask), and VGG19 in
    the ImageNet layout for the authors' trainer."""
    from PIL import Image
    import torchvision
    paths = {k: os.path.join(folder, name) for k, name in FILES[example_of(opt)].items()}
    size = (opt.size, opt.size)
    if is_siedob_editor(opt):
        siedob_editor.write_parts(folder, opt)
        siedob_editor.references_folder(folder)
        image, label, instance, mask = siedob_editor.scene_arrays(size, make_mask('box', size))
        Image.fromarray(instance.astype(np.uint16)).save(paths['instance'])
    else:
        write_authors_generator(paths['ckpt'], opt)
        batch = make_batch(1, size, 'box')
        label, mask = batch['label'][0, 0].numpy(), batch['mask'][0, 0].numpy()
        yy, xx = np.mgrid[0:size[0], 0:size[1]]
        image = np.stack([xx * 255 // size[1], yy * 255 // size[0], (xx + yy) * 127 // size[0]], -1).astype(np.uint8)
    Image.fromarray(image).save(paths['image'], quality=95)
    Image.fromarray(label.astype(np.uint8)).save(paths['label'])
    Image.fromarray((mask * 255).astype(np.uint8)).save(paths['mask'])
    torch.save(torchvision.models.vgg19(weights=None).state_dict(), os.path.join(folder, VGG_FILE))
    return paths


def write_authors_generator(path, opt):
    """An SPM-PGAN generator in the authors' layout ({'epoch', 'netG'}): seeded N(0, 0.02) weights
    and biases with unit u/v, as large as theirs at ngf 32 (larger random weights make the net
    chaotic, its float32 output then off by up to 2.0 from float64)."""
    from semedit.models.networks.spmpgan import ProgressiveGenerator
    torch.manual_seed(0)
    state = ProgressiveGenerator(opt.label_nc, opt.ngf, 2 * opt.ngf).state_dict()
    for k, v in state.items():
        t = torch.randn(v.shape) * 0.02
        state[k] = t / t.norm() if k.endswith(('weight_u', 'weight_v')) else t
    torch.save({'epoch': 0, 'netG': state}, path)


def process_commands(paths, opt):
    """(name, argv) of the three processes: the authors' steps, test.py --forward reference, test.py."""
    folder = os.path.dirname(paths['ckpt'])
    if is_siedob_editor(opt):
        which = ['--model', 'siedob', '--checkpoints_dir', folder, '--instance_path', paths['instance'],
                 '--style_dir', os.path.join(folder, 'refs')]
    else:
        which = ['--dataset_name', 'cityscapes', '--ckt_path', paths['ckpt']]
    ours = [sys.executable, os.path.join(ROOT, 'test.py'), *which, '--image_path', paths['image'], '--segmap_path',
            paths['label'], '--mask_path', paths['mask'], '--device', 'cpu']
    steps = [sys.executable, '-m', 'scripts.benchmarking.upstream_steps', example_of(opt), folder, str(opt.label_nc)]
    return [(UPSTREAM_ROW[example_of(opt)], steps),
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
    """(wall seconds, peak RSS MiB) of one process, run in the repository; its output is discarded
    unless it fails."""
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
