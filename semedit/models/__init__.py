"""Models by name (SPADE style): ``--model X`` imports ``models/X_model.py`` and picks the class
whose lower-cased name is ``x`` + ``model`` (underscores ignored).

A model trained in parts names them in ``stages`` (stage name -> 'module:Class'): ``--model X
--stage S`` is then the class of stage S (its own nets, losses and checkpoint, ``stage`` recorded in
the file), and ``--model X`` alone the whole model, which test.py edits with. SIEDOB's four
trainable parts (background, object inpainting, object style, fusion) are such stages; SPM-PGAN
has none. See docs/overview.md, "Adding a model".
"""
import importlib
import os

from semedit.models.base_model import BaseModel

DEFAULT_MODEL = 'spmpgan'  # train.py's and test.py's --model default
#: every --model: the models/<name>_model.py files (the template is an example to copy)
MODELS = sorted(f[:-len('_model.py')] for f in os.listdir(os.path.dirname(__file__))
                if f.endswith('_model.py') and f not in ('base_model.py', 'template_model.py'))


def find_model_using_name(name, stage=None):
    """The class of ``--model name`` (``--stage stage``). Raises ValueError naming what exists."""
    try:
        module = importlib.import_module(f'semedit.models.{name}_model')
    except ModuleNotFoundError as exc:
        if exc.name == f'semedit.models.{name}_model':
            raise ValueError(f'unknown --model {name!r}: there is no models/{name}_model.py; choose one of: '
                             + ', '.join(MODELS)) from None
        raise
    target = name.replace('_', '').lower() + 'model'
    for attr, cls in vars(module).items():
        if attr.lower() == target and isinstance(cls, type) and issubclass(cls, BaseModel):
            return cls if stage is None else stage_class(cls, name, stage)
    raise ValueError(f'models/{name}_model.py defines no subclass of BaseModel named like {target}')


def stage_class(cls, name, stage):
    stages = cls.stages
    if stage not in stages:
        have = f'its stages are {", ".join(stages)}' if stages else 'it is trained as one model (no --stage)'
        raise ValueError(f'--model {name} has no --stage {stage!r}: {have}')
    module, _, attr = stages[stage].partition(':')
    return getattr(importlib.import_module(module), attr)
