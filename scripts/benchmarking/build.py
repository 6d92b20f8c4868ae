"""The device and the models the benchmark measures, built as train.py and test.py build them: the
reference (the paper's computation, module by module, float32) or the fast path, on the same weights."""
import argparse

import torch

from semedit.options import default_options
from scripts.benchmarking import siedob_editor
from scripts.benchmarking.options import EDITOR_TRAINED_STAGE, is_siedob_editor, model_class
from semedit.util.device import configure_backends, resolve_device

#: how the nets run, not what they compute: the command line sets them for the fast path only
RUNTIME_OPTIONS = ('amp', 'compile', 'channels_last', 'cuda_graph')
#: the reference: float32, eager, NCHW, whatever the command line asks of the fast path
REFERENCE_RUNTIME = {'amp': 'none', 'compile': False, 'channels_last': False, 'cuda_graph': False}
#: what test.py's model takes from the benchmark's options (the rest are test.py's defaults)
INFERENCE_OPTIONS = ('label_nc', 'ngf', 'ndf', 'color_order', 'init_type', 'semantic_window')


def prepare_device(opt):
    """The device, set up as train.py / test.py set it up (cudnn autotuning, CPU allocator)."""
    device = resolve_device(opt.device)
    configure_backends(device)
    if device.type == 'cuda':  # PyTorch runs cuDNN convs in TF32 by default: not a float32 reference
        torch.backends.cudnn.allow_tf32 = opt.tf32
        torch.backends.cuda.matmul.allow_tf32 = opt.tf32
    return device


def device_name(device):
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    import platform
    return platform.processor() or platform.machine()


def model_options(opt, train, fast, **settings):
    """The options of the model one path measures: train.py's as the benchmark parsed them
    (``train``), or test.py's with the benchmark's ``INFERENCE_OPTIONS``; ``settings`` on top."""
    path = {'forward': 'fast' if fast else 'reference', **({} if fast else REFERENCE_RUNTIME)}
    if train:
        return argparse.Namespace(**{**vars(opt), **path, **settings})
    given = {k: getattr(opt, k) for k in INFERENCE_OPTIONS + RUNTIME_OPTIONS if hasattr(opt, k)}
    return default_options(False, model=opt.model, stage=opt.stage, **{**given, **path, **settings})


def build_model(opt, device, train=False, fast=True):
    """The model of one path; the runtime options (--amp, --compile, ...) apply to the fast path only."""
    if is_siedob_editor(opt):
        return build_siedob_editor(opt, device, train, fast)
    vgg = None
    if train:
        import torchvision
        vgg = torchvision.models.vgg19(weights=None).features  # same compute as the real weights
    torch.manual_seed(opt.seed)
    return model_class(opt)(model_options(opt, train, fast), device, vgg_features=vgg).setup()


def build_siedob_editor(opt, device, train, fast):
    """SIEDOB's editor from a folder of its four parts (inference), or its fusion stage (training)."""
    folder = siedob_editor.parts_folder(opt)
    if train:
        from semedit.models.siedob.fusion import SIEDOBFusionModel
        options = model_options(opt, True, fast, stage=EDITOR_TRAINED_STAGE, submodels=folder)
        torch.manual_seed(opt.seed)
        import torchvision
        return SIEDOBFusionModel(options, device, vgg_features=torchvision.models.vgg19(weights=None).features).setup()
    from semedit.models.siedob_model import SIEDOBModel
    options = model_options(opt, False, fast, checkpoints_dir=folder, dataset_name='cityscapes',
                            style_dir=siedob_editor.references_folder(folder))
    ckpt, path = SIEDOBModel.read_checkpoint_folder(options)
    return SIEDOBModel.from_checkpoint(options, device, ckpt, path)


def inference_net(model):
    """The network an edit runs (the first of the model's ``inference_nets``)."""
    return getattr(model, model.inference_nets[0])
