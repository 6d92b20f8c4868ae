"""The numerical tests whose results depend on the CPU math back-end, again under other back-ends,
so that their tolerances are shown to hold on CPUs other than the one a change was made on:
PyTorch's kernels without SIMD (ATEN_CPU_CAPABILITY=default) on one thread, oneDNN and MKL held to
SSE4. That is the configuration farthest from the usual run (AVX2/AVX-512 on two threads): every
vectorised reduction and every split of work between threads sums in another order (a second,
AVX2-only configuration between the two cost 40 s more per run). It runs in a
fresh process (the back-end is chosen when torch is imported). Skip it with ``-m 'not backends'``.

Rerun: the tests marked ``numerics`` (formulas written out, the fast path against the reference,
float64 oracles, the fidelity rule), whose numbers come from convolutions, matmuls and reductions,
which each back-end sums in its own order. Left out (``NOT_BACKEND_DEPENDENT``), by name: parameter
counts, state-dict keys and layouts, shapes, dtypes, which kernel a conv is routed to, index
arithmetic (boxes, boundaries), the authors' files loaded and converted (the same computation on
both sides of each comparison) and numpy-only metrics: they hold or fail alike on every back-end;
and of a family of cases over masks (``ONE_CASE``), all but one."""
import os
import subprocess
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# name: (ATen capability, oneDNN ISA cap, MKL instruction cap, threads)
BACKENDS = {
    'no-simd-1-thread': ('default', 'SSE41', 'SSE4_2', 1),
}


#: words in the names of numerics tests that do not depend on the back-end (see the docstring)
NOT_BACKEND_DEPENDENT = ('counts', 'state_dict_keys', 'state_dict_layout', 'authors', 'shapes',
                         'float32_under_autocast', 'takes_onednn', 'mixes_layouts', 'mask_boundary', 'boundary_patches',
                         'nonzero_box', 'output_and_init', 'ssim')
#: parametrised families rerun in one case (the others sum the same kernels over other masks), the
#: loss plumbing whose convs the fast-path tests already cover, and the channels-last training test
#: (float64, the same convs as test_generator_fast_equals_reference_training_gradients in NHWC):
#: about half of the rerun's time
ONE_CASE = ('(final_only_inference and not box-2)', '(fast_equals_reference_eval and not box)',
            'training_with_vgg_standin', 'channels_last_training')
RERUN = ' and '.join(f'not {word}' for word in NOT_BACKEND_DEPENDENT + ONE_CASE)


def backend_env(name):
    aten, onednn, mkl, threads = BACKENDS[name]
    env = dict(os.environ, ATEN_CPU_CAPABILITY=aten, ONEDNN_MAX_CPU_ISA=onednn, MKL_ENABLE_INSTRUCTIONS=mkl,
               SEMEDIT_TEST_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    return env


def supported(name):
    """A capability above the CPU's would crash (illegal instruction), not fall back."""
    aten = BACKENDS[name][0]
    native = torch.backends.cpu.get_cpu_capability()
    return aten == 'default' or (aten == 'avx2' and native in ('AVX2', 'AVX512'))


@pytest.mark.backends
@pytest.mark.parametrize('name', sorted(BACKENDS))
def test_numerical_tests_pass_under_backend(name):
    if not supported(name):
        pytest.skip(f'this CPU ({torch.backends.cpu.get_cpu_capability()}) cannot run {name}')
    env = backend_env(name)
    probe = subprocess.run([sys.executable, '-c', 'import torch; print(torch.backends.cpu.get_cpu_capability(), '
                            'torch.get_num_threads())'], env=env, capture_output=True, text=True, timeout=120)
    capability, threads = probe.stdout.split()
    assert capability == BACKENDS[name][0].upper() and int(threads) == BACKENDS[name][3], probe.stdout
    res = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-x', '-m', 'numerics', '-k', RERUN,
                          '-p', 'no:cacheprovider', os.path.join(ROOT, 'tests')], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=1500)
    tail = '\n'.join((res.stdout + res.stderr).strip().splitlines()[-40:])
    assert res.returncode == 0, f'numerical tests under {name}:\n{tail}'
    assert ' passed' in tail and ' failed' not in tail, tail
