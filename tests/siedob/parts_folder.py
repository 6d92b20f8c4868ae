"""A SIEDOB checkpoint folder for tests: the four parts at tiny widths, seeded random weights, saved in
our format or the authors' layout (upstream fusion/submodels/), small scenes to edit, and the
authors' file layout written out from their layer lists (to check a file against, not our code)."""
import os

import numpy as np
import torch
from PIL import Image

from semedit.models import find_model_using_name, legacy
from semedit.options import default_options
from semedit.util.checkpoint import make_checkpoint, save_checkpoint

CPU = torch.device('cpu')
#: tiny widths per stage (the authors': inpainting 64, style 32, background 32, fusion 32)
WIDTHS = {'object_inpainting': 4, 'object_style': 4, 'background': 4, 'fusion': 4}
FILES = {'object_inpainting': 'object_inpainting.pth', 'object_style': 'object_style.pth', 'background': 'bg.pth',
         'fusion': 'Fnet.pth'}


def part_checkpoint(stage, seed=0, ngf=None):
    """Our native checkpoint of a stage's generator (random weights, seeded)."""
    torch.manual_seed(seed + sorted(FILES).index(stage))
    opt = default_options(False, model='siedob', stage=stage, dataset_name='cityscapes', ngf=ngf or WIDTHS[stage])
    model = find_model_using_name('siedob', stage)(opt, CPU)
    nets = {n: {k: v.clone() for k, v in getattr(model, n).state_dict().items()} for n in model.inference_nets}
    # non-trivial spectral-norm vectors and biases, so that a dropped or mis-mapped entry shows
    for sd in nets.values():
        for k, v in sd.items():
            if k.endswith('.bias'):
                v.normal_(0, 0.1)
    return make_checkpoint('siedob', model.arch(), nets, stage=stage)


def write_parts(folder, layout='ours', seed=0, fusion_name=None):
    """The four files in ``folder`` (our format or the authors' layout); returns their paths."""
    os.makedirs(folder, exist_ok=True)
    paths = {}
    for stage, name in FILES.items():
        ckpt = part_checkpoint(stage, seed)
        path = os.path.join(folder, fusion_name if stage == 'fusion' and fusion_name else name)
        if layout == 'authors':
            torch.save(legacy.to_upstream(ckpt), path)
        else:
            save_checkpoint(ckpt, path)
        paths[stage] = path
    return paths


