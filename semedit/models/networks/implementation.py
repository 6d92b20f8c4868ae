"""One switch between the two implementations of a network: the reference (the modules of this
folder, written as the papers describe them, module by module as the authors' code computes) and
the fast one (``fast/``: the same functions of the same parameters, faster).

A module with a faster way to compute is built as its reference class. ``set_impl(net, 'fast')``
gives it the class of its fast twin, a subclass in ``fast/`` that overrides how it computes and
nothing else (same parameters, buffers and state-dict keys); ``set_impl(net, 'reference')`` gives
it back. The reference needs nothing of ``fast/``: without that package 'reference' still works,
as NVlabs/stylegan3's ``_bias_act_ref`` needs nothing of its fused kernel::

    set_impl(net, 'reference')                       # the paper, module by module
    set_impl(net, 'fast')                            # the default
    set_impl(net, 'fast', semantic_window=False)     # fast, but label-map convs everywhere
"""
IMPLS = ('reference', 'fast')
DEFAULT_IMPL = 'fast'


class FastUnavailable(RuntimeError):
    """The fast implementation cannot be imported (``models/networks/fast/`` missing or broken)."""


def parts(net):
    """Every module of ``net`` and every forward pre-hook (the spectral norms) it holds."""
    for m in net.modules():
        yield m
        yield from m._forward_pre_hooks.values()


def impl_of(part):
    """'fast' for a module (or hook) switched to its fast twin, else 'reference'."""
    return 'fast' if getattr(type(part), 'reference_class', None) is not None else 'reference'


def set_impl(net, impl=DEFAULT_IMPL, semantic_window=True):
    """Switch every part of ``net`` to ``impl``; returns ``net``. ``semantic_window`` (fast only):
    compute the convs that read the label map only around the edited region."""
    if impl not in IMPLS:
        raise ValueError(f'impl must be one of {IMPLS}, not {impl!r}')
    if impl == 'fast':
        try:
            from semedit.models.networks import fast
        except ImportError as exc:
            raise FastUnavailable(f'the fast implementation cannot be imported ({exc})') from None
        fast.attach(parts(net), semantic_window)
        return net
    for part in parts(net):
        reference = getattr(type(part), 'reference_class', None)
        if reference is not None:
            part.__class__ = reference
    return net
