#!/usr/bin/env bash
# Reproduce the papers' metrics: edit the test split with predefined masks, then FID, LPIPS and
# masked L1/PSNR/SSIM. Every argument goes to scripts/evaluate.py (see --help). Examples:
#   bash scripts/eval_fid.sh --name city_spmpgan --dataset_name cityscapes --mask_dir masks/cityscapes
#   bash scripts/eval_fid.sh --checkpoint pretrained_models/cityscapes.pth --name authors \
#        --dataset_name cityscapes --mask_dir masks/cityscapes
# Results: results/<name>/test_<which_epoch>/metrics.{json,md}, and a row in results/runs.md.
# Runs from the current folder, so relative paths mean what they mean to you.
set -euo pipefail
exec python "$(dirname "$0")/evaluate.py" "$@"
