"""The benchmark's SIEDOB end-to-end rows (``scripts/benchmark.py --model siedob``): the editor built
from a folder of the four parts at the authors' widths (seeded random weights in their layout:
inpainting 2·ngf, style, background and fusion ngf), a 256² street with three objects the box mask
edits in part, and, for the whole-process edit, upstream's ``fusion/test_one_image.py`` steps on this
project's reference modules (their code needs CUDA)."""
import atexit
import os
import shutil
import sys
import tempfile

import numpy as np
import torch

_FOLDERS = {}


def part_widths(ngf):
    return {'object_inpainting': 2 * ngf, 'object_style': ngf, 'background': ngf, 'fusion': ngf}


def parts_folder(args):
    """A folder with the four parts in the authors' layout (written once per process)."""
    key = (args.ngf, args.ndf, args.label_nc)
    if key not in _FOLDERS:
        if not _FOLDERS:
            atexit.register(cleanup)
        folder = tempfile.mkdtemp(prefix='semedit_siedob_')
        write_parts(folder, args)
        _FOLDERS[key] = folder
    return _FOLDERS[key]


def write_parts(folder, args):
    """object_inpainting.pth, object_style.pth, bg.pth, Fnet.pth: N(0, 0.02) weights, small biases
    and unit u/v (as the SPM-PGAN example), in the authors' layout."""
    import models
    from models import legacy
    from models.networks.init import init_weights
    from options import default_options
    from util.checkpoint import make_checkpoint
    from models.siedob.parts import AUTHORS_FILES
    for k, (stage, ngf) in enumerate(part_widths(args.ngf).items()):
        torch.manual_seed(k)
        opt = default_options(False, model='siedob', stage=stage, dataset_name='cityscapes', ngf=ngf,
                              label_nc=args.label_nc)
        model = models.find_model_using_name('siedob', stage)(opt, torch.device('cpu'))
        nets = {}
        for name in model.inference_nets:
            net = init_weights(getattr(model, name), 'gaussian')
            sd = {}
            for key, v in net.state_dict().items():
                if key.endswith(('weight_u', 'weight_v')):
                    v = torch.randn(v.shape)
                    v = v / v.norm()
                elif key.endswith('.bias'):
                    v = torch.randn(v.shape) * 0.02
                sd[key] = v.clone()
            nets[name] = sd
        ckpt = make_checkpoint('siedob', model.arch(), nets, stage=stage)
        torch.save(legacy.to_upstream(ckpt), os.path.join(folder, AUTHORS_FILES[stage]))


def build(args, device, train, fast, opt_kwargs):
    """The editor (inference) or the fusion stage (training) as test.py / train.py build them."""
    from options import default_options
    folder = parts_folder(args)
    if train:
        from models.siedob.fusion import SIEDOBFusionModel
        opt = default_options(True, model='siedob', stage='fusion', submodels=folder, **opt_kwargs)
        torch.manual_seed(0)
        import torchvision
        return SIEDOBFusionModel(opt, device, vgg_features=torchvision.models.vgg19(weights=None).features).setup()
    from models.siedob_model import SIEDOBModel
    opt_kwargs = dict(opt_kwargs)
    opt_kwargs.pop('lambda_vgg', None)
    opt = default_options(False, model='siedob', checkpoints_dir=folder, dataset_name='cityscapes',
                          style_dir=references_folder(folder), **opt_kwargs)
    ckpt, path = SIEDOBModel.read_checkpoint_folder(opt)
    return SIEDOBModel.from_checkpoint(opt, device, ckpt, path)


# ---- the scene ----------------------------------------------------------------------------------------

