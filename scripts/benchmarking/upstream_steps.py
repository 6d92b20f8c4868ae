"""The authors' test steps for one edit, replayed on this project's reference modules (their own
code needs CUDA): the first process of the benchmark's whole-process rows.

    python -m scripts.benchmarking.upstream_steps {spmpgan,siedob} FOLDER LABEL_NC

FOLDER holds the example ``whole_process.write_example`` writes (``FILES``, ``VGG_FILE``); the
edited images go to FOLDER/results/, as the authors' scripts write them.
"""
import argparse
import os

import torch

#: the example's files: SPM-PGAN's as in the authors' README, SIEDOB's as their test_one_image.py reads them
FILES = {'spmpgan': {'ckpt': 'cityscapes.pth', 'image': 'input.jpg', 'label': 'segmap_1.png', 'mask': 'mask_1.png'},
         'siedob': {'ckpt': 'Fnet.pth', 'image': 'image.jpg', 'label': 'label.png', 'instance': 'instance.png',
                    'mask': 'mask.png'}}
#: VGG19's ImageNet weights, which the authors' trainers read for their VGG loss
VGG_FILE = 'vgg19.pth'


def replay(model, folder, label_nc):
    """What both authors' test scripts do: import torchvision, build the trainer their config asks
    for (is_train: True: the nets initialised, discriminators, Adam, a VGG19 loss whose ImageNet
    weights torchvision reads from a file), read each checkpoint whole with torch.load, edit on
    the CPU and write the images."""
    import torchvision  # their test scripts import torchvision.transforms
    from semedit.util.image_io import save_image_atomic
    vgg = torchvision.models.vgg19(weights=None)
    vgg.load_state_dict(torch.load(os.path.join(folder, VGG_FILE), weights_only=True))
    paths = {k: os.path.join(folder, name) for k, name in FILES[model].items()}
    images = EDITS[model](paths, label_nc, vgg.features)
    os.makedirs(os.path.join(folder, 'results'), exist_ok=True)
    for name, image in images.items():
        save_image_atomic(image, os.path.join(folder, 'results', name))


def spmpgan_edit(paths, label_nc, vgg_features):
    """SPM-PGAN's test.py: its trainer (the generator, three discriminators, Adam, the VGG loss)
    initialised N(0, 0.02), the generator loaded, the full reference forward; the result and the
    masked input as JPEGs."""
    from semedit.engine.editing import edit_arrays
    from semedit.models.spmpgan_model import SPMPGANModel
    from semedit.options import default_options
    from semedit.util.image_io import read_image, read_label, read_mask
    opt = default_options(True, label_nc=label_nc, lambda_vgg=10.0, forward='reference')
    state = torch.load(paths['ckpt'], map_location='cpu', weights_only=True)['netG']
    opt.ngf = int(state['G1.enc1.conv2d.weight'].shape[0])
    model = SPMPGANModel(opt, torch.device('cpu'), vgg_features=vgg_features).setup()
    model.netG.load_state_dict(state)
    model.eval()
    image, mask = read_image(paths['image']), read_mask(paths['mask'])
    label = read_label(paths['label'], label_nc)
    with torch.no_grad():
        out, masked = edit_arrays(model, image, label, mask)
    return {'test_single_result.jpg': out, 'masked_img.jpg': masked}


def siedob_edit(paths, label_nc, vgg_features):
    """SIEDOB's fusion/test_one_image.py: the fusion trainer its shipped config asks for (the three
    frozen parts and F_stage initialised N(0, 0.02) / PyTorch's default, then loaded from their
    files; netD_F, Adam for both, the VGG loss), the scene and its references read, every object
    run through its network one at a time; the edit as a PNG."""
    from semedit.data.object_references import ObjectReferences
    from semedit.models import find_model_using_name, legacy
    from semedit.models.networks.discriminators import SNPatchDiscriminator
    from semedit.models.networks.init import init_weights
    from semedit.models.networks.losses import VGGLoss
    from semedit.models.siedob.composition import compose, fuse, scene_inputs
    from semedit.models.legacy import SIEDOB_FILES
    from semedit.options import default_options
    from semedit.util.image_io import read_image, read_instance, read_label, read_mask
    from semedit.util.tensors import image_to_tensor, tensor_to_image
    folder = os.path.dirname(paths['ckpt'])
    cpu = torch.device('cpu')
    VGGLoss(vgg_features)
    nets = {}
    for stage, name in SIEDOB_FILES.items():
        path = os.path.join(folder, name)
        raw = torch.load(path, map_location='cpu', weights_only=True)  # read whole, as upstream
        ckpt = next(f.convert(raw, path) for f in legacy.FORMATS if f.detect(raw))
        opt = default_options(False, model='siedob', stage=stage, dataset_name='cityscapes', label_nc=label_nc,
                              ngf=ckpt['arch']['ngf'])
        # built with initialisation (N(0, 0.02) for the background and fusion nets), then loaded
        model = find_model_using_name('siedob', stage)(opt, cpu, arch=ckpt['arch'])
        net = getattr(model, model.inference_nets[0])
        net.load_state_dict(ckpt['nets'][model.inference_nets[0]])
        model.set_forward('reference')
        nets[stage] = net.eval()
    d_f = init_weights(SNPatchDiscriminator(3, 6, 64, pad_type='zero', sparse_labels=False), 'gaussian')
    torch.optim.Adam(nets['fusion'].parameters(), 2e-4, betas=(0.5, 0.999))
    torch.optim.Adam(d_f.parameters(), 2e-4, betas=(0.5, 0.999))
    image, mask = read_image(paths['image']), read_mask(paths['mask'])
    label, instance = read_label(paths['label'], label_nc), read_instance(paths['instance'], 'cityscapes')
    batch = {'image': image_to_tensor(image)[None], 'label': torch.from_numpy(label)[None, None],
             'instance': torch.from_numpy(instance)[None, None], 'mask': torch.from_numpy(mask)[None, None]}
    refs = ObjectReferences.from_folder(os.path.join(folder, 'refs'))
    with torch.no_grad():
        scene = scene_inputs(batch, label_nc, False, cpu)
        comp = compose(scene, nets, refs.tensors, one_by_one=True)
        _, out = fuse(nets['fusion'], scene, comp.masked_G)
    return {'example.png': tensor_to_image(out[0])}


EDITS = {'spmpgan': spmpgan_edit, 'siedob': siedob_edit}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('model', choices=list(FILES), help='whose steps')
    p.add_argument('folder', help='the example written by whole_process.write_example')
    p.add_argument('label_nc', type=int, help='the label ids of its label map')
    a = p.parse_args(argv)
    replay(a.model, a.folder, a.label_nc)


if __name__ == '__main__':
    main()
