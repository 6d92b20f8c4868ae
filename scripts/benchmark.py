"""Speed and memory of SPM-PGAN, the fast path against the reference on the same weights, in one
run (the measurements are described in ``engine/benchmark.py`` and ``--help``):

    python scripts/benchmark.py                    # paper settings: ngf 32, 256×256, Cityscapes labels
    python scripts/benchmark.py --quick            # a smoke run with small widths
    python scripts/benchmark.py --json bench.json --device cuda --amp bf16 [--compile]

Speed claims of this project come from this script, never from timed tests (docs/performance.md).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from engine.benchmark import main  # noqa: E402
from util.errors import exit_on_user_error  # noqa: E402

if __name__ == '__main__':
    with exit_on_user_error():
        main()