def scene_arrays(size, mask):
    """(image uint8 RGB, label, instance, mask): sky, building, road, two cars and a person, each
    edited in part by the benchmark's box mask (``mask``: H×W float, the benchmark's mask family)."""
    h, w = size
    label = np.full((h, w), 7, np.int64)
    label[: h // 3] = 23
    label[h // 3: h // 2] = 11
    instance = label.copy()
    objects = ((26, 0, (0.58, 0.78, 0.16, 0.43)), (26, 1, (0.47, 0.66, 0.59, 0.90)), (24, 0, (0.23, 0.59, 0.47, 0.55)))
    for cls, k, (r0, r1, c0, c1) in objects:
        win = (slice(int(r0 * h), int(r1 * h)), slice(int(c0 * w), int(c1 * w)))
        label[win] = cls
        instance[win] = cls * 1000 + k
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.stack([xx * 255 // w, yy * 255 // h, (label * 7) % 256], -1).astype(np.uint8)
    return image, label, instance, mask


def references(n=4, seed=0):
    """Per class, n reference crops (random images, an ellipse mask) as the fusion samples carry them."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 64), torch.linspace(-1, 1, 64), indexing='ij')
    ellipse = ((yy / 0.9) ** 2 + (xx / 0.7) ** 2 <= 1).float()[None]
    return {c: {'image': torch.rand(n, 3, 64, 64, generator=g) * 2 - 1, 'mask': ellipse.repeat(n, 1, 1, 1)}
            for c in (26, 24)}


def make_batch(n, size, mask):
    from util.tensors import image_to_tensor
    image, label, instance, mask = scene_arrays(size, mask)
    refs = references()
    return {'image': image_to_tensor(image)[None].repeat(n, 1, 1, 1) * 0.9,
            'label': torch.from_numpy(label)[None, None].repeat(n, 1, 1, 1),
            'instance': torch.from_numpy(instance)[None, None].repeat(n, 1, 1, 1),
            'mask': torch.from_numpy(mask)[None, None].repeat(n, 1, 1, 1),
            'refs': {c: {k: v[None].repeat(n, 1, 1, 1, 1) for k, v in r.items()} for c, r in refs.items()}}


def references_folder(folder):
    """``<folder>/refs/<car|person>/{images,inst_mask}/`` with 4 crops each (upstream's example layout)."""
    from PIL import Image
    refs = os.path.join(folder, 'refs')
    if os.path.isdir(refs):
        return refs
    rng = np.random.RandomState(0)
    for name, w in (('car', 64), ('person', 32)):
        for sub in ('images', 'inst_mask'):
            os.makedirs(os.path.join(refs, name, sub), exist_ok=True)
        for i in range(4):
            Image.fromarray((rng.rand(64, w, 3) * 255).astype(np.uint8)).save(
                os.path.join(refs, name, 'images', f'{i}.jpg'), quality=95)
            m = np.zeros((64, w), np.uint8)
            m[6:58, 3:w - 3] = 255
            Image.fromarray(m).save(os.path.join(refs, name, 'inst_mask', f'{i}.png'))
    return refs


# ---- a whole edit as a user waits for it ----------------------------------------------------------------

def write_example(folder, args, mask):
    """The four files, the refs and a 256² scene (JPEG, 8-bit labels, 16-bit instances, 0/255 mask)."""
    from PIL import Image
    write_parts(folder, args)
    references_folder(folder)
    image, label, instance, mask = scene_arrays((args.size, args.size), mask)
    paths = {k: os.path.join(folder, n) for k, n in (('image', 'image.jpg'), ('label', 'label.png'),
                                                      ('instance', 'instance.png'), ('mask', 'mask.png'))}
    Image.fromarray(image).save(paths['image'], quality=95)
    Image.fromarray(label.astype(np.uint8)).save(paths['label'])
    Image.fromarray(instance.astype(np.uint16)).save(paths['instance'])
    Image.fromarray((mask * 255).astype(np.uint8)).save(paths['mask'])
    paths['ckpt'] = os.path.join(folder, 'Fnet.pth')
    paths['vgg'] = os.path.join(folder, 'vgg19.pth')
    import torchvision
    torch.save(torchvision.models.vgg19(weights=None).state_dict(), paths['vgg'])
    return paths


def process_commands(paths, args, script, root):
    folder = os.path.dirname(paths['ckpt'])
    ours = [sys.executable, os.path.join(root, 'test.py'), '--model', 'siedob', '--checkpoints_dir', folder,
            '--image_path', paths['image'], '--segmap_path', paths['label'], '--instance_path', paths['instance'],
            '--mask_path', paths['mask'], '--style_dir', os.path.join(folder, 'refs'), '--device', 'cpu']
    return [("upstream's steps (reference)", [sys.executable, script, '--model', 'siedob', '--_authors_edit', folder,
                                              '--label_nc', str(args.label_nc)]),
            ('test.py --forward reference', ours + ['--forward', 'reference', '--output_path',
                                                    os.path.join(folder, 'reference.png')]),
            ('test.py (default)', ours + ['--output_path', os.path.join(folder, 'default.png')])]


def authors_steps_edit(folder, label_nc):
    """upstream's fusion/test_one_image.py, step by step, on the reference modules: it imports
    torchvision, builds the fusion trainer as its shipped config says (is_train: True: the frozen
    G_stage, F_stage and D_F initialised N(0, 0.02) / PyTorch's default, Adam for both, the VGG19
    loss read from a file), reads each file whole with torch.load and loads it, reads the scene and
    its references, runs every object through its network one at a time and writes the PNG."""
    import torchvision
    from models import find_model_using_name
    from models.networks.discriminators import SNPatchDiscriminator
    from models.networks.fast import set_impl
    from models.networks.init import init_weights
    from models.networks.losses import VGGLoss
    from models.siedob.composition import compose, fuse, scene_inputs
    from models.siedob.parts import AUTHORS_FILES
    from data.object_references import ObjectReferences
    from options import default_options
    from util.image_io import read_image, read_instance, read_label, read_mask, save_image_atomic
    from util.tensors import image_to_tensor, tensor_to_image
    from models import legacy
    join = lambda name: os.path.join(folder, name)  # noqa: E731
    cpu = torch.device('cpu')
    vgg = torchvision.models.vgg19(weights=None)
    vgg.load_state_dict(torch.load(join('vgg19.pth'), weights_only=True))
    VGGLoss(vgg.features)
    nets = {}
    for stage, name in AUTHORS_FILES.items():
        raw = torch.load(join(name), map_location='cpu', weights_only=True)  # read whole, as upstream
        ckpt = next(f.convert(raw, join(name)) for f in legacy.FORMATS if f.detect(raw))
        opt = default_options(False, model='siedob', stage=stage, dataset_name='cityscapes', label_nc=label_nc,
                              ngf=ckpt['arch']['ngf'])
        # built with initialisation (N(0, 0.02) for the background and fusion nets), then loaded
        model = find_model_using_name('siedob', stage)(opt, cpu, arch=ckpt['arch'])
        net = getattr(model, model.inference_nets[0])
        net.load_state_dict(ckpt['nets'][model.inference_nets[0]])
        set_impl(net, 'reference')
        nets[stage] = net.eval()
    d_f = init_weights(SNPatchDiscriminator(3, 6, 64, pad_type='zero', sparse_labels=False), 'gaussian')
    torch.optim.Adam(nets['fusion'].parameters(), 2e-4, betas=(0.5, 0.999))
    torch.optim.Adam(d_f.parameters(), 2e-4, betas=(0.5, 0.999))
    image, mask = read_image(join('image.jpg')), read_mask(join('mask.png'))
    label, instance = read_label(join('label.png'), label_nc), read_instance(join('instance.png'), 'cityscapes')
    batch = {'image': image_to_tensor(image)[None], 'label': torch.from_numpy(label)[None, None],
             'instance': torch.from_numpy(instance)[None, None], 'mask': torch.from_numpy(mask)[None, None]}
    refs = ObjectReferences.from_style_dir(join('refs'))
    with torch.no_grad():
        scene = scene_inputs(batch, label_nc, False, cpu)
        comp = compose(scene, nets, refs.tensors, one_by_one=True)
        _, out = fuse(nets['fusion'], scene, comp.masked_G)
    os.makedirs(join('results'), exist_ok=True)
    save_image_atomic(tensor_to_image(out[0]), join('results/example.png'))


def cleanup():
    for folder in _FOLDERS.values():
        shutil.rmtree(folder, ignore_errors=True)
    _FOLDERS.clear()
