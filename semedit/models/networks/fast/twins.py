"""The register of fast twins: each is a subclass of a reference module (``twin_of``) that overrides
how it computes; ``attach`` gives the parts of a net their twins' classes."""
#: reference class -> its fast twin
TWINS = {}


def twin_of(reference):
    """Class decorator registering the fast twin of ``reference``."""
    def register(cls):
        cls.reference_class = reference
        TWINS[reference] = cls
        return cls
    return register


class Twin:
    """What every fast twin has: ``semantic_window`` (limit the convs that read the label map to
    the edit, where the twin has such convs) and ``attached``, run when a module becomes one."""
    semantic_window = True

    def attached(self):
        """Prepare a module that has just become this twin (its parameters are set)."""


def attach(parts, semantic_window=True):
    """Give each of ``parts`` (a net's modules and hooks) that has a fast twin that twin's class."""
    for part in parts:
        cls = type(part)
        twin = TWINS.get(getattr(cls, 'reference_class', None) or cls)
        if twin is None:
            continue
        part.__class__ = twin
        part.semantic_window = semantic_window
        part.attached()
