"""SIEDOB's end-to-end composition (the paper's Fig. 2; upstream ``fusion/networks/inst_Gs.py``,
``G_stage.py`` and ``fusion/trainer.py``'s ``forward``), shared by the fusion stage's training and
the editor. With I the image, M the edit mask, S the one-hot labels, E the instance edges · M:

1. the objects the edit touches are found from the instance map; each class keeps those its rule
   passes (the fusion dataset's: any edited fraction) -> Fg, Bg = 1 − Fg (``data/scene_objects.py``);
2. each object is cut at its box (+ 2 px) and resized to 64×64; a wholly edited one (every pixel
   of its 64×64 mask edited) is drawn by the style generator in the style of reference k mod N (k
   numbers the class's objects across the batch, N its references), a partly edited one completed
   by the inpainting generator;
3. the outputs are resized back (bilinear, their masks nearest) and pasted per class, later
   objects over earlier ones; the car and person canvases are summed (upstream);
   ``fg = canvas · Fg·M + I_m · (1 − Fg·M)`` with I_m = I·(1 − M);
4. ``bg = bg_G([I_m, [S, E]·Bg, M], S, M, Bg)``: upstream gives the background generator the
   full mask and I_m, not the M·Bg and I_m·Bg it was trained with (``bg_inputs='as_trained'``
   is the fix);
5. ``masked_G = fg · Fg·M + bg · Bg·M + I · (1 − M)``; the fusion network then gives
   ``fake_F = F(masked_G, M, E)`` and ``masked_F = fake_F · M + I · (1 − M)``.
"""
from typing import NamedTuple

import torch
import torch.nn.functional as F

from semedit.data.scene_objects import FUSION_RULES, foreground, object_crops
from semedit.data.siedob_constants import OBJECT_ORDER
from semedit.models.networks.siedob_objects import inpaint_objects, style_objects
from semedit.util.errors import UserError
from semedit.util.tensors import edge_map, one_hot


class Scene(NamedTuple):
    """A batch's inputs as the networks see them."""
    image: torch.Tensor     # I, N×3×H×W in [−1, 1]
    label: torch.Tensor     # N×1×H×W ids (label 0 read as the last id, as upstream, unless kept)
    mask: torch.Tensor      # M, N×1×H×W, 1 = edited
    segmap: torch.Tensor    # S, N×L×H×W one-hot
    edges: torch.Tensor     # E · M, N×1×H×W
    instance: torch.Tensor  # N×1×H×W ids, or None


def scene_inputs(batch, label_nc, keep_label_0, device, source=None):
    """``Scene`` of a batch (image, label, mask, optional instance): the range check before the
    label remap can hide an id; label 0 -> label_nc − 1 (upstream ``dataset.py``) unless
    ``keep_label_0``; the edges of the instance map (of the labels without one) under M."""
    image = batch['image'].to(device, non_blocking=True)
    label = batch['label'].to(device, non_blocking=True)
    mask = batch['mask'].to(device, non_blocking=True)
    source = source or f'label map of {batch.get("path", "the batch")}'
    one_hot(label, label_nc, source=source)
    if not keep_label_0:
        label = torch.where(label == 0, torch.full_like(label, label_nc - 1), label)
    ids = batch.get('instance')
    ids = ids.to(device, non_blocking=True) if ids is not None else None
    edges = edge_map(ids if ids is not None else label) * mask
    return Scene(image, label, mask, one_hot(label, label_nc, source=source), edges, ids)


def background_inputs(scene, bg_mask, as_trained=True):
    """(input, mask argument) of the background generator: ``[I·(1−M)·Bg, [S, E]·Bg, M·Bg]`` and
    M·Bg as the background stage trains it, or ``[I·(1−M), [S, E]·Bg, M]`` and M as upstream's
    fusion stage and editor call it."""
    m = scene.mask * bg_mask if as_trained else scene.mask
    masked = scene.image * (1 - scene.mask)
    masked = masked * bg_mask if as_trained else masked
    return torch.cat([masked, torch.cat([scene.segmap, scene.edges], 1) * bg_mask, m], 1), m


