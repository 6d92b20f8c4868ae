"""Tests run from the repository root on the CPU, offline, with small random-initialised nets."""
import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# two threads by default (CI's machine has two cores); test_backends.py reruns the numerical tests
# with one thread through SEMEDIT_TEST_THREADS
torch.set_num_threads(int(os.environ.get('SEMEDIT_TEST_THREADS', 0)) or max(1, min(2, os.cpu_count() or 1)))


def pytest_configure(config):
    config.addinivalue_line('markers', 'numerics: compares numbers against a reference or a formula; '
                                       'test_backends.py reruns these under other CPU math back-ends')
    config.addinivalue_line('markers', 'backends: reruns the numerical tests in fresh processes under other '
                                       'CPU math back-ends (several minutes)')


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def two_threads():
    """The small-conv routing (blocks.conv2d) is only taken with more than one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)
