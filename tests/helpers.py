"""What many tests need, written once: running the programs as a user does, the error contract
(exit 2, one line ``error: ...``, no traceback, nothing written), tiny option lists, models built
without a command line, and the demo data (generated once per session: ``conftest.demo_root``)."""
import contextlib
import os
import shutil
import subprocess
import sys
import traceback

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN, TEST = os.path.join(ROOT, 'train.py'), os.path.join(ROOT, 'test.py')
CPU = torch.device('cpu')

#: tiny networks: the smallest widths the architectures take, no VGG19 file needed
TINY_NETS = ['--ngf', '4', '--ndf', '8', '--lambda_vgg', '0']
#: a short training run that logs every iteration and writes no TensorBoard or epoch files
TINY_RUN = ['--num_workers', '0', '--print_freq', '1', '--save_epoch_freq', '0', '--no_tensorboard']


# ---- running the programs -------------------------------------------------------------------

def run(cwd, *argv, expect=0, timeout=600, env=None):
    """Run a command as a user would (stdin closed, one thread; ``env``: extra variables); returns
    stdout + stderr. Fails on a traceback or an unexpected exit status."""
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1', **(env or {}))
    res = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=timeout, stdin=subprocess.DEVNULL)
    out = res.stdout + res.stderr
    assert 'Traceback' not in out, out[-3000:]
    assert res.returncode == expect, f'exit {res.returncode}, expected {expect}:\n{out[-3000:]}'
    return out


@contextlib.contextmanager
def one_thread():
    """torch on one thread inside the block: a process started by ``run`` computes so, and a test
    comparing with it bit for bit must sum in the same order; on a small busy CPU it is also the
    fastest way to run small nets. The thread count is restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def run_main(main, argv, capsys):
    """A program's ``main(argv)`` in this process: (exit code, stdout, stderr, its return value)."""
    result, code = None, 0
    try:
        result = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    except BaseException:  # what a user would see as a traceback
        code = 'uncaught exception'
        traceback.print_exc()
    out, err = capsys.readouterr()
    return code, out, err, result


# ---- the error contract ---------------------------------------------------------------------

def error_line(text, *fragments):
    """The one line ``error: ...`` of a program's output (no traceback), holding every fragment."""
    assert 'Traceback' not in text, text[-3000:]
    lines = [line for line in text.splitlines() if line.startswith('error: ')]
    assert len(lines) == 1, text[-3000:]
    for fragment in fragments:
        assert str(fragment) in lines[0], f'{fragment!r} missing from: {lines[0]}'
    return lines[0]


def assert_one_line_error(stderr, *fragments):
    """stderr is exactly one non-empty line ``error: ...`` holding every fragment."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f'expected one error line on stderr, got:\n{stderr}'
    return error_line(lines[0], *fragments)


def expect_user_error(main, argv, capsys, *fragments):
    """``main(argv)`` in this process keeps the error contract: exit 2, one stderr line ``error: ...``
    holding every fragment, no traceback anywhere. Returns the line."""
    code, out, err, _ = run_main(main, argv, capsys)
    assert 'Traceback' not in out + err, f'traceback instead of a clear error:\n{err}'
    assert code == 2, f'exit code {code!r}, expected 2; stderr:\n{err}'
    return assert_one_line_error(err, *fragments)


def files_under(*folders):
    """Every file below ``folders`` (absolute paths)."""
    return {os.path.join(root, name) for folder in folders for root, _, names in os.walk(folder) for name in names}


class NothingWritten:
    """``with NothingWritten(folder, ...):`` the block may fail, but must leave no new or changed file
    below the folders (an output, a half-written file, a cache)."""

    def __init__(self, *folders):
        self.folders = [os.fspath(f) for f in folders]

    def _state(self):
        return {path: os.stat(path).st_mtime_ns for path in files_under(*self.folders)}

    def __enter__(self):
        self.before = self._state()
        return self

    def __exit__(self, *exc):
        after = self._state()
        new = sorted(set(after) - set(self.before))
        changed = sorted(p for p in self.before if p in after and after[p] != self.before[p])
        assert not new and not changed, f'written: {new}, changed: {changed}'
        return False


# ---- models without a command line ------------------------------------------------------------

def make_model(model='spmpgan', stage=None, is_train=True, setup=True, **options):
    """The model of ``--model``/``--stage`` at tiny widths (ngf 4, ndf 8; training without VGG19
    unless ``lambda_vgg`` is given), built on the CPU, set up unless ``setup`` is False; ``options``
    override any default (``default_options``)."""
    from semedit.models import find_model_using_name
    from semedit.options import default_options
    base = dict(model=model, stage=stage, dataset_name='cityscapes', ngf=4, ndf=8)
    if is_train:
        base['lambda_vgg'] = 0
    base.update(options)
    built = find_model_using_name(model, stage)(default_options(is_train, **base), CPU)
    return built.setup() if setup else built


def state_of(model):
    """Every net's state dict, detached copies, for bit-for-bit comparisons."""
    return {n: {k: v.detach().clone() for k, v in net.state_dict().items()} for n, net in model.nets().items()}


def assert_same_state(a, b):
    """Two checkpoints' (or ``state_of``'s) nets are equal bit for bit."""
    nets_a, nets_b = a.get('nets', a), b.get('nets', b)
    assert nets_a.keys() == nets_b.keys()
    for n in nets_a:
        assert nets_a[n].keys() == nets_b[n].keys(), n
        for k in nets_a[n]:
            assert torch.equal(nets_a[n][k], nets_b[n][k]), f'{n}.{k} differs'


def load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


# ---- the demo data ------------------------------------------------------------------------------

def copy_demo(demo_root, dataroot):
    """A private copy of the session's demo data (``conftest.demo_root``) in ``<dataroot>/demo``, for a
    test that runs the programs where a user would have generated it; returns ``dataroot``."""
    shutil.copytree(os.path.join(demo_root, 'demo'), os.path.join(dataroot, 'demo'))
    return dataroot


def python(*argv):
    """The command line of one of the project's programs (``sys.executable`` and the script's path)."""
    script, *rest = argv
    return [sys.executable, os.path.join(ROOT, script), *rest]


def small_cityscapes(demo_root, dest, n=4, objects=False):
    """The first ``n`` train and 2 test frames of the demo (and, with ``objects``, the first crops of
    each class) as a ``cityscapes`` dataset in ``dest`` (not ``demo``, which regenerates itself)."""
    for split, count in (('train', n), ('test', 2)):
        for sub in ('images', 'labels', 'inst_map'):
            src = os.path.join(demo_root, 'demo', split, sub)
            os.makedirs(os.path.join(dest, 'cityscapes', split, sub))
            for name in sorted(os.listdir(src))[:count]:
                shutil.copy(os.path.join(src, name), os.path.join(dest, 'cityscapes', split, sub, name))
    if objects:
        for cls in ('car', 'person'):
            for sub in ('images', 'inst_mask'):
                src = os.path.join(demo_root, 'demo', 'object_datasets', cls, 'train', sub)
                dst = os.path.join(dest, 'cityscapes', 'object_datasets', cls, 'train', sub)
                os.makedirs(dst)
                for name in sorted(os.listdir(src))[:3]:
                    shutil.copy(os.path.join(src, name), dst)
    return str(dest)


def truncate(path):
    """Keep the first half of the file: the header still reads, decoding fails."""
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:len(data) // 2])
    return data
