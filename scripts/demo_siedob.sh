#!/usr/bin/env bash
# SIEDOB on the built-in demo dataset: its four stages trained briefly in sequence (tiny widths, CPU
# friendly), then an edit that adds a car where the label map gains one. Extra arguments go to
# every train.py (e.g. --device cuda). SIEDOB_ITERS=300 trains each stage longer (default 60);
# SIEDOB_NAME names the run (siedob_demo); DEMO_DIR is the folder that gets datasets/, checkpoints/
# and results/ (default: the repository).
# Demo-only settings, so that something is learnt in minutes: widths 8 / 16 (the authors: 32-64 / 64),
# lr 5e-4 (2e-4), no VGG loss (its weights are not downloaded), an L1 term of 10 for the fusion
# network (upstream trains it with GAN + VGG only).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "${DEMO_DIR:-$REPO}"
NAME=${SIEDOB_NAME:-siedob_demo}
ITERS=${SIEDOB_ITERS:-60}
RUNS="checkpoints/$NAME"
COMMON=(--dataset_name demo --checkpoints_dir "$RUNS" --ndf 16 --lambda_vgg 0 --lr 5e-4
        --max_iters "$ITERS" --print_freq 20 --display_freq 20 --save_latest_freq 50 --save_epoch_freq 0)
python "$REPO/train.py" --model siedob --stage object_inpainting --name object_inpainting --ngf 8 --batch_size 8 \
    "${COMMON[@]}" "$@"
python "$REPO/train.py" --model siedob --stage object_style --name object_style --ngf 8 --batch_size 8 \
    "${COMMON[@]}" "$@"
python "$REPO/train.py" --model siedob --stage background --name background --ngf 8 --batch_size 1 --lambda_l1 10 \
    "${COMMON[@]}" "$@"
python "$REPO/train.py" --model siedob --stage fusion --name fusion --ngf 8 --batch_size 1 --lambda_l1 10 \
    --object_inpainting_checkpoint "$RUNS/object_inpainting/latest.pth" \
    --object_style_checkpoint "$RUNS/object_style/latest.pth" \
    --background_checkpoint "$RUNS/background/latest.pth" "${COMMON[@]}" "$@"
python "$REPO/scripts/make_demo_edit.py" --dataroot datasets --out_dir "results/$NAME/edit_inputs"
python "$REPO/test.py" --model siedob --checkpoints_dir "$RUNS/fusion" \
    --image_path "results/$NAME/edit_inputs/image.jpg" \
    --segmap_path "results/$NAME/edit_inputs/segmap.png" \
    --instance_path "results/$NAME/edit_inputs/instance.png" \
    --mask_path "results/$NAME/edit_inputs/mask.png" \
    --output_path "results/$NAME/edited.png" --save_panel
echo
echo "SIEDOB results:"
echo "  edited image:   results/$NAME/edited.png  (the box gains a car, drawn by the object-style network)"
echo "  panel:          results/$NAME/edited_panel.png  (input | masked | edited labels | pasted objects |"
echo "                  background | before fusion | output)"
echo "  training grids: $RUNS/{object_inpainting,object_style,background,fusion}/web/images/"
echo "  checkpoints:    $RUNS/fusion/ (all four parts: test.py --model siedob --checkpoints_dir $RUNS/fusion)"
