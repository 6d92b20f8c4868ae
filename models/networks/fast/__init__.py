"""The fast implementations of the networks in ``models/networks/``, chosen by one switch.

Each network file reads as its paper: its modules compute the reference formulation (module by
module, as the authors' code does) and hand over to this package when switched to the fast one,
as NVlabs/stylegan3's ``torch_utils/ops`` keep ``_bias_act_ref`` beside the fused kernel.
Both implementations use the same parameters and give the same numbers up to float rounding
(``tests/spmpgan/test_fast_path.py`` checks them against each other in float64)::

    set_impl(net, 'reference')                       # the paper, module by module
    set_impl(net, 'fast')                            # the default
    set_impl(net, 'fast', semantic_window=False)     # fast, but label-map convs everywhere

What the fast one does:

- ``spm.py``: an SPM block runs its two γ/β style convs and its four semantic convs as one conv
  each, reuses weight-derived tensors in eval mode, and modulates with fewer temporaries;
  the generator computes its last layers only where the composite reads them.
- ``windows.py``: the convs that read the label map (zero outside the edited region) run only
  around that region: the SPM semantic branches, the discriminators' first layer.
- ``kernels.py``: small-conv routing to oneDNN on multi-threaded CPUs, an instance norm that
  keeps NHWC, strided nearest downsampling.
- ``spectral_norm.py``: a one-pass backward of W / σ.

``--forward fast|reference`` (test.py, train.py) and ``BaseModel.set_forward`` call ``set_impl``.
"""
IMPLS = ('reference', 'fast')
DEFAULT_IMPL = 'fast'


class Switchable:
    """Mixed into every module (and spectral-norm hook) with two implementations: ``impl`` is
    'reference' or 'fast'; ``semantic_window`` (fast only) limits label-map convs to the edit."""

    impl = DEFAULT_IMPL
    semantic_window = True

    @property
    def windowed(self):
        return self.impl == 'fast' and self.semantic_window


def switchables(net):
    """Every module of ``net`` with two implementations, and every such forward pre-hook."""
    for m in net.modules():
        if isinstance(m, Switchable):
            yield m
        for hook in m._forward_pre_hooks.values():
            if isinstance(hook, Switchable):
                yield hook


def set_impl(net, impl=DEFAULT_IMPL, semantic_window=True):
    """Switch every part of ``net`` to ``impl`` ('reference' or 'fast'); returns ``net``."""
    if impl not in IMPLS:
        raise ValueError(f'impl must be one of {IMPLS}, not {impl!r}')
    for m in switchables(net):
        m.impl = impl
        m.semantic_window = semantic_window
    return net


def add_forward_options(group):
    """--forward and --semantic_window, for models whose nets have a fast implementation."""
    group.add_argument('--forward', choices=list(IMPLS[::-1]), default=DEFAULT_IMPL,
                       help="fast: fused convs and the label-map convs computed only around the edited region "
                            "(same numbers to ~1e-6 before quantisation: at most 0.1 %% of edited pixels one grey "
                            "level off, see scripts/benchmark.py); reference: the paper's computation, module by "
                            "module, as the authors' code runs it, which writes their PNG bit for bit")
    group.add_argument('--semantic_window', choices=['auto', 'on', 'off'], default='auto',
                       help='fast forward: compute the convs that read the label map (SPM semantic branches, '
                            "the D's first layer) only around the edited region (exact). auto = on for CPUs, "
                            'off for GPUs (measured: docs/performance.md)')
