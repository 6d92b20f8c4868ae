"""SIEDOB's trained stages as the fusion stage and the end-to-end editor load them: each from one
file, ours (``train.py --model siedob --stage S``'s ``latest.pth``) or the authors' (upstream
``fusion/submodels/``: ``object_inpainting.pth``, ``object_style.pth``, ``bg.pth``, ``Fnet.pth``).
"""
import os

from semedit.models.legacy import SIEDOB_FILES, SIEDOB_PARTS, load_checkpoint
from semedit.util.checkpoint import describe_model
from semedit.util.errors import UserError

#: the three stages the fusion stage composes (frozen)
GENERATION_STAGES = ('object_inpainting', 'object_style', 'background')


def missing_part_hint(stage):
    """What to give for a stage's network: our run's file, or the authors'."""
    return (f'give the {stage.replace("_", "-")} stage\'s latest.pth written by train.py --model siedob --stage '
            f'{stage}, or the authors\' {SIEDOB_FILES[stage]}')


def read_part(path, stage):
    """The native checkpoint of SIEDOB's ``stage`` at ``path``; a one-line error naming the file if
    it is missing, unreadable or another model's or stage's."""
    if not os.path.isfile(path):
        raise UserError(f'{path} not found: SIEDOB\'s {SIEDOB_PARTS[stage]} (train it with train.py --model siedob '
                        f'--stage {stage}, or give the authors\' {SIEDOB_FILES[stage]})')
    ckpt = load_checkpoint(path)
    if ckpt.get('model') != 'siedob' or ckpt.get('stage') != stage:
        raise UserError(f'{path} is a {describe_model(ckpt)} checkpoint, not SIEDOB\'s {SIEDOB_PARTS[stage]}: give the '
                        f'file written by train.py --model siedob --stage {stage}, or the authors\' '
                        f'{SIEDOB_FILES[stage]}')
    return ckpt


def build_part(opt, device, stage, ckpt, path):
    """That stage's model for inference (its nets built without random initialisation and loaded;
    not yet on the device: the caller moves what it holds)."""
    from semedit import models
    from semedit.models.networks.init import build_without_init
    cls = models.find_model_using_name('siedob', stage)
    train_flag = opt.is_train
    opt.is_train = False  # the part's inference nets only
    try:
        with build_without_init():
            part = cls(opt, device, arch=ckpt['arch'])
    finally:
        opt.is_train = train_flag
    part.load_checkpoint_state(ckpt, path, nets=list(cls.inference_nets), assign=True)
    return part


def check_compatible(parts):
    """All parts must see colours in one order, and the background's labels are the scene's."""
    orders = {stage: p.color_order for stage, p in parts.items()}
    if len(set(orders.values())) > 1:
        listed = ', '.join(f'{s} {o}' for s, o in orders.items())
        raise UserError(f'SIEDOB\'s parts were trained with different colour orders ({listed}): retrain or convert '
                        f'them to one order (the authors\' files are all BGR)')


def load_parts(opt, device, paths):
    """{stage: model} from {stage: file}, checked to work together."""
    parts = {stage: build_part(opt, device, stage, read_part(path, stage), path) for stage, path in paths.items()}
    check_compatible(parts)
    return parts


def part_nets(parts):
    """The generators by stage, as ``composition.compose`` takes them."""
    return {s: getattr(p, p.inference_nets[0]) for s, p in parts.items()}
