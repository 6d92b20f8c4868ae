"""Speed and memory of a model (SPM-PGAN by default; ``--model siedob --stage background`` for
SIEDOB's background generator, ``--model siedob`` for its editor): the fast path against the
reference (unfused, module by module, as the paper, float32) on the same weights, in one run.
Prints a table; --json writes the numbers.

    python scripts/benchmark.py                    # paper settings: ngf 32, 256×256, Cityscapes labels
    python scripts/benchmark.py --quick            # a smoke run with small widths
    python scripts/benchmark.py --json bench.json --device cuda --amp bf16 [--compile]
    python scripts/benchmark.py --model siedob --stage background --json bg.json
    python scripts/benchmark.py --model siedob --stage object_inpainting          # 64×64 object crops

Measures: the machine's matmul ceiling (fp32; bf16/fp16 on CUDA); inference latency at batch 1
per mask family (box, brush, right half, outpainting) and throughput at batch 8, reference vs fast,
with the max abs difference of the edited images; one full training iteration (generator,
discriminators, VGG19 stand-in) reference vs fast; peak memory (RSS on CPU in a fresh process,
max_memory_allocated on CUDA); parameters and GFLOPs per image (the reference's multiply-adds ×2);
the work each path executes (GFLOP per edit per mask family and per training iteration, windows at
their real size), whose ratio bounds the speed-up at equal efficiency, and the fraction of the
matmul ceiling that the training iteration reaches; on a CPU, a whole edit as separate processes
(the authors' test steps, test.py --forward reference, test.py). Median of --repeats after
--warmup runs (training: of max(3, repeats / 2)); the reference and the fast path run in turn, so
each ratio compares runs made under the same load. The model's options are train.py's; the
reference is always float32 (TF32 off unless --tf32); --amp, --compile, --channels_last,
--cuda_graph and --semantic_window apply to the fast path only, so the speed-ups include them and
the max abs difference shows what they cost. Speed claims of this project come from this script,
never from timed tests (docs/performance.md). Its library is scripts/benchmarking/.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from scripts.benchmarking.options import parse_options  # noqa: E402
from scripts.benchmarking.run import benchmark  # noqa: E402
from scripts.benchmarking.table import print_profile, print_table  # noqa: E402
from semedit.util.errors import exit_on_user_error  # noqa: E402


def main(argv=None):
    opt = parse_options(argv, __doc__)
    res = benchmark(opt)
    print_table(res)
    for what, rows in res.get('profile', {}).items():
        print_profile(what, rows)
    if opt.json:
        with open(opt.json, 'w') as f:
            json.dump(res, f, indent=2)
        print(f'wrote {opt.json}')
    return res


if __name__ == '__main__':
    with exit_on_user_error():
        main()
