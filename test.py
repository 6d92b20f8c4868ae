"""Edit one image, or run the test split with predefined masks.

Single image (mask: 255 = region to repaint):
    python test.py --checkpoint checkpoints/demo/latest.pth --image_path IMG --segmap_path SEG \
        --mask_path MASK --output_path out.png [--instance_path INST] [--device cpu]
A photo of your own, its label map from a segmentation model, the masked region made road:
    python test.py --checkpoint C --image_path MY.jpg --segmap_path auto [--segmenter FOLDER] \
        --mask_path M.png --paint_class road --output_path out.png
Test split:
    python test.py --name demo --dataset_name demo [--mask_dir DIR]   # -> results/<name>/test_latest/
SIEDOB end to end (DIR: object_inpainting.pth, object_style.pth, bg.pth, Fnet.pth, or a fusion run's folder):
    python test.py --model siedob --checkpoints_dir DIR --image_path IMG --segmap_path SEG --instance_path INST \
        --mask_path MASK --output_path OUT.png [--style_dir REFS] [--seed N] [--device cpu]
    python test.py --model siedob --checkpoints_dir DIR --dataset_name cityscapes512x256 --mask_dir M --batch_size 8
SIEDOB's object stages, one crop (the hole for inpainting, a reference crop for style):
    python test.py --name obj --image_path CROP --inst_mask_path MASK --object_class car --mask_path HOLE
    python test.py --name sty --image_path CROP --inst_mask_path MASK --object_class person \
        --ref_image_path REF --ref_inst_mask_path REF_MASK
"""
import os
import sys

import torch

from semedit.data.siedob_constants import OBJECT_CLASSES
from semedit.engine.editing import edit_object_crop
from semedit.engine.editor import Editor, stage_images
from semedit.engine.inference import run_object_test_split, run_test_split
from semedit.engine.painting import paint_region
from semedit.engine.segmenter import auto_maps
from semedit.options.test_options import TestOptions
from semedit.util.errors import UserError, exit_on_user_error
from semedit.util.image_io import check_output_path, check_same_size, read_image, read_mask, save_image_atomic
from semedit.util.label_classes import class_id
from semedit.util.visualizer import colorize_label, make_row


def output_paths(opt):
    """(edited, masked input, panel) paths; upstream writes results/test_single_result.jpg and
    results/masked_img.jpg when no output path is given."""
    if opt.output_path is None:
        return (os.path.join('results', 'test_single_result.jpg'), os.path.join('results', 'masked_img.jpg'),
                os.path.join('results', 'test_single_panel.jpg'))
    stem, ext = os.path.splitext(opt.output_path)
    return opt.output_path, stem + '_masked' + ext, stem + '_panel' + ext


def edit_single_image(opt, editor):
    """One edit through the Python API's editor (engine/editor.py): the same reading, the same picture."""
    model = editor.model
    output, masked_path, panel_path = output_paths(opt)
    check_output_path(output)
    segmap, instances = opt.segmap_path, opt.instance_path or None
    if 'auto' in (segmap, instances):
        segmap, instances = auto_maps(opt.image_path, segmap, instances, editor, opt.segmenter, opt.device)
    image, label, mask, instance = editor.read(
        opt.image_path, segmap, opt.mask_path, instances,
        what=('image', 'label map (--segmap_path)', 'mask (--mask_path)', 'instance map'))
    if opt.paint_class is not None:
        label, instance = paint_region(label, instance, mask, class_id(opt.paint_class, model.label_nc,
                                                                       what='--paint_class'))
    out, masked = editor.edit_arrays(image, label, mask, instance, source=opt.image_path)
    save_image_atomic(out, output)
    written = [output]
    if opt.save_panel or opt.output_path is None:
        save_image_atomic(masked, masked_path)
        written.append(masked_path)
    if opt.save_panel:
        panel = make_row([image, masked, colorize_label(label, model.label_nc)] + stage_images(model, image.shape[:2])
                         + [out])
        save_image_atomic(panel, panel_path)
        written.append(panel_path)
    print('Wrote ' + ', '.join(written))
    return out


def edit_single_object(opt, model):
    """SIEDOB's object stages: one object crop (--image_path, --inst_mask_path, --object_class; the
    hole --mask_path for inpainting; --ref_image_path / --ref_inst_mask_path for style)."""
    inpainting = model.stage == 'object_inpainting'
    needed = ['image_path', 'inst_mask_path', 'object_class'] + (['mask_path'] if inpainting else [])
    missing = [f'--{k}' for k in needed if not getattr(opt, k, None)]
    if missing:
        raise UserError(f'editing one object crop with the {model.stage} stage needs ' + ', '.join(missing))
    output = opt.output_path or os.path.join('results', 'test_single_result.png')
    check_output_path(output)
    image = read_image(opt.image_path)
    inst = read_mask(opt.inst_mask_path, what='instance mask (--inst_mask_path)')
    named = [(opt.image_path, image), (opt.inst_mask_path, inst)]
    hole = ref = ref_mask = None
    if inpainting:
        hole = read_mask(opt.mask_path, what='mask (--mask_path)')
        named.append((opt.mask_path, hole))
    elif getattr(opt, 'ref_image_path', None):
        if not opt.ref_inst_mask_path:
            raise UserError('--ref_image_path needs --ref_inst_mask_path, the reference\'s instance mask')
        ref, ref_mask = read_image(opt.ref_image_path), read_mask(opt.ref_inst_mask_path, what='reference mask')
        check_same_size([(opt.ref_image_path, ref), (opt.ref_inst_mask_path, ref_mask)])
    check_same_size(named)
    out = edit_object_crop(model, image, inst, OBJECT_CLASSES[opt.object_class], hole, ref, ref_mask,
                           opt.quantize, source=opt.image_path)
    save_image_atomic(out, output)
    print(f'Wrote {output}')
    return out


def main(argv=None):
    with exit_on_user_error():
        editor = Editor.from_command_line(TestOptions(), argv)
        opt, model = editor.opt, editor.model
        with torch.inference_mode():
            if model.edits == 'object':
                if opt.image_path:
                    return edit_single_object(opt, model)
                return run_object_test_split(opt, model)
            singles = [opt.image_path, opt.segmap_path, opt.mask_path]
            if any(singles):
                if not all(singles):
                    raise UserError('single-image editing needs --image_path, --segmap_path and --mask_path')
                return edit_single_image(opt, editor)
            run_test_split(opt, model, edit=editor.edit_samples)


def fast_exit(code=0):
    """Leave without the interpreter's teardown (unloading torch and its thread pools, unmapping the
    memory-mapped weights): 0.6–0.8 s of a 4 s SIEDOB edit on a 2-core CPU. Everything is written
    and closed by then (images are written atomically, nothing else is open)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == '__main__':
    main()
    fast_exit()
