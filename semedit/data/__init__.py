"""Datasets by name (SPADE style): ``--dataset_name X`` selects a class from ``DATASETS``.

Every dataset reads the upstream folder layout ``<dataroot>/<dataset_name>/{train,test}/
{images,labels,inst_map}`` (the authors' ``data/`` folder) and yields a dict of tensors per sample.
"""
import importlib

# name (lower case) -> (module, class). ADE20k-room / ADE20k-landscape are upstream's names.
DATASETS = {
    'cityscapes': ('semedit.data.scene_dataset', 'CityscapesDataset'),
    'cityscapes512x256': ('semedit.data.scene_dataset', 'CityscapesDataset'),   # SIEDOB's name and folder
    'ade20k': ('semedit.data.scene_dataset', 'ADE20KRoomDataset'),
    'ade20k-room': ('semedit.data.scene_dataset', 'ADE20KRoomDataset'),
    'ade20k-landscape': ('semedit.data.scene_dataset', 'ADE20KLandscapeDataset'),
    'demo': ('semedit.data.scene_dataset', 'DemoDataset'),
    'custom': ('semedit.data.scene_dataset', 'CustomDataset'),
}


# The folder under --dataroot for each name: an alias reads the canonical folder (upstream's names).
FOLDERS = {'ade20k': 'ADE20k-room', 'ade20k-room': 'ADE20k-room', 'ade20k-landscape': 'ADE20k-landscape'}


def dataset_folder(name):
    """``<dataroot>/<this>/{train,test}``: ``ade20k`` and ``ade20k-room`` read ``ADE20k-room/``."""
    return FOLDERS.get(name.lower(), name)


def find_dataset_using_name(name):
    key = name.lower()
    if key not in DATASETS:
        raise ValueError(f'unknown --dataset_name {name!r}; choose one of: '
                         + ', '.join(sorted(DATASETS)) + ' (custom = your own data in the same layout)')
    module, cls = DATASETS[key]
    return getattr(importlib.import_module(module), cls)


def default_label_nc(name):
    """34 for Cityscapes-format data, 151 for ADE20K; custom data must say (--label_nc)."""
    from semedit.util.errors import UserError
    label_nc = find_dataset_using_name(name).default_label_nc
    if label_nc is None:
        raise UserError(f'--dataset_name {name} needs --label_nc N (the number of label ids, max id + 1)')
    return label_nc


def dataset_for_label_nc(label_nc):
    """The first dataset (in ``DATASETS`` order) with this many label ids, or 'custom'."""
    for name in DATASETS:
        if find_dataset_using_name(name).default_label_nc == label_nc:
            return name
    return 'custom'


# What a model asks its samples to be (its ``dataset_items``): None = the scene datasets' own
# (image, label, instance, mask); otherwise a mixin (module, class) over the --dataset_name class,
# or a dataset class of its own that reads beside it (``scene_class``: the --dataset_name class).
ITEMS = {
    'edit': None,
    'siedob_scene': ('semedit.data.siedob_scene', 'SIEDOBScene'),
    'siedob_scene_crops': ('semedit.data.siedob_scene', 'SIEDOBSceneCrops'),
    'siedob_fusion': ('semedit.data.siedob_scene', 'SIEDOBFusionScene'),   # ... with style references
    # a dataset of its own: the scene's object crops
    'siedob_objects': ('semedit.data.object_dataset', 'ObjectDataset'),
    'siedob_objects_ref': ('semedit.data.object_dataset', 'ObjectStyleDataset'),  # ... with a reference object each
}


def dataset_class(name, items='edit'):
    """The class of --dataset_name ``name`` giving ``items`` samples."""
    cls = find_dataset_using_name(name)
    if items not in ITEMS:
        raise ValueError(f'unknown dataset items {items!r}; expected one of: {", ".join(ITEMS)}')
    if ITEMS[items] is None:
        return cls
    import torch
    module, attr = ITEMS[items]
    kind = getattr(importlib.import_module(module), attr)
    if issubclass(kind, torch.utils.data.Dataset):  # reads files of its own, beside the scene dataset's
        return type(f'{kind.__name__}{cls.__name__}', (kind,), {'scene_class': cls})
    return type(f'{kind.__name__}{cls.__name__}', (kind, cls), {})


def create_dataset(opt, phase, items='edit'):
    return dataset_class(opt.dataset_name, items)(opt, phase)
