"""Cut SIEDOB's object datasets (car and person crops with their instance masks) from a scene
dataset in the Cityscapes layout, for the object stages (nothing is downloaded).

    python scripts/prepare_object_dataset.py --dataset_name cityscapes512x256
    python scripts/prepare_object_dataset.py --dataroot datasets --dataset_name demo --splits train

Reads ``<dataroot>/<dataset>/{train,test}/{images,labels,inst_map}/`` (and ``images2048/`` where
present: the crops are cut at 4× from it, as the authors' were) and writes
``<dataroot>/<dataset>/object_datasets/{car,person}/{train,test}/{images,inst_mask}/`` plus
``object_datasets/object_mask/NNNN.png`` (fixed 64×64 evaluation holes). The rule (box with a
2-pixel margin, cars filling > 60 % of it, persons > 35 % and 2 to 6 times as tall as wide; cars
64×64, persons 64×32) is the one that reproduces the authors' shipped crops: data/object_extraction.py.
"""
import argparse
import os
import sys

from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from semedit.data import dataset_folder  # noqa: E402
from semedit.data.object_extraction import object_folder, write_object_dataset  # noqa: E402
from semedit.util.errors import ArgumentParser, exit_on_user_error  # noqa: E402


def main(argv=None):
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--dataroot', default='datasets', help='folder holding <dataset_name>/')
    p.add_argument('--dataset_name', required=True, help='the scene dataset, e.g. cityscapes512x256 or demo')
    p.add_argument('--splits', default='train,test', help='comma-separated splits to cut (default train,test)')
    p.add_argument('--num_masks', type=int, default=None,
                   help='evaluation holes to write (default: one per test crop)')
    a = p.parse_args(argv)
    with exit_on_user_error():
        root = os.path.join(a.dataroot, dataset_folder(a.dataset_name))
        splits = [s.strip() for s in a.splits.split(',') if s.strip()]
        counts = write_object_dataset(root, splits, a.num_masks,
                                      progress=lambda stems, split: tqdm(stems, desc=split, unit='scene'))
    for (cls, split), n in sorted(counts.items()):
        print(f'  {cls:6s} {split:5s} {n} crops')
    print(f'wrote {object_folder(root)}')


if __name__ == '__main__':
    main()
