"""The fast implementations of the networks in ``models/networks/``: a fast twin per module that
has a faster way to compute the same function (``models/networks/implementation.py`` switches a
whole net between the two).

Each network file reads as its paper and needs nothing of this package; a twin here is a subclass
of its reference module that overrides how it computes, with the same parameters, as
NVlabs/stylegan3's ``torch_utils/ops`` keep ``_bias_act_ref`` beside the fused kernel. Both give the
same numbers up to float rounding (``tests/spmpgan/test_fast_path.py`` checks them against each
other in float64). What the twins do:

- ``spm.py``: an SPM block runs its two γ/β style convs and its four semantic convs as one conv
  each, reuses weight-derived tensors in eval mode, and modulates with fewer temporaries;
  the generator computes its last layers only where the composite reads them.
- ``windows.py``: the convs that read the label map (zero outside the edited region) run only
  around that region: the SPM semantic branches, the discriminators' first layer
  (``discriminators.py``).
- ``kernels.py``: small-conv routing to oneDNN on multi-threaded CPUs, an instance norm that
  keeps NHWC, strided nearest downsampling.
- ``spectral_norm.py``: a one-pass backward of W / σ.
- ``siedob.py``: SIEDOB's self-propagation codes as two matrix products instead of a loop.
"""
from . import discriminators, siedob, spectral_norm, spm  # noqa: F401  (each registers its twins)
from .twins import attach

__all__ = ['attach']
