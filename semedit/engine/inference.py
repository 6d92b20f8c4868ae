"""Loading a model for inference and editing a test split: what test.py, scripts/evaluate.py and
their tests share. The checkpoint decides the network; its saved options decide the data."""
import os
import sys

import numpy as np
import torch

from semedit import data
from semedit import models
from semedit.engine.editing import edit_test_split
from semedit.models.legacy import load_checkpoint
from semedit.util.checkpoint import describe_model
from semedit.util.device import configure_backends, resolve_device
from semedit.util.errors import UserError
from semedit.util.image_io import save_image_atomic
from semedit.util.visualizer import colorize_label, make_row


def checkpoint_file(opt):
    if opt.checkpoint:
        return opt.checkpoint
    which = opt.which_epoch
    name = which if which in ('latest', 'best') else f'epoch_{int(which):03d}' if which.isdigit() else which
    path = os.path.join(opt.checkpoints_dir, opt.name, f'{name}.pth')
    if not os.path.isfile(path):
        raise UserError(f'checkpoint not found: {path} (train first, or pass --checkpoint FILE)')
    return path


def reconcile_labels(opt, ckpt, path):
    """The checkpoint decides label_nc; a contradicting --dataset_name / --label_nc is an error.
    (A model whose nets see no label map, SIEDOB's object stages, records none.)"""
    label_nc = ckpt['arch'].get('label_nc')
    if label_nc is None:
        return
    if opt.label_nc is not None and opt.label_nc != label_nc:
        raise UserError(f'{path} was trained with {label_nc} label ids but --dataset_name {opt.dataset_name} / '
                        f'--label_nc means {opt.label_nc}: use the checkpoint of your dataset, or the matching '
                        f'--dataset_name ({_dataset_hint(label_nc)})')
    opt.label_nc = label_nc
    if opt.dataset_name is None:
        opt.dataset_name = ckpt.get('opt', {}).get('dataset_name') or data.dataset_for_label_nc(label_nc)


def _dataset_hint(label_nc):
    name = data.dataset_for_label_nc(label_nc)
    return f'custom --label_nc {label_nc}' if name == 'custom' else name


def parse_with_checkpoint(options, argv=None):
    """(opt, checkpoint dict, its path). The options are parsed twice: first to find the checkpoint,
    then with the options it was trained with as defaults for the data (dataset, data root, the
    dataset's own flags such as --instance_format), so the test split reads the data the model was
    trained on unless the command line says otherwise."""
    opt = options.parse(argv, known_only=True)  # the checkpoint's model may add flags: parsed in full below
    # a model made of several files (SIEDOB's four parts) reads its folder; the others one file
    found = None if opt.checkpoint else named_model_class(opt).read_checkpoint_folder(opt)
    if found is not None:
        ckpt, path = found
    else:
        path = checkpoint_file(opt)
        ckpt = load_checkpoint(path)
    check_model_named(opt, argv, ckpt, path)
    saved = dict(ckpt.get('opt') or {}, model=ckpt['model'], stage=ckpt.get('stage'))
    return options.parse(argv, saved=saved), ckpt, path


def named_model_class(opt):
    """The class of the --model / --stage the command line names (the default model otherwise)."""
    try:
        return models.find_model_using_name(opt.model, opt.stage)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def check_model_named(opt, argv, ckpt, path):
    """The checkpoint says which model it is; a --model / --stage on the command line that says
    otherwise is a mistake worth one line (the file would be used as what it is, silently)."""
    argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)]

    def named(flag):
        return any(a == flag or a.startswith(flag + '=') for a in argv)

    what = describe_model(ckpt)
    for flag, have in (('--model', ckpt['model']), ('--stage', ckpt.get('stage'))):
        given = getattr(opt, flag[2:], None)
        if named(flag) and given != have:
            raise UserError(f'{path} is a {what} checkpoint, not {flag} {given}: drop {flag} (test.py takes the '
                            f'model from the checkpoint) or give a checkpoint of {flag} {given}')


def build_model(opt, ckpt, path, parser=None, verbose=True):
    """The checkpoint's model for inference. Its architecture options come from the checkpoint; one
    that the command line (``parser``: what parsed it) sets to something else gets a note;
    ``verbose``: print the notes and what was loaded (test.py; the Python API is quiet)."""
    reconcile_labels(opt, ckpt, path)
    arch = ckpt['arch']
    cls = models.find_model_using_name(ckpt['model'], ckpt.get('stage'))
    for key in cls.arch_options:
        if key not in arch or key == 'label_nc':
            continue
        given = getattr(opt, key, None)
        if given is not None and given != arch[key] and parser is not None and given != parser.get_default(key) \
                and verbose:
            print(f'note: --{key} {given} ignored: the weights in {path} have {key} {arch[key]}')
        setattr(opt, key, arch[key])
    if verbose:
        shown = ', '.join(f'{k} {arch[k]}' for k in cls.arch_options if k in arch)
        print(f'Loaded {path} ({ckpt["format"]}, {ckpt["model"]}): {shown}')
    device = resolve_device(opt.device)
    configure_backends(device)
    return cls.from_checkpoint(opt, device, ckpt, path), path


def run_test_split(opt, model, dataset=None, edit=None):
    """Edit the test split and write results/<name>/test_<epoch>/; ``edit``: test.py's editor's
    ``edit_samples`` (the single-image edits' too)."""
    dataset = dataset if dataset is not None else data.create_dataset(opt, 'test', model.dataset_items)
    if opt.mask_dir is None:
        print('No --mask_dir: using seeded training-family masks (same for every run with this --seed).')
    out_dir = os.path.join(opt.results_dir, opt.name, f'test_{opt.which_epoch}')
    n = 0
    for stem, s, out, masked in edit_test_split(model, dataset, opt.preprocess, opt.load_size, opt.quantize,
                                                 opt.how_many, batch_size=opt.batch_size, edit=edit):
        save_image_atomic(out, os.path.join(out_dir, 'edited', stem + '.png'))
        save_image_atomic(masked, os.path.join(out_dir, 'masked', stem + '.png'))
        save_image_atomic((s['mask'] * 255).astype(np.uint8), os.path.join(out_dir, 'masks', stem + '.png'))
        if opt.save_panel:
            panel = make_row([s['image'], masked, colorize_label(s['label'], model.label_nc), out])
            save_image_atomic(panel, os.path.join(out_dir, 'panels', stem + '.png'))
        n += 1
    print(f'Wrote {n} edited images to {out_dir}/edited/')


def run_object_test_split(opt, model):
    """SIEDOB's object stages: edit the object test crops (each with its hole, or its class's
    fixed reference) and write the 64×64 results (the networks' size) beside the crops."""
    from semedit.util.tensors import tensor_to_image
    dataset = data.create_dataset(opt, 'test', model.dataset_items)
    out_dir = os.path.join(opt.results_dir, opt.name, f'test_{opt.which_epoch}')
    n = len(dataset) if opt.how_many is None else min(opt.how_many, len(dataset))
    for i in range(n):
        item = dataset[i]
        batch = {k: v[None] for k, v in item.items() if torch.is_tensor(v) and v.dim() == 3}
        out = model.edit(batch)[0]
        stem = os.path.splitext(os.path.basename(item['path']))[0]
        save_image_atomic(tensor_to_image(out, model.color_order, opt.quantize == 'round'),
                          os.path.join(out_dir, 'edited', stem + '.png'))
        save_image_atomic(tensor_to_image(item['image'], model.color_order), os.path.join(out_dir, 'crops', stem + '.png'))
    print(f'Wrote {n} edited object crops to {out_dir}/edited/')
