"""Loading a model for inference and editing a test split: what test.py, scripts/evaluate.py and
their tests share. The checkpoint decides the network; its saved options decide the data."""
import os

import numpy as np

import data
import models
from engine.editing import edit_test_split
from util.checkpoint import load_checkpoint
from util.device import configure_backends, resolve_device
from util.errors import UserError
from util.image_io import save_image_atomic
from util.visualizer import colorize_label, make_row

DATASET_BY_LABEL_NC = {34: 'cityscapes', 151: 'ade20k'}


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
    """The checkpoint decides label_nc; a contradicting --dataset_name / --label_nc is an error."""
    label_nc = ckpt['arch']['label_nc']
    if opt.label_nc is not None and opt.label_nc != label_nc:
        raise UserError(f'{path} was trained with {label_nc} label ids but --dataset_name {opt.dataset_name} / '
                        f'--label_nc means {opt.label_nc}: use the checkpoint of your dataset, or the matching '
                        f'--dataset_name ({DATASET_BY_LABEL_NC.get(label_nc, "custom --label_nc %d" % label_nc)})')
    opt.label_nc = label_nc
    if opt.dataset_name is None:
        opt.dataset_name = ckpt.get('opt', {}).get('dataset_name') or DATASET_BY_LABEL_NC.get(label_nc, 'custom')


def parse_with_checkpoint(options, argv=None):
    """(opt, checkpoint dict, its path). The options are parsed twice: first to find the checkpoint,
    then with the options it was trained with as defaults for the data (dataset, data root, the
    dataset's own flags such as --instance_format), so the test split reads the data the model was
    trained on unless the command line says otherwise."""
    opt = options.parse(argv)
    path = checkpoint_file(opt)
    ckpt = load_checkpoint(path)
    return options.parse(argv, saved=ckpt.get('opt')), ckpt, path


def build_model(opt, ckpt, path):
    reconcile_labels(opt, ckpt, path)
    arch = ckpt['arch']
    opt.color_order = arch.get('color_order', opt.color_order)
    if opt.ngf != 32 and opt.ngf != arch.get('ngf'):
        print(f'note: --ngf {opt.ngf} ignored: the weights in {path} have ngf {arch.get("ngf")}')
    print(f'Loaded {path} ({ckpt["format"]}): label_nc {arch["label_nc"]}, ngf {arch.get("ngf")}, '
          f'colour order {opt.color_order}')
    device = resolve_device(opt.device)
    configure_backends(device)
    model = models.find_model_using_name(ckpt['model']).from_checkpoint(opt, device, ckpt, path, nets=['netG'])
    return model, path


def run_test_split(opt, model, dataset=None):
    dataset = dataset if dataset is not None else data.create_dataset(opt, 'test')
    if opt.mask_dir is None:
        print('No --mask_dir: using seeded training-family masks (same for every run with this --seed).')
    out_dir = os.path.join(opt.results_dir, opt.name, f'test_{opt.which_epoch}')
    n = 0
    for stem, s, out, masked in edit_test_split(model, dataset, opt.preprocess, opt.load_size, opt.quantize,
                                                 opt.how_many):
        save_image_atomic(out, os.path.join(out_dir, 'edited', stem + '.png'))
        save_image_atomic(masked, os.path.join(out_dir, 'masked', stem + '.png'))
        save_image_atomic((s['mask'] * 255).astype(np.uint8), os.path.join(out_dir, 'masks', stem + '.png'))
        if opt.save_panel:
            panel = make_row([s['image'], masked, colorize_label(s['label'], model.label_nc), out])
            save_image_atomic(panel, os.path.join(out_dir, 'panels', stem + '.png'))
        n += 1
    print(f'Wrote {n} edited images to {out_dir}/edited/')