# ---- 1. the objects ------------------------------------------------------------------------------

def find_objects(scene, rules=None, classes=OBJECT_ORDER):
    """(Fg N×1×H×W, {class: crops}) of a batch, the crops of each class (``object_crops``: image,
    masked, label, object_mask, mask at 64×64, boxes) over the whole batch in upstream's order
    (sample by sample, partly edited objects first) with ``sample``, each crop's sample index.
    Boxes are clamped to the image (upstream's fusion dataset clamps rows at 512 and columns at
    256: the same boxes wherever its paste does not fail, i.e. except at the bottom row)."""
    if scene.instance is None:
        raise UserError('SIEDOB finds the objects of an edit from the instance map: give one (--instance_path, '
                        'a 16-bit Cityscapes instanceIds PNG; the datasets\' inst_map/)')
    rules = rules or FUSION_RULES
    n, _, h, w = scene.image.shape
    masked = scene.image * (1 - scene.mask)
    fg = torch.zeros_like(scene.mask)
    per_class = {c: [] for c in classes}
    labels, instances, masks = (t[:, 0].cpu().numpy() for t in (scene.label, scene.instance, scene.mask))
    for b in range(n):
        split = foreground(labels[b], instances[b], masks[b], {c: rules[c] for c in classes}, limits=(h, w))
        fg[b, 0] = torch.from_numpy(split['fg']).to(fg.device)
        for c in classes:
            crops = object_crops(scene.image[b], masked[b], scene.label[b].float(), scene.mask[b],
                                 split['objects'][c], rules[c].crop)
            crops['sample'] = torch.full((len(crops['boxes']),), b, dtype=torch.int64)
            per_class[c].append(crops)
    objects = {c: {k: torch.cat([p[k] for p in parts]) for k in parts[0]} for c, parts in per_class.items()}
    return fg, objects


# ---- 2. the object networks -----------------------------------------------------------------------

class Route(NamedTuple):
    """What drew one object: 'style' (with reference ``ref``) or 'inpaint' (``ref`` None)."""
    branch: str
    ref: int


def draw_objects(inpainter, stylist, crops, label, references, one_by_one=False):
    """(N×3×64×64 outputs, routes) for the crops of one class whose 64×64 object mask is not empty
    (the others get zeros, as upstream skips them). ``references``: (images, masks) of the class,
    needed only when an object is wholly edited (a callable returning them, so that a class
    without references fails only then). ``one_by_one``: one network call per object, in order, as
    upstream (which, with the nets in train mode, steps the spectral norms once per object);
    otherwise one call per branch."""
    k_mask = crops['object_mask']
    outputs = torch.zeros_like(crops['image'])
    kept = (k_mask.flatten(1).sum(1) > 0).nonzero().flatten().tolist()
    if not kept:
        return outputs, []
    hole = crops['mask'] * k_mask
    whole = (hole.flatten(1).sum(1) == k_mask.flatten(1).sum(1)).tolist()
    refs = references() if any(whole[n] for n in kept) else None
    # object k of the class (counted over the kept crops) takes reference k mod N when wholly edited
    routes = [Route('style', k % len(refs[0])) if whole[n] else Route('inpaint', None) for k, n in enumerate(kept)]

    def inpaint(rows):
        return inpaint_objects(inpainter, crops['masked'][rows], k_mask[rows], crops['mask'][rows], [label] * len(rows))

    def style(rows, ref_rows):
        return style_objects(stylist, k_mask[rows], [label] * len(rows), refs[0][ref_rows], refs[1][ref_rows])

    if one_by_one:
        for n, route in zip(kept, routes):
            outputs[n:n + 1] = style([n], [route.ref]) if route.branch == 'style' else inpaint([n])
        return outputs, routes
    styled = [(n, r.ref) for n, r in zip(kept, routes) if r.branch == 'style']
    inpainted = [n for n, r in zip(kept, routes) if r.branch == 'inpaint']
    if styled:
        rows, ref_rows = zip(*styled)
        outputs[list(rows)] = style(list(rows), list(ref_rows))
    if inpainted:
        outputs[inpainted] = inpaint(inpainted)
    return outputs, routes


