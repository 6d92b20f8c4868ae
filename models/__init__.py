"""Models by name (SPADE style): ``--model X`` imports ``models/X_model.py`` and picks the class
whose lower-cased name is ``x`` + ``model`` (underscores ignored)."""
import importlib

from models.base_model import BaseModel


def find_model_using_name(name):
    try:
        module = importlib.import_module(f'models.{name}_model')
    except ModuleNotFoundError as exc:
        if exc.name == f'models.{name}_model':
            raise ValueError(f'unknown --model {name!r}: there is no models/{name}_model.py') from None
        raise
    target = name.replace('_', '').lower() + 'model'
    for attr, cls in vars(module).items():
        if attr.lower() == target and isinstance(cls, type) and issubclass(cls, BaseModel):
            return cls
    raise ValueError(f'models/{name}_model.py defines no subclass of BaseModel named like {target}')


def create_model(opt, **kwargs):
    return find_model_using_name(opt.model)(opt, **kwargs)
