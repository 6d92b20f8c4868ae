"""The Python API's warm edit: the second and later calls of ``semedit.load(...).edit(...)`` (arrays
in, PIL images out) beside the bare forward of the same editor's model (``model.edit`` on tensors
already made): what the API adds to an edit, as a number. SPM-PGAN from a checkpoint of the
benchmark's fast model, SIEDOB from the benchmark's parts folder and references."""
import os
import shutil
import tempfile

import numpy as np
import torch

import semedit
from scripts.benchmarking import siedob_editor
from scripts.benchmarking.build import build_model
from scripts.benchmarking.inputs import make_batch, make_mask
from scripts.benchmarking.options import is_siedob_editor
from scripts.benchmarking.timing import paired_median_times
from semedit.util.checkpoint import save_checkpoint
from semedit.util.tensors import image_to_tensor


def scene(opt):
    """(image uint8 RGB, label ids, bool mask, instance ids or None) of the benchmark's box edit."""
    size = (opt.size, opt.size)
    mask = make_mask('box', size)
    if is_siedob_editor(opt):
        image, label, instance, mask = siedob_editor.scene_arrays(size, mask)
        return image, label, mask > 0.5, instance
    label = make_batch(1, size, 'box')['label'][0, 0].numpy()
    image = np.random.RandomState(0).randint(0, 256, size + (3,), dtype=np.uint8)
    return image, label, mask > 0.5, None


def tensors(editor, arrays, n, device):
    """The batch the editor's model receives for ``n`` copies of the scene."""
    image, label, mask, instance = arrays
    batch = {'image': image_to_tensor(image, editor.model.color_order)[None],
             'label': torch.from_numpy(label)[None, None],
             'mask': torch.from_numpy(mask.astype(np.float32))[None, None]}
    if instance is not None:
        batch['instance'] = torch.from_numpy(instance)[None, None]
    return {k: v.repeat(n, 1, 1, 1).to(device) for k, v in batch.items()}


def warm_edit(opt, device, batches):
    """{'b<n>': {'forward_s', 'edit_s', 'overhead'}} for each batch size in ``batches``."""
    folder = tempfile.mkdtemp(prefix='semedit_warm_')
    try:
        if is_siedob_editor(opt):
            parts = siedob_editor.parts_folder(opt)
            editors = {n: semedit.load(parts, device=str(device), batch_size=n,
                                       style_dir=siedob_editor.references_folder(parts)) for n in batches}
        else:
            path = os.path.join(folder, 'latest.pth')
            save_checkpoint(build_model(opt, torch.device('cpu')).checkpoint_state(0, 0, 0), path)
            editors = {n: semedit.load(path, device=str(device), batch_size=n) for n in batches}
        arrays = scene(opt)
        rows = {}
        for n, editor in editors.items():
            batch = tensors(editor, arrays, n, device)
            inputs = [[a] * n if n > 1 else a for a in arrays]

            def forward():
                with torch.inference_mode():
                    editor.model.edit(batch)

            def edit():
                editor.edit(*inputs[:3], instances=inputs[3] if arrays[3] is not None else None)
            fwd, api = paired_median_times([forward, edit], device, max(1, opt.warmup), opt.repeats)
            rows[f'b{n}'] = {'forward_s': fwd, 'edit_s': api, 'overhead': api / fwd - 1}
        return rows
    finally:
        shutil.rmtree(folder, ignore_errors=True)
