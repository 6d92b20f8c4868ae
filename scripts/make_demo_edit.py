"""Make an editing example from a demo test image: an edited label map and the mask of the change.

Inside a 128×128 box, buildings become vegetation and a car is placed on the ground; the mask is
the box. Writes <out_dir>/{image.jpg, segmap.png, segmap_original.png, mask.png, instance.png}: the
instance map (16-bit Cityscapes instanceIds) is edited alike, the new car a new instance (SIEDOB
finds the objects of an edit from it).

    python scripts/make_demo_edit.py --dataroot datasets --index 3 --out_dir results/demo/edit_inputs
"""
import argparse
import os
import shutil
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from semedit.data.demo import DEMO_CLASSES, ensure_demo_dataset  # noqa: E402
from semedit.util.errors import ArgumentParser  # noqa: E402
from semedit.util.image_io import read_instance, read_label  # noqa: E402


CAR_BOX = (-50, -8, 24, 104)  # the new car: rows and columns inside the edit box


def make_edit(label, box=(96, 224, 64, 192)):
    top, bottom, left, right = box
    edited = label.copy()
    region = edited[top:bottom, left:right]
    region[region == DEMO_CLASSES['building']] = DEMO_CLASSES['vegetation']
    r0, r1, c0, c1 = CAR_BOX
    region[bottom - top + r0:bottom - top + r1, c0:c1] = DEMO_CLASSES['car']
    mask = np.zeros(label.shape, np.uint8)
    mask[top:bottom, left:right] = 255
    return edited, mask


def edit_instances(instance, label, edited, box=(96, 224, 64, 192)):
    """The instance map after the edit: relabelled pixels hold their new class id, the new car a new
    car instance (26000 + the next free number)."""
    out = instance.copy()
    changed = edited != label
    out[changed] = edited[changed]
    _, bottom, left, _ = box
    r0, r1, c0, c1 = CAR_BOX
    cars = instance[(instance // 1000) == DEMO_CLASSES['car']]
    new_id = (int(cars.max()) + 1) if cars.size else DEMO_CLASSES['car'] * 1000
    out[bottom + r0:bottom + r1, left + c0:left + c1] = new_id
    return out


def main(argv=None):
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--dataroot', default='datasets')
    p.add_argument('--index', type=int, default=3, help='which demo test image')
    p.add_argument('--out_dir', default=os.path.join('results', 'demo', 'edit_inputs'))
    a = p.parse_args(argv)
    root = ensure_demo_dataset(a.dataroot)
    stem = f'demo_{a.index:05d}'
    image = os.path.join(root, 'test', 'images', stem + '.jpg')
    label = read_label(os.path.join(root, 'test', 'labels', stem + '.png'), 34)
    edited, mask = make_edit(label)
    os.makedirs(a.out_dir, exist_ok=True)
    shutil.copyfile(image, os.path.join(a.out_dir, 'image.jpg'))
    Image.fromarray(label.astype(np.uint8)).save(os.path.join(a.out_dir, 'segmap_original.png'))
    Image.fromarray(edited.astype(np.uint8)).save(os.path.join(a.out_dir, 'segmap.png'))
    Image.fromarray(mask).save(os.path.join(a.out_dir, 'mask.png'))
    instance = read_instance(os.path.join(root, 'test', 'inst_map', stem + '.png'), 'cityscapes')
    Image.fromarray(edit_instances(instance, label, edited).astype(np.uint16)).save(
        os.path.join(a.out_dir, 'instance.png'))
    print(f'Wrote the edit inputs to {a.out_dir}/ (image.jpg, segmap.png, mask.png, instance.png)')


if __name__ == '__main__':
    main()
