"""Tests run from the repository root on the CPU, offline, with small random-initialised nets.
tests/common/: the machinery every model uses; tests/<system>/: one system (spmpgan, siedob)."""
import os
import sys

import pytest
import torch

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
for path in (ROOT, TESTS):  # the project, and tests/tolerances.py for tests/common and tests/<system>
    if path not in sys.path:
        sys.path.insert(0, path)


def default_threads():
    """Two threads in one process (CI's machine has two cores); one per worker when pytest-xdist
    runs the suite on several (``-n 2``: two workers fill the two cores, and a second thread would
    only contend with the other worker); test_backends.py sets its own through SEMEDIT_TEST_THREADS."""
    if os.environ.get('SEMEDIT_TEST_THREADS'):
        return int(os.environ['SEMEDIT_TEST_THREADS'])
    if int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', 1)) > 1:
        return 1
    return max(1, min(2, os.cpu_count() or 1))


torch.set_num_threads(default_threads())


def pytest_configure(config):
    config.addinivalue_line('markers', 'numerics: compares numbers against a reference or a formula; '
                                       'test_backends.py reruns these under other CPU math back-ends')
    config.addinivalue_line('markers', 'perf: checks which kernel or code path runs (speed, not results); '
                                       'deselect with -m "not perf" on unusual PyTorch builds')
    config.addinivalue_line('markers', 'backends: reruns the numerical tests in fresh processes under other '
                                       'CPU math back-ends (several minutes)')


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory):
    """A --dataroot holding the demo data (100 train / 20 test frames, images2048/, the object crops),
    generated once for the whole run. Read it, never write to it: a test that must change files, or
    run where a user keeps ./datasets, takes a copy (``helpers.copy_demo``)."""
    from semedit.data.demo import ensure_demo_dataset
    from semedit.data.object_extraction import write_object_dataset
    root = tmp_path_factory.mktemp('demo_data')
    write_object_dataset(ensure_demo_dataset(root))
    return str(root)


@pytest.fixture
def two_threads():
    """The small-conv routing (fast.kernels.conv2d) is only taken with more than one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)
