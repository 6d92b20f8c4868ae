"""Every label id's name and colour, by the number of label ids: 34 are Cityscapes' labelIds, 151
ADE20K's 150 classes after 0 ("other"), any other count a dataset of your own ("class k"). One table
for the panels, the editors' ``classes`` / ``colorize`` and the web editor; each id has a colour of
its own (Cityscapes' official palette, except where it leaves ids 1-3 black like id 0 and gives
polegroup (18) pole's grey; ADE20K and other datasets: evenly spread hues)."""
import colorsys

import numpy as np

from semedit.util.errors import UserError

#: Cityscapes labelIds 0..33: (name, colour); the official colours, ids 1-3 and 18 made distinct
CITYSCAPES = (
    ('unlabeled', (0, 0, 0)), ('ego vehicle', (64, 0, 64)), ('rectification border', (0, 64, 64)),
    ('out of roi', (64, 64, 0)), ('static', (20, 20, 20)), ('dynamic', (111, 74, 0)), ('ground', (81, 0, 81)),
    ('road', (128, 64, 128)), ('sidewalk', (244, 35, 232)), ('parking', (250, 170, 160)),
    ('rail track', (230, 150, 140)), ('building', (70, 70, 70)), ('wall', (102, 102, 156)),
    ('fence', (190, 153, 153)), ('guard rail', (180, 165, 180)), ('bridge', (150, 100, 100)),
    ('tunnel', (150, 120, 90)), ('pole', (153, 153, 153)), ('polegroup', (183, 183, 183)),
    ('traffic light', (250, 170, 30)), ('traffic sign', (220, 220, 0)), ('vegetation', (107, 142, 35)),
    ('terrain', (152, 251, 152)), ('sky', (70, 130, 180)), ('person', (220, 20, 60)), ('rider', (255, 0, 0)),
    ('car', (0, 0, 142)), ('truck', (0, 0, 70)), ('bus', (0, 60, 100)), ('caravan', (0, 0, 90)),
    ('trailer', (0, 0, 110)), ('train', (0, 80, 100)), ('motorcycle', (0, 0, 230)), ('bicycle', (119, 11, 32)),
)

#: ADE20K's 150 classes (SceneParsing's objectInfo150, first names), label ids 1..150; 0 is "other"
ADE20K = (
    'wall', 'building', 'sky', 'floor', 'tree', 'ceiling', 'road', 'bed', 'windowpane', 'grass', 'cabinet',
    'sidewalk', 'person', 'earth', 'door', 'table', 'mountain', 'plant', 'curtain', 'chair', 'car', 'water',
    'painting', 'sofa', 'shelf', 'house', 'sea', 'mirror', 'rug', 'field', 'armchair', 'seat', 'fence', 'desk',
    'rock', 'wardrobe', 'lamp', 'bathtub', 'railing', 'cushion', 'base', 'box', 'column', 'signboard',
    'chest of drawers', 'counter', 'sand', 'sink', 'skyscraper', 'fireplace', 'refrigerator', 'grandstand', 'path',
    'stairs', 'runway', 'case', 'pool table', 'pillow', 'screen door', 'stairway', 'river', 'bridge', 'bookcase',
    'blind', 'coffee table', 'toilet', 'flower', 'book', 'hill', 'bench', 'countertop', 'stove', 'palm',
    'kitchen island', 'computer', 'swivel chair', 'boat', 'bar', 'arcade machine', 'hovel', 'bus', 'towel',
    'light', 'truck', 'tower', 'chandelier', 'awning', 'streetlight', 'booth', 'television receiver', 'airplane',
    'dirt track', 'apparel', 'pole', 'land', 'bannister', 'escalator', 'ottoman', 'bottle', 'buffet', 'poster',
    'stage', 'van', 'ship', 'fountain', 'conveyer belt', 'canopy', 'washer', 'plaything', 'swimming pool',
    'stool', 'barrel', 'basket', 'waterfall', 'tent', 'bag', 'minibike', 'cradle', 'oven', 'ball', 'food', 'step',
    'tank', 'trade name', 'microwave', 'pot', 'animal', 'bicycle', 'lake', 'dishwasher', 'screen', 'blanket',
    'sculpture', 'hood', 'sconce', 'vase', 'traffic light', 'tray', 'ashcan', 'fan', 'pier', 'crt screen', 'plate',
    'monitor', 'bulletin board', 'shower', 'radiator', 'glass', 'clock', 'flag',
)
assert len(CITYSCAPES) == 34 and len(ADE20K) == 150


def spread_colours(n):
    """``n`` distinct colours, black first, then hues a golden angle apart at three saturation and
    brightness levels (neighbouring ids far apart)."""
    out = [(0, 0, 0)]
    k = 0
    while len(out) < n:
        h = (k * 0.6180339887) % 1.0
        s, v = (0.85, 0.65, 0.45)[k % 3], (0.95, 0.75, 0.55)[(k // 3) % 3]
        rgb = tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(h, s, v))
        if rgb not in out:
            out.append(rgb)
        k += 1
    return out


def class_table(label_nc):
    """[(id, name, (r, g, b))] for ids 0..label_nc-1."""
    if label_nc == len(CITYSCAPES):
        return [(i, name, rgb) for i, (name, rgb) in enumerate(CITYSCAPES)]
    names = ('other',) + ADE20K if label_nc == len(ADE20K) + 1 else tuple(f'class {i}' for i in range(label_nc))
    return [(i, name, rgb) for i, (name, rgb) in enumerate(zip(names, spread_colours(label_nc)))]


def palette(label_nc):
    """(max(label_nc, 256), 3) uint8: row i the colour of id i (ids past label_nc: grey)."""
    pal = np.full((max(label_nc, 256), 3), 128, np.uint8)
    pal[:label_nc] = [rgb for _, _, rgb in class_table(label_nc)]
    return pal


def class_id(name_or_id, label_nc, what='class'):
    """A class given by name (as ``class_table`` spells it, any case) or by label id -> its id."""
    text = str(name_or_id).strip()
    if text.isdigit() and int(text) < label_nc:
        return int(text)
    by_name = {name.lower(): i for i, name, _ in class_table(label_nc)}
    if text.lower() in by_name:
        return by_name[text.lower()]
    some = ', '.join(name for _, name, _ in class_table(label_nc)[:12])
    raise UserError(f'{what} {text!r} is not a class of this model: give a label id 0..{label_nc - 1} or a name '
                    f'({some}, ...)')
