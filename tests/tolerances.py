"""Tolerances derived from the computation's own rounding error, never from one machine's output.

Three kinds of comparison, each with its bound:

- ``assert_sums_close``: two float32 results of the same sums (a conv, a matmul) computed in
  different orders. Any order of summing n terms errs by at most γ_n·Σ|terms|, γ_n = n·u/(1 − n·u)
  with u = eps/2 (Higham, *Accuracy and Stability of Numerical Algorithms*, §3.1, §4.2), so two
  orders differ by at most 2·γ_n·Σ|terms|; Σ|terms| is the same computation on |inputs|.
- ``assert_float64_close``: two float64 runs of what should be the same function (the fast path
  against the reference). Rounding is 1.1e-16; even amplified 10⁵ times (the factor that tiny
  instance norms give gradients in float32 here) it stays below 1e-10 of the values' scale, while a
  wrong formula, index or window is off by ≥ 1e-4 of it.
- ``float32_tolerance``: for float32 results of a deep net, 16× the float32 reference's own error
  against float64 truth, measured in the same test on the same machine: whatever that machine's
  arithmetic, the fast path must be about as accurate as the reference (the factor covers a
  different summation order and the max of many errors; a real mismatch is 10³× larger).
"""
import torch
import torch.nn.functional as F

EPS32 = torch.finfo(torch.float32).eps
EPS64 = torch.finfo(torch.float64).eps


def gamma(n, eps=EPS32):
    """Higham's γ_n: the worst relative error of any order of summing n terms."""
    u = eps / 2
    return n * u / (1 - n * u)


def conv_magnitude(x, weight, bias=None, stride=1, padding=0):
    """Σ|terms| of each output of F.conv2d(x, weight, bias, stride, padding), and the number of
    terms per output (the bias counts as one)."""
    x, weight = x.detach(), weight.detach()
    bias = None if bias is None else bias.detach().abs().double()
    mag = F.conv2d(x.abs().double(), weight.abs().double(), bias, stride, padding)
    return mag, weight[0].numel() + (bias is not None)


def assert_sums_close(got, want, magnitude, n_terms, eps=EPS32):
    """|got − want| ≤ 2·γ_n·Σ|terms| element by element (see the module docstring)."""
    bound = 2 * gamma(n_terms, eps) * magnitude.detach()
    excess = (got.detach().double() - want.detach().double()).abs() - bound
    assert float(excess.max()) <= 0, f'off by more than the rounding bound: max excess {float(excess.max()):.3g}'


def assert_float64_close(got, want, scale=None, rel=1e-10):
    """float64 results of the same function: |got − want| ≤ rel·scale (scale: max |want| unless
    given, e.g. the scale of a whole net's gradients for a gradient whose true value is zero)."""
    assert got.dtype == want.dtype == torch.float64
    got, want = got.detach(), want.detach()
    scale = float(want.abs().max()) if scale is None else scale
    diff = float((got - want).abs().max())
    assert diff <= rel * scale, f'differ by {diff:.3g}, more than {rel:g} of the scale {scale:.3g}'


def assert_grads_float64_close(named_ref, fast_params, rel=1e-10):
    """Per tensor against its own scale, floored at 1e-3 of the largest gradient of the net: a
    gradient whose true value is zero (a bias before an instance norm) is float noise, compared
    with the scale of the gradients it was summed from."""
    named_ref = list(named_ref)
    top = max(float(p.grad.abs().max()) for _, p in named_ref)
    for (name, p), q in zip(named_ref, fast_params):
        scale = max(float(p.grad.abs().max()), 1e-3 * top)
        diff = float((q.grad - p.grad).abs().max())
        assert diff <= rel * scale, f'{name}: gradients differ by {diff:.3g}, more than {rel:g} of {scale:.3g}'


def float32_tolerance(reference32, reference64):
    """16× the float32 reference's max error against its float64 run, floored at 16 eps of the
    values' scale (a reference that happened to round exactly)."""
    err = float((reference32.double() - reference64).abs().max())
    return 16 * max(err, EPS32 * float(reference64.abs().max()))
