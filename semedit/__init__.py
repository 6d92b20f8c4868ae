"""Semantic image editing from Python, with SPM-PGAN or SIEDOB::

    import semedit

    editor = semedit.load('checkpoints/demo/latest.pth')          # one checkpoint file
    editor = semedit.load('checkpoints/siedob_demo/fusion')       # SIEDOB: a folder of its four parts
    out = editor.edit(image, labels, mask)                        # -> PIL.Image, RGB, the input's size
    editor.classes                                                # [(id, name, (r, g, b))], one colour each
    editor.colorize(labels)                                       # -> PIL.Image of the label map
    labels, instances = semedit.segment('my_photo.jpg')           # a photo without a label map: SegFormer's

The same picture as ``test.py`` gives for the same inputs and options. Nothing is written to disk.
Bad input raises ``semedit.InputError`` (a ValueError) with test.py's one-line message.
"""
# The package holds the whole product, one room a subpackage (util, data, models, options, engine:
# docs/overview.md). The API's names load on first use, so that ``import semedit.util.errors`` does
# not build the editor's imports (PEP 562).
from typing import TYPE_CHECKING

__all__ = ['load', 'Editor', 'InputError', 'Picture', 'segment', 'load_segmenter', 'Segmenter']
__version__ = '1.0.0'

if TYPE_CHECKING:  # for type checkers and IDEs: the same names, eagerly
    from semedit.api import Editor, InputError, Picture, Segmenter, load, load_segmenter, segment  # noqa: F401


def __getattr__(name):
    if name in __all__:
        from semedit import api
        return getattr(api, name)
    raise AttributeError(f"module 'semedit' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
