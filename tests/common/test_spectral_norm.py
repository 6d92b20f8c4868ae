"""Our spectral-norm hook against torch's: same state, same outputs, same gradients."""
import pytest
import torch
import torch.nn as nn

from semedit.models.networks.implementation import set_impl
from semedit.models.networks.fast.spectral_norm import eval_weight
from semedit.models.networks.spectral_norm import SpectralNormHook, spectral_norm
from tolerances import assert_float64_close

pytestmark = pytest.mark.numerics


def pair(seed=0):
    torch.manual_seed(seed)
    ours = spectral_norm(nn.Conv2d(6, 5, 3))
    torch.manual_seed(seed)
    theirs = nn.utils.spectral_norm(nn.Conv2d(6, 5, 3))
    return ours, theirs


def pair64(seed=0):
    """The same pair in float64: the two backward formulas then agree to float64 rounding
    (tolerances.py), whatever the machine's float32 summation order."""
    return tuple(m.double() for m in pair(seed))


def test_same_state_dict_keys_and_hook_class():
    ours, theirs = pair()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert any(isinstance(h, SpectralNormHook) for h in ours._forward_pre_hooks.values())


@pytest.mark.parametrize('layout', [torch.contiguous_format, torch.channels_last])
def test_fast_backward_equals_torch_over_several_steps(layout):
    """Also with NHWC weights (--channels_last), where a reshape of the gradient is a copy."""
    ours, theirs = pair64(1)
    set_impl(ours, 'fast')
    ours.to(memory_format=layout)
    x = torch.randn(2, 6, 9, 9, dtype=torch.float64).to(memory_format=layout)
    for _ in range(3):  # the power iteration runs once per forward: the buffers must follow
        for m in (ours, theirs):
            m.zero_grad()
            (m(x) * torch.linspace(-1, 1, 2 * 5 * 7 * 7, dtype=torch.float64).view(2, 5, 7, 7)).sum().backward()
        assert_float64_close(ours.weight_orig.grad, theirs.weight_orig.grad)
        assert_float64_close(ours.weight_u, theirs.weight_u)
        assert_float64_close(ours.weight_v, theirs.weight_v)
        with torch.no_grad():
            for m in (ours, theirs):
                m.weight_orig.add_(0.1 * m.weight_orig.grad)
    ours.eval()
    theirs.eval()
    assert_float64_close(ours(x), theirs(x))
    assert_float64_close(eval_weight(ours), theirs.weight)


def test_sigma_stays_float32_under_autocast():
    ours, _ = pair(2)
    x = torch.randn(1, 6, 8, 8)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        y = ours(x)
    assert y.dtype == torch.bfloat16  # the conv itself runs in the autocast dtype
    assert ours.weight.dtype == torch.float32 and ours.weight_u.dtype == torch.float32
