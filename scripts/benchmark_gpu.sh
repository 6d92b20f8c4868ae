#!/usr/bin/env bash
# The README's GPU table in one go (its first configuration alone took 154 s on an H100): bf16 +
# channels_last + CUDA graphs (with a kernel-level profile), float32 with CUDA graphs only, and
# bf16 + channels_last eager, each against the float32 reference. Tables and JSON go to
# results/benchmark_gpu/ (or the folder given as the first argument); a failed run leaves nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:-results/benchmark_gpu}
mkdir -p "$OUT_DIR"
TABLE=$(mktemp)
trap 'rm -f "$TABLE"' EXIT
run() {
    local name=$1
    shift
    # benchmark.py writes its JSON only at the end of a successful run; the table is kept aside until then
    python scripts/benchmark.py --device cuda --repeats 10 --warmup 3 --json "$OUT_DIR/$name.json" "$@" | tee "$TABLE"
    mv "$TABLE" "$OUT_DIR/$name.txt"
}
run bf16_nhwc_graph --amp bf16 --channels_last --cuda_graph --profile
run fp32_graph --cuda_graph --skip_memory
run bf16_nhwc_eager --amp bf16 --channels_last --skip_memory
echo "wrote $OUT_DIR/{bf16_nhwc_graph,fp32_graph,bf16_nhwc_eager}.{txt,json}"
