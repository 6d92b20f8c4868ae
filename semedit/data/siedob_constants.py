"""SIEDOB's fixed facts, in one place: which Cityscapes classes it draws as objects, how its object
networks are told an object's class, and where its object data lives on disk (upstream
``fg_class_list``, ``fusion/networks/inst_Gs.py``, ``background/networks/bg_G.py``, the
``object_datasets/`` folders its object trainers read).

Every other module takes these names from here; a label id written as a number elsewhere is a
data table of another kind (a palette, the demo's classes).
"""
import torch

PERSON, CAR = 24, 26   # Cityscapes labelIds

#: the object classes by name (test.py --object_class), in upstream's order: cars, then persons
OBJECT_CLASSES = {'car': CAR, 'person': PERSON}
OBJECT_ORDER = tuple(OBJECT_CLASSES.values())
CLASS_NAMES = {c: name for name, c in OBJECT_CLASSES.items()}

#: the scene samples' foreground classes, --fg_classes (upstream fg_class_list, ascending)
FOREGROUND_CLASSES = (PERSON, CAR)

#: Cityscapes' "thing" labelIds, person .. bicycle: the self-propagation module never spreads their
#: style (upstream bg_G's default, for 34 labels)
THING_CLASSES = tuple(range(24, 34))

#: the class map C = K × v of the object networks: v per class (upstream: car first; the third
#: channel is never used)
CLASS_VECTORS = {CAR: (1.0, 0.0, 0.0), PERSON: (0.0, 1.0, 0.0)}

#: the side of the object crops the object networks see (the object datasets store cars at 64×64 and
#: persons at 64 rows × 32 columns, the background rules' crops: data/scene_objects.py)
CROP_SIZE = 64

#: <scene dataset>/object_datasets/<car|person>/<split>/{images, inst_mask}/, and the object test holes
OBJECT_DIR, EVAL_MASK_DIR = 'object_datasets', 'object_mask'
#: the folder of a crop's instance mask: what upstream's code reads, and what its README says
MASK_DIRS = ('inst_mask', 'inst_map')
#: the full-resolution copies of the training images (SIEDOB's Cityscapes layout: 2048×1024)
HIGH_RES_DIR = 'images2048'


def unknown_class(c):
    """The one-line error for an object class the object networks do not know."""
    return f'SIEDOB\'s object networks know car ({CAR}) and person ({PERSON}), not class {c}'


def class_map(inst_masks, classes):
    """C = K × v: N×3×H×W from the instance masks K (N×1×H×W) and each one's label id."""
    try:
        v = torch.tensor([CLASS_VECTORS[int(c)] for c in classes], dtype=inst_masks.dtype, device=inst_masks.device)
    except KeyError as exc:
        raise ValueError(unknown_class(exc.args[0])) from None
    return inst_masks * v[:, :, None, None]