# ---- 3. pasting back --------------------------------------------------------------------------------

def paste_objects(outputs, crops, size, batch):
    """One class's canvas (``batch``×3×H×W, zeros elsewhere): each output resized to its box
    (bilinear; its 64×64 object mask nearest) and laid over the canvas where that mask is 1, in
    order (upstream ``embed_crop``)."""
    canvas = outputs.new_zeros((batch, outputs.shape[1]) + tuple(size))
    for n in range(len(outputs)):
        r0, r1, c0, c1 = (int(v) for v in crops['boxes'][n])
        b = int(crops['sample'][n])
        out = F.interpolate(outputs[n:n + 1], size=(r1 - r0, c1 - c0), mode='bilinear', align_corners=False)
        m = F.interpolate(crops['object_mask'][n:n + 1], size=(r1 - r0, c1 - c0), mode='nearest')
        region = canvas[b:b + 1, :, r0:r1, c0:c1]
        canvas[b:b + 1, :, r0:r1, c0:c1] = region * (1 - m) + out * m
    return canvas


# ---- 4.-5. the whole generation stage ----------------------------------------------------------------

class Composition(NamedTuple):
    fg_mask: torch.Tensor       # Fg
    canvas: torch.Tensor        # the pasted objects (car + person canvases)
    fg_output: torch.Tensor     # canvas · Fg·M + I_m · (1 − Fg·M)
    bg_output: torch.Tensor     # the background generator's output
    masked_G: torch.Tensor      # the composite the fusion network refines
    routes: dict                # class -> [Route] of its drawn objects, in order


def compose(scene, nets, references, bg_inputs='upstream', one_by_one=False, rules=None):
    """The generation stage (upstream ``G_stage`` then ``masked_G``) for a batch. ``nets``: dict
    with 'background', 'object_inpainting', 'object_style' (the generators); ``references``:
    class -> callable giving (images, masks) (``draw_objects``)."""
    fg, objects = find_objects(scene, rules)
    size = scene.image.shape[-2:]
    canvas = torch.zeros_like(scene.image)
    routes = {}
    for c in OBJECT_ORDER:
        crops = objects[c]
        if not len(crops['boxes']):
            routes[c] = []
            continue
        outputs, routes[c] = draw_objects(nets['object_inpainting'], nets['object_style'], crops, c,
                                          lambda c=c: references(c), one_by_one)
        canvas = canvas + paste_objects(outputs, crops, size, len(scene.image))
    fg_m = fg * scene.mask
    masked = scene.image * (1 - scene.mask)
    fg_output = canvas * fg_m + masked * (1 - fg_m)
    bg = 1 - fg
    net_input, m = background_inputs(scene, bg, as_trained=bg_inputs == 'as_trained')
    bg_output = nets['background'](net_input, scene.segmap, m, bg)
    masked_g = fg_output * fg_m + bg_output * (bg * scene.mask) + scene.image * (1 - scene.mask)
    return Composition(fg, canvas, fg_output, bg_output, masked_g, routes)


def fuse(fusion_net, scene, masked_g):
    """(fake_F, masked_F): the fusion network's residual output and the final edit, known pixels
    from I."""
    fake = fusion_net(masked_g, scene.mask, scene.edges)
    return fake, fake * scene.mask + scene.image * (1 - scene.mask)


def edit_scene(scene, nets, fusion_net, references, bg_inputs='upstream'):
    """(composition, fake_F, masked_F) of an edit in eval mode: the editor's, and the fusion stage's
    at test time."""
    composition = compose(scene, nets, references, bg_inputs)
    fake, out = fuse(fusion_net, scene, composition.masked_G)
    return composition, fake, out
