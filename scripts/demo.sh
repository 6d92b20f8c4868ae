#!/usr/bin/env bash
# The main job on the built-in demo dataset: train SPM-PGAN briefly (small widths, CPU friendly),
# then edit a demo image; then the same with SIEDOB's four stages (scripts/demo_siedob.sh; SIEDOB=0
# skips it). Extra arguments go to train.py (e.g. --device cuda).
# Demo-only settings, so that colours are learnt in minutes: ngf 8 / ndf 16 (the paper: 32 / 64),
# lr 5e-4 (paper 1e-4), L1 weight 10 (paper 1), no VGG loss (its weights are not downloaded).
# Environment: ITERS (SPM-PGAN's iterations, 500), NAME (demo), SIEDOB=0 (skip SIEDOB), SIEDOB_ITERS and
# SIEDOB_NAME (scripts/demo_siedob.sh), DEMO_DIR (the folder that gets datasets/, checkpoints/ and
# results/; default: the repository).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "${DEMO_DIR:-$REPO}"
NAME=${NAME:-demo}
ITERS=${ITERS:-500}
python "$REPO/train.py" --dataset_name demo --name "$NAME" --ngf 8 --ndf 16 --lambda_vgg 0 --lr 5e-4 \
    --lambda_l1 10 --max_iters "$ITERS" --print_freq 50 --display_freq 100 --save_latest_freq 100 "$@"
python "$REPO/scripts/make_demo_edit.py" --dataroot datasets --out_dir "results/$NAME/edit_inputs"
python "$REPO/test.py" --checkpoint "checkpoints/$NAME/latest.pth" \
    --image_path "results/$NAME/edit_inputs/image.jpg" \
    --segmap_path "results/$NAME/edit_inputs/segmap.png" \
    --mask_path "results/$NAME/edit_inputs/mask.png" \
    --output_path "results/$NAME/edited.png" --save_panel
python "$REPO/test.py" --name "$NAME" --how_many 8 --save_panel
if [ "${SIEDOB:-1}" != 0 ]; then
    bash "$REPO/scripts/demo_siedob.sh" "$@"
fi
echo
echo "SPM-PGAN results:"
echo "  edited image:        results/$NAME/edited.png"
echo "  panel:               results/$NAME/edited_panel.png  (input | masked input | edited labels | output)"
echo "  test split (8 imgs): results/$NAME/test_latest/{edited,panels}/"
echo "  training grids:      checkpoints/$NAME/web/images/"
echo "  TensorBoard:         tensorboard --logdir checkpoints/$NAME/logs"