def scene(size=(64, 64), cars=((10, 30, 8, 30, True),), persons=(), seed=0):
    """(image uint8 RGB, label, instance, mask) of a street with rectangular objects; each object is
    (r0, r1, c0, c1, wholly_masked): wholly masked ones lie inside the mask, partly masked ones
    stick out of it."""
    h, w = size
    rng = np.random.RandomState(seed)
    label = np.full((h, w), 7, np.int64)       # road
    label[: h // 3] = 23                         # sky
    label[h // 3: h // 2] = 11                   # building
    instance = label.copy()
    mask = np.zeros((h, w), np.float32)
    for k, (cls, objects) in enumerate(((26, cars), (24, persons))):
        for j, (r0, r1, c0, c1, whole) in enumerate(objects):
            label[r0:r1, c0:c1] = cls
            instance[r0:r1, c0:c1] = cls * 1000 + j
            if whole:
                mask[max(0, r0 - 3):r1 + 3, max(0, c0 - 3):c1 + 3] = 1
            else:
                mask[r0:(r0 + r1) // 2 + 1, c0:c1] = 1
    image = (rng.rand(h, w, 3) * 80 + label[..., None] * 5).clip(0, 255).astype(np.uint8)
    return image, label, instance, mask


def write_scene(folder, size=(64, 64), **kw):
    """The scene's files as test.py reads them: JPEG image, 8-bit labels, 16-bit instances, 0/255 mask."""
    image, label, instance, mask = scene(size, **kw)
    os.makedirs(folder, exist_ok=True)
    paths = {k: os.path.join(folder, f'{k}.png') for k in ('image', 'label', 'instance', 'mask')}
    Image.fromarray(image).save(paths['image'])
    Image.fromarray(label.astype(np.uint8)).save(paths['label'])
    Image.fromarray(instance.astype(np.uint16)).save(paths['instance'])
    Image.fromarray((mask * 255).astype(np.uint8)).save(paths['mask'])
    return paths


def write_references(folder, counts=None, seed=0):
    """``<folder>/<car|person>/{images,inst_mask}/`` with ``counts`` {name: n} crops (64×64 cars, 64×32 persons)."""
    rng = np.random.RandomState(seed)
    for name, n in (counts or {'car': 2, 'person': 2}).items():
        w = 64 if name == 'car' else 32
        for i in range(n):
            img = (rng.rand(64, w, 3) * 255).astype(np.uint8)
            m = np.zeros((64, w), np.uint8)
            m[8:56, 4:w - 4] = 255
            for sub, arr in (('images', img), ('inst_mask', m)):
                os.makedirs(os.path.join(folder, name, sub), exist_ok=True)
                Image.fromarray(arr).save(os.path.join(folder, name, sub, f'{name}_{i:02d}.' + ('jpg' if sub == 'images'
                                                                                            else 'png')))
    return folder


# ---- the authors' layout, written out from their code (not from ours) --------------------------------

#: what upstream fusion/networks/G_stage.py and F_stage's trainer read from each file of submodels/
AUTHORS_NET_KEY = {'object_inpainting': 'netG', 'object_style': 'netG', 'background': 'netG_BG', 'fusion': 'netG_F'}


def _plain(prefix, out, inp, k=3, bias=True):
    return {f'{prefix}.weight': (out, inp, k, k), **({f'{prefix}.bias': (out,)} if bias else {})}


def _spectral(prefix, out, inp, k=3):
    """A spectral-normed conv with a bias, under the classic hook: weight_orig, weight_u, weight_v."""
    return {f'{prefix}.bias': (out,), f'{prefix}.weight_orig': (out, inp, k, k), f'{prefix}.weight_u': (out,),
            f'{prefix}.weight_v': (inp * k * k,)}


def _gated(prefix, out, inp, sn=False):
    conv = _spectral if sn else _plain
    return {**conv(f'{prefix}.conv2d', out, inp), **conv(f'{prefix}.mask_conv2d', out, inp)}


def _encoders(n, count):
    widths = [(2 * n, n), (2 * n, 2 * n), (4 * n, 2 * n), (4 * n, 4 * n), (8 * n, 4 * n), (8 * n, 8 * n),
              (8 * n, 8 * n), (16 * n, 8 * n)][:count]
    return {k: v for i, (o, c) in enumerate(widths, 1) for k, v in _gated(f'enc{i}', o, c).items()}


def authors_bg_layout(ngf, label_nc=34):
    """{key: shape} of ``bg.pth['netG_BG']``: upstream background/networks/bg_G.py (ngf 32 there; the
    widths scale with ngf, SSP's 64 code channels and SPADE's 128 hidden ones do not): 98 entries."""
    n = ngf
    layout = {**_plain('init_conv.conv', n, 3 + label_nc + 2, 7), **_encoders(n, 8)}
    for k, (o, c) in enumerate([(8 * n, 24 * n), (4 * n, 12 * n), (2 * n, 6 * n), (2 * n, 2 * n)], 1):
        layout.update(_gated(f'dec{k}.gated_conv2d', o, c, sn=True))
    for k, c in enumerate((8 * n, 4 * n, 2 * n), 1):
        p = f'style{k}'
        layout.update({**_plain(f'{p}.conv.conv', 64, c, bias=False), **_plain(f'{p}.stylelayer.conv_0', c, c),
                       **_plain(f'{p}.stylelayer.spade.mlp_shared.0', 128, 64 + label_nc),
                       **_plain(f'{p}.stylelayer.spade.mlp_gamma', c, 128),
                       **_plain(f'{p}.stylelayer.spade.mlp_beta', c, 128)})
    layout.update({**_gated('dec5', n, 2 * n), **_plain('conv_img.conv', 3, n, bias=False)})
    return layout


def authors_fusion_layout(ngf):
    """{key: shape} of ``Fnet.pth['netG_F']``: upstream fusion/networks/F_stage.py (input: composite,
    mask, edges): 55 entries."""
    n = ngf
    layout = {**_plain('init_conv.conv', n, 5, 7), **_encoders(n, 6)}
    for k, (o, c) in {2: (4 * n, 12 * n), 3: (2 * n, 6 * n), 4: (2 * n, 2 * n)}.items():
        layout.update(_gated(f'dec{k}.gated_conv2d', o, c, sn=True))
    layout.update({**_gated('dec5', n, 2 * n), **_plain('conv_img.conv', 3, n, bias=False)})
    return layout


def authors_discriminator_layout(ndf, in_nc):
    """{key: shape} of upstream SNPatchDiscriminator.py's six spectral-normed 5×5 convs, no biases."""
    widths = [(ndf, in_nc), (2 * ndf, ndf), (4 * ndf, 2 * ndf), (4 * ndf, 4 * ndf), (4 * ndf, 4 * ndf), (3, 4 * ndf)]
    return {k: v for i, (o, c) in enumerate(widths) for k, v in _spectral(f'dis_model.{i}.conv', o, c, 5).items()
            if not k.endswith('.bias')}


#: the object generators inside upstream's ``generator`` wrapper (instance_*/networks/): key prefix,
#: modules, which of them are spectral-normed, and the entry count
AUTHORS_OBJECT_LAYOUT = {
    'object_inpainting': ('fg_inpainting.', {'init_conv', 'enc1', 'enc2', 'enc22', 'enc3', 'enc32', 'enc4', 'enc5',
                                             'enc6', 'dec2', 'dec22', 'dec3', 'dec32', 'dec4', 'dec43', 'dec5', 'dec6',
                                             'conv_img'}, {'dec2', 'dec3', 'dec4', 'dec5'}, 83),
    'object_style': ('fg_style.', {'enc_style', 'init_conv', 'enc1', 'enc2', 'enc3', 'resblk1', 'resblk2',
                                   'resblk3', 'resblk4', 'spade1_1', 'spade1_2', 'spade2_1', 'spade2_2', 'spade3',
                                   'conv1', 'conv2', 'conv3', 'conv_img', 'cycle_style'}, set(), 134)}


def assert_authors_layout(stage, sd, ngf):
    """A generator state dict as the authors' file holds it: every key and shape of bg_G and F_stage;
    the object generators' prefix, modules, spectral norms and entry count."""
    if stage in AUTHORS_OBJECT_LAYOUT:
        prefix, modules, normed, count = AUTHORS_OBJECT_LAYOUT[stage]
        assert len(sd) == count and all(k.startswith(prefix) for k in sd), stage
        assert {k[len(prefix):].split('.')[0] for k in sd} == modules, stage
        assert {k[len(prefix):].split('.')[0] for k in sd if k.endswith('.weight_orig')} == normed, stage
        if stage == 'object_inpainting':
            assert tuple(sd[prefix + 'init_conv.conv.weight'].shape) == (ngf, 8, 7, 7)
        return
    want = authors_bg_layout(ngf) if stage == 'background' else authors_fusion_layout(ngf)
    assert {k: tuple(v.shape) for k, v in sd.items()} == want, stage
