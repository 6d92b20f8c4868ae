"""A photo's label map (and Cityscapes instance map) from a segmentation model, as files to paint on
and edit with: ``<stem>_labels.png`` (a palette PNG: ids as pixel values, each class's colour shown
by paint programs) and, for Cityscapes, ``<stem>_instances.png`` (16-bit instanceIds).

    python scripts/segment.py MY.jpg [MORE.jpg ...] [--dataset cityscapes|ade20k] [--segmenter FOLDER]
        [--output_dir DIR] [--device auto]

Default segmenter: SegFormer-B0 of the dataset from the local Hugging Face cache (fetch it once with
``hf download nvidia/segformer-b0-finetuned-cityscapes-1024-1024``); nothing is downloaded here.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from semedit.engine.segmenter import DEFAULT_SEGMENTERS, Segmenter  # noqa: E402
from semedit.util.errors import ArgumentParser, exit_on_user_error  # noqa: E402
from semedit.util.image_io import save_instance_map, save_label_map  # noqa: E402
from semedit.util.label_classes import palette  # noqa: E402


def main(argv=None):
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('photos', nargs='+', help='the photos (any image file; EXIF orientation applied)')
    p.add_argument('--dataset', choices=sorted(DEFAULT_SEGMENTERS), default='cityscapes',
                   help='the numbering of the label map: Cityscapes labelIds 0..33 or ADE20K 0..150')
    p.add_argument('--segmenter', help='a folder holding a transformers segmentation model, or a Hugging Face name '
                   'in the local cache (default: SegFormer-B0 of the dataset)')
    p.add_argument('--output_dir', default='.', help='where the PNGs go (default: here)')
    p.add_argument('--device', default='auto', help='auto, cpu, cuda or cuda:N')
    a = p.parse_args(argv)
    with exit_on_user_error():
        segmenter = Segmenter.load(a.segmenter, a.dataset, a.device)
        for photo in a.photos:
            labels, instances = segmenter(photo)
            stem = os.path.join(a.output_dir, os.path.splitext(os.path.basename(photo))[0])
            save_label_map(labels, stem + '_labels.png', palette(segmenter.label_nc))
            written = [stem + '_labels.png']
            if instances is not None:
                save_instance_map(instances, stem + '_instances.png')
                written.append(stem + '_instances.png')
            print('Wrote ' + ', '.join(written))


if __name__ == '__main__':
    main()
