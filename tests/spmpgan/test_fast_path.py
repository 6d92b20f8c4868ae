"""The fast implementation (models/networks/fast: fused convs, windowed semantic branch, cached
eval weights) against the reference (the paper, module by module) on the same weights."""
import pytest
import torch
import torch.nn.functional as F

from semedit.models.networks.blocks import SPMBlock
from semedit.models.networks.implementation import set_impl
from semedit.models.networks.fast.kernels import conv2d, instance_norm, nearest_downsample
from semedit.models.networks.fast.windows import (PasteOnBorderField, SemanticMaps, coarse_box, windowed_prefix_conv,
                                          windowed_semantic_branch)
from semedit.models.networks.init import init_weights
from semedit.models.networks.spmpgan import ProgressiveGenerator
from tolerances import (assert_float64_close, assert_grads_float64_close, assert_sums_close, conv_magnitude,
                        float32_tolerance)

pytestmark = pytest.mark.numerics

L = 34
F64 = torch.float64


def full_branch(s, w1, b1, w2, b2):
    return F.conv2d(F.relu(F.conv2d(s, w1, b1, padding=1)), w2, b2, padding=1)


@pytest.mark.parametrize('box', [(10, 20, 12, 30), (0, 5, 0, 7), (25, 32, 20, 40), (3, 4, 39, 40), (0, 32, 0, 40)])
def test_windowed_semantic_branch_equals_full(box):
    torch.manual_seed(0)
    n, c, h, w = 2, 6, 32, 40
    s = torch.zeros(n, c, h, w, dtype=F64)
    y0, y1, x0, x1 = box
    s[:, :, y0:y1, x0:x1] = torch.rand(n, c, y1 - y0, x1 - x0)
    s[1, :, y0:y1, x0:x1] *= (torch.rand(1, y1 - y0, x1 - x0) > 0.5)  # the second sample edits less
    w1, b1, w2, b2 = (torch.randn(*shape, dtype=F64) for shape in ((8, c, 3, 3), (8,), (12, 8, 3, 3), (12,)))
    sem = SemanticMaps(s)
    got = windowed_semantic_branch(s, sem.nonzero_box((h, w)), w1, b1, w2, b2)
    assert_float64_close(got, full_branch(s, w1, b1, w2, b2))  # the same function: float64 rounding only


@pytest.mark.parametrize('box', [(3, 6, 4, 8), (0, 2, 0, 3), (5, 8, 6, 9), (0, 8, 4, 6)])
def test_paste_on_border_field_gradients(box):
    """The hand-written backward (region sums outside the window) against numerical gradients."""
    torch.manual_seed(7)
    y0, y1, x0, x1 = box
    k = torch.randn(1, 2, 3, 3, dtype=torch.double, requires_grad=True)
    win = torch.randn(2, 2, y1 - y0, x1 - x0, dtype=torch.double, requires_grad=True)
    # gradcheck's float64 finite differences (its own tolerances: eps 1e-6, atol 1e-5, rtol 1e-3)
    assert torch.autograd.gradcheck(lambda a, b: PasteOnBorderField.apply(a, b, (8, 9), box), (k, win))


def test_windowed_semantic_branch_weight_gradients_equal_full():
    torch.manual_seed(8)
    s = torch.zeros(2, 5, 20, 24, dtype=F64)
    s[:, :, 6:11, 15:24] = torch.rand(2, 5, 5, 9)
    params = [torch.randn(*shape, dtype=F64) for shape in ((7, 5, 3, 3), (7,), (9, 7, 3, 3), (9,))]
    grads = []
    for fn in (full_branch, lambda *a: windowed_semantic_branch(a[0], SemanticMaps(s).nonzero_box((20, 24)), *a[1:])):
        ps = [p.clone().requires_grad_() for p in params]
        out = fn(s, *ps)
        (out * torch.linspace(-1, 2, out.numel(), dtype=F64).view_as(out)).sum().backward()
        grads.append([p.grad for p in ps])
    for a, b in zip(*grads):
        assert_float64_close(b, a)  # the same function: float64 rounding only


def test_windowed_semantic_branch_empty_mask_and_tiny_maps():
    torch.manual_seed(1)
    w1, b1, w2, b2 = (torch.randn(*shape, dtype=F64) for shape in ((8, 4, 3, 3), (8,), (12, 8, 3, 3), (12,)))
    for shape in ((1, 4, 16, 16), (1, 4, 3, 5), (1, 4, 2, 2)):
        s = torch.zeros(shape, dtype=F64)
        got = windowed_semantic_branch(s, None, w1, b1, w2, b2)
        assert_float64_close(got, full_branch(s, w1, b1, w2, b2))  # the same function: float64 rounding only


def test_nonzero_box_is_the_union_over_the_batch():
    s = torch.zeros(2, 3, 16, 16)
    s[0, -1, 2:5, 3:4] = 1
    s[1, -1, 10:12, 8:15] = 1
    assert SemanticMaps(s).nonzero_box((16, 16)) == (2, 12, 3, 15)
    assert SemanticMaps(torch.zeros(1, 3, 8, 8)).nonzero_box((8, 8)) is None


def inputs(mask_kind, n=1, dtype=torch.float32):
    torch.manual_seed(2)
    gt = torch.rand(n, 3, 256, 256) * 2 - 1
    m = torch.zeros(n, 1, 256, 256)
    if mask_kind == 'box':
        m[..., 90:170, 60:170] = 1
    elif mask_kind == 'half':
        m[..., 128:] = 1
    elif mask_kind == 'corner':
        m[..., :40, 200:] = 1
    label = torch.full((n, 1, 256, 256), 7)
    label[..., :100, :] = 23
    label[..., 120:160, 80:150] = 26
    seg = torch.zeros(n, L, 256, 256).scatter_(1, label, 1.0)
    edge = torch.zeros(n, 1, 256, 256)
    edge[..., 119:121, :] = 1
    return tuple(t.to(dtype) for t in (gt, gt * (1 - m), torch.cat([seg, edge], 1) * m, m))


def reference_in_float64(net, args, key='composite', **kwargs):
    """The reference forward of a float64 copy of ``net`` on float64 ``args``: the truth that the
    float32 runs' rounding errors are measured against."""
    import copy
    net64 = set_impl(copy.deepcopy(net).double(), 'reference')
    with torch.no_grad():
        return net64(*[a.double() for a in args], **kwargs)[key]


@pytest.mark.parametrize('mask_kind', ['box', 'half', 'corner', 'empty'])
def test_generator_fast_equals_reference_eval(mask_kind):
    torch.manual_seed(3)
    g = init_weights(ProgressiveGenerator(L, ngf=4)).eval()
    args = inputs(mask_kind)
    with torch.no_grad():
        set_impl(g, 'reference')
        ref = g(*args)
        set_impl(g, 'fast')
        fast = g(*args)
        fast_again = g(*args)  # second call uses the cached fused / folded weights
    for k in ('composite', 'fake'):
        for a, b, truth in zip(ref[k], fast[k], reference_in_float64(g, args, k)):
            # as accurate as the float32 reference (tolerances.py)
            torch.testing.assert_close(b, a, rtol=0, atol=float32_tolerance(a, truth))
    for a, b in zip(fast['composite'], fast_again['composite']):
        assert torch.equal(a, b)


def test_generator_fast_equals_reference_training_gradients():
    """Train mode: same outputs and same parameter gradients (autograd through the window)."""
    torch.manual_seed(4)
    # float64: the 2×2 instance norms amplify float32 reordering to ~1 % of some gradients, and a
    # bias before an instance norm has a true gradient of zero (its float32 value is pure noise)
    ref_net = init_weights(ProgressiveGenerator(L, ngf=4)).train().double()
    fast_net = ProgressiveGenerator(L, ngf=4).train().double()
    fast_net.load_state_dict(ref_net.state_dict())
    set_impl(ref_net, 'reference')
    set_impl(fast_net, 'fast')  # the spectral norms' one-pass backward too
    args = inputs('box', n=2, dtype=F64)
    losses = []
    for net in (ref_net, fast_net):
        out = net(*args)
        loss = sum((f - g).abs().mean() for f, g in zip(out['fake'], out['gt'])) + out['composite'][2].square().mean()
        loss.backward()
        losses.append(loss)
    assert_float64_close(losses[1], losses[0])
    assert_grads_float64_close(ref_net.named_parameters(), fast_net.parameters())


@pytest.mark.parametrize('n', [1, 2])
@pytest.mark.parametrize('mask_kind', ['box', 'corner', 'half', 'empty'])
def test_final_only_inference_gives_the_same_edit(mask_kind, n, two_threads):
    """final_only computes the last decoder block and the output layer only where the result is
    read: same composite (batch 1 also takes fast.kernels.conv2d's oneDNN route for small maps)."""
    torch.manual_seed(6)
    g = init_weights(ProgressiveGenerator(L, ngf=4)).eval()
    args = inputs(mask_kind, n=n)
    with torch.no_grad():
        set_impl(g, 'reference')
        ref = g(*args)['composite'][-1]
        set_impl(g, 'fast')
        fast = g(*args, final_only=True)['composite'][-1]
    truth = reference_in_float64(g, args)[-1]
    torch.testing.assert_close(fast, ref, rtol=0, atol=float32_tolerance(ref, truth))  # tolerances.py


def test_nearest_downsample_matches_interpolate():
    x = torch.rand(1, 5, 64, 96)
    for size in ((32, 48), (8, 12), (2, 3), (48, 64)):
        assert torch.equal(nearest_downsample(x, size), F.interpolate(x, size=size, mode='nearest'))


def test_inference_cache_follows_weight_changes():
    torch.manual_seed(5)
    blk = SPMBlock(3, 4, 6, sn=True, hidden=5).eval().double()
    x = torch.randn(1, 3, 16, 16, dtype=F64)
    s = torch.zeros(1, 6, 16, 16, dtype=F64)
    s[..., 4:9, 4:9] = 1
    with torch.no_grad():
        a = blk(x, s)
        blk.mlp_gamma_ctx_beta.weight.add_(0.5)  # in-place: nothing cached from the old weights
        blk.conv2d.weight_orig.mul_(2.0)
        b = blk(x, s)
        set_impl(blk, 'reference')
        c = blk(x, s)
    assert float((a - b).abs().max()) > 1e-3 * float(c.abs().max())  # the change shows
    assert_float64_close(b, c)  # the same function: float64 rounding only


def test_coarse_box_contains_the_box_and_gives_the_same_numbers():
    h, w = 32, 40
    sizes = set()
    for box in [(10, 20, 12, 30), (0, 5, 0, 7), (25, 32, 20, 40), (3, 4, 39, 40), (0, 32, 0, 40)]:
        c = coarse_box(box, (h, w))
        assert c[0] <= box[0] and c[1] >= box[1] and c[2] <= box[2] and c[3] >= box[3]
        assert 0 <= c[0] < c[1] <= h and 0 <= c[2] < c[3] <= w
        assert (c[1] - c[0]) % 4 == 0 and (c[3] - c[2]) % 5 == 0  # multiples of a side / 8
        sizes.add((c[1] - c[0], c[3] - c[2]))
        torch.manual_seed(0)
        s = torch.zeros(1, 4, h, w, dtype=F64)
        s[:, :, box[0]:box[1], box[2]:box[3]] = torch.rand(1, 4, box[1] - box[0], box[3] - box[2])
        w1, b1, w2, b2 = (torch.randn(*shape, dtype=F64) for shape in ((6, 4, 3, 3), (6,), (5, 6, 3, 3), (5,)))
        # the same function: float64 rounding only
        assert_float64_close(windowed_semantic_branch(s, c, w1, b1, w2, b2), full_branch(s, w1, b1, w2, b2))
    assert len(sizes) <= 5


def test_fast_path_without_window_equals_reference():
    torch.manual_seed(9)
    g = init_weights(ProgressiveGenerator(L, ngf=4)).eval()
    args = inputs('box')
    with torch.no_grad():
        set_impl(g, 'reference')
        ref = g(*args)['composite'][-1]
        set_impl(g, 'fast', semantic_window=False)
        assert not g.G2.enc3.semantic_window
        fast = g(*args, final_only=True)['composite'][-1]
    truth = reference_in_float64(g, args)[-1]
    torch.testing.assert_close(fast, ref, rtol=0, atol=float32_tolerance(ref, truth))  # tolerances.py


@pytest.mark.parametrize('box', [(10, 20, 12, 30), (0, 3, 0, 2), (29, 33, 37, 41), (0, 33, 0, 41), (16, 17, 5, 6), None])
@pytest.mark.parametrize('stride', [1, 2])
def test_windowed_prefix_conv_equals_concatenated_conv(box, stride):
    """The D's first layer: the label channels convolved only around the edit, edges included."""
    torch.manual_seed(9)
    prefix = torch.zeros(2, 4, 33, 41, dtype=F64)
    if box is not None:
        y0, y1, x0, x1 = box
        prefix[0, :, y0:y1, x0:x1] = torch.rand(4, y1 - y0, x1 - x0)
        prefix[1, :, y0, x0] = 1  # the second sample edits one pixel of the box
    x, weight = torch.randn(2, 3, 33, 41, dtype=F64), torch.randn(6, 7, 5, 5, dtype=F64)
    want = F.conv2d(F.pad(torch.cat([prefix, x], 1), (2,) * 4, mode='replicate'), weight, None, stride)
    got = windowed_prefix_conv(prefix, x, weight, stride, 2)
    assert_float64_close(got, want)  # the same function: float64 rounding only


def test_discriminator_fast_equals_reference_in_training():
    """Same scores, same weight and image gradients, same spectral-norm state after a step."""
    from semedit.models.networks.discriminators import SNPatchDiscriminator
    torch.manual_seed(10)
    # float64: a power-iteration vector's small elements carry float32 noise of ~1e-5 of their own
    nets = [init_weights(SNPatchDiscriminator(L + 3, 4, ndf=8)).train().double() for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    set_impl(nets[0], 'reference')
    gt, _, seg_edge, m = inputs('corner', n=2, dtype=F64)
    labels = seg_edge[:, :L]
    results = []
    for net in nets:
        img = gt.clone().requires_grad_()
        scores = net(img, labels)
        (scores * torch.linspace(-1, 1, scores.numel(), dtype=F64).view_as(scores)).sum().backward()
        results.append((scores, img.grad, [p.grad for p in net.parameters()], list(net.buffers())))
    (s0, g0, p0, b0), (s1, g1, p1, b1) = results
    # the same function: float64 rounding only (tolerances.py)
    assert_float64_close(s1, s0)
    assert_float64_close(g1, g0)
    for a, b in zip(p0 + b0, p1 + b1):
        assert_float64_close(b, a)
    # the whole-input call is upstream's layout
    assert_float64_close(nets[1](torch.cat([labels, gt], 1)), nets[0](gt, labels))


def test_instance_norm_keeps_nhwc_and_equals_torch():
    torch.manual_seed(11)
    x = (torch.randn(2, 8, 13, 17) * 3 + torch.randn(2, 8, 1, 1) * 20).double()
    g = torch.randn_like(x)
    ref_in = x.clone().requires_grad_()
    ref = F.instance_norm(ref_in, eps=1e-5)
    ref.backward(g)
    nhwc = x.to(memory_format=torch.channels_last).requires_grad_()
    y = instance_norm(nhwc)
    y.backward(g)
    assert y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous()
    # the same function: float64 rounding only (tolerances.py)
    assert_float64_close(y, ref)
    assert_float64_close(nhwc.grad, ref_in.grad)
    xd = x[:1, :3, :5, :6].double().to(memory_format=torch.channels_last).requires_grad_()
    assert torch.autograd.gradcheck(instance_norm, (xd,))


def nhwc(t):
    return t.to(memory_format=torch.channels_last)


def test_channels_last_training_equals_reference():
    """--channels_last: the fast generator and D's (NHWC weights and activations) give the
    reference's outputs and gradients, spectral norms included."""
    from semedit.models.networks.discriminators import SNPatchDiscriminator
    torch.manual_seed(12)
    # float64, for the reasons given in test_generator_fast_equals_reference_training_gradients
    ref_g = init_weights(ProgressiveGenerator(L, ngf=4)).train().double()
    ref_d = init_weights(SNPatchDiscriminator(L + 3, 4, ndf=8)).train().double()
    fast_g = ProgressiveGenerator(L, ngf=4).train().double()
    fast_d = SNPatchDiscriminator(L + 3, 4, ndf=8).train().double()
    fast_g.load_state_dict(ref_g.state_dict())
    fast_d.load_state_dict(ref_d.state_dict())
    set_impl(ref_g, 'reference')
    set_impl(ref_d, 'reference')
    set_impl(fast_g, 'fast')  # the spectral norms' one-pass backward too
    set_impl(fast_d, 'fast')
    fast_g.to(memory_format=torch.channels_last)
    fast_d.to(memory_format=torch.channels_last)
    args = inputs('box', n=2, dtype=F64)
    losses = []
    for g, d, layout in ((ref_g, ref_d, lambda t: t), (fast_g, fast_d, nhwc)):
        out = g(*[layout(a) for a in args])
        score = d(out['composite'][2], layout(args[2][:, :L]))
        loss = sum((f - t).abs().mean() for f, t in zip(out['fake'], out['gt'])) + score.mean()
        loss.backward()
        losses.append(loss)
    assert fast_g.G3.dec2.gated_conv2d.conv2d.weight_orig.grad.is_contiguous(memory_format=torch.channels_last)
    assert_float64_close(losses[1], losses[0])
    assert_grads_float64_close(list(ref_g.named_parameters()) + list(ref_d.named_parameters()),
                               list(fast_g.parameters()) + list(fast_d.parameters()))


def test_channels_last_edit_never_mixes_layouts():
    """test.py's edit with --channels_last: every activation stays NHWC, crops and strided views
    included: no op reads or writes a channels-outer (NCHW-like) map next to a channels-inner one
    (each such mix is a layout copy, or a slow strided kernel)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from semedit.models.spmpgan_model import SPMPGANModel

    def layout(t):  # which of C and W is stored closer together; None where it is moot
        if not isinstance(t, torch.Tensor) or t.dim() != 4 or t.shape[1] == 1 or t.shape[-1] == 1 \
                or t.shape[-2] * t.shape[-1] <= 9 or 0 in t.stride()[1:]:  # broadcast: no layout
            return None
        return 'nhwc' if t.stride(1) < t.stride(3) else 'nchw'

    mixed = []

    class Watch(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            flat = [t for a in args for t in (a if isinstance(a, (list, tuple)) else [a])]
            seen = {layout(t) for t in flat + [out]} - {None}
            if len(seen) > 1:
                mixed.append(str(func))
            return out

    for window in ('on', 'off'):
        from semedit.options import default_options
        opt = default_options(False, label_nc=L, ngf=4, ndf=8, semantic_window=window, channels_last=True)
        model = SPMPGANModel(opt, torch.device('cpu')).setup()
        gt, _, _, m = inputs('box')
        label = torch.full((1, 1, 256, 256), 7)
        label[..., :100, :] = 23
        with torch.inference_mode():
            model.set_input({'image': gt, 'label': label, 'mask': m})  # the NCHW → NHWC conversion itself
            with Watch():
                out = model.netG(model.image, model.masked, model.seg_edge, model.mask, final_only=True)
        assert out['composite'][-1].is_contiguous(memory_format=torch.channels_last)
        assert not mixed, (window, sorted(set(mixed)))


def _dispatched_ops(fn):
    from torch.utils._python_dispatch import TorchDispatchMode
    seen = []

    class Watch(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.append(func.overloadpacket.__name__)
            return func(*args, **(kwargs or {}))
    with Watch():
        out = fn()
    return out, seen


def _routing_case(case):
    torch.manual_seed(11)
    x = torch.randn(1, 24, 14, 18)
    w, b = torch.randn(40, 24, 3, 3), torch.randn(40)
    stride, padding = (2, 0) if case == 'stride2' else (1, 1)
    if case == 'crop':
        x = torch.randn(1, 24, 30, 30)[:, :, 3:17, 5:23]
    if case == 'nhwc':
        x, w = x.contiguous(memory_format=torch.channels_last), w.contiguous(memory_format=torch.channels_last)
    if case == 'no_bias':
        b = None
    return x, w, b, stride, padding


CASES = ['pad1', 'stride2', 'crop', 'nhwc', 'no_bias']


@pytest.mark.parametrize('case', CASES)
def test_small_conv_routing_equals_conv2d(case, two_threads):
    """fast.kernels.conv2d (small batch-1 inference convs on a multi-threaded CPU go to oneDNN):
    the same numbers as F.conv2d for strides, paddings, strided views and NHWC inputs, in the
    input's layout."""
    x, w, b, stride, padding = _routing_case(case)
    with torch.inference_mode():
        got = conv2d(x, w, b, stride, padding)
        want = F.conv2d(x, w, b, stride, padding)
    # float32: two summation orders of the same terms (tolerances.py)
    assert_sums_close(got, want, *conv_magnitude(x, w, b, stride, padding))
    if case == 'nhwc':
        assert got.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.perf
@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason='PyTorch built without oneDNN')
@pytest.mark.parametrize('case', CASES)
def test_small_conv_routing_takes_onednn_only_where_it_pays(case, two_threads):
    """Which kernel runs (a speed property, not a result): oneDNN for the small batch-1 inference
    convs; autograd, batches and large inputs stay on F.conv2d."""
    x, w, b, stride, padding = _routing_case(case)
    with torch.inference_mode():
        _, ops = _dispatched_ops(lambda: conv2d(x, w, b, stride, padding))
    assert 'mkldnn_convolution' in ops
    for grad, xx in ((True, x), (False, torch.cat([x, x])), (False, torch.randn(1, 24, 40, 40))):
        with torch.set_grad_enabled(grad):
            _, ops = _dispatched_ops(lambda: conv2d(xx, w, b, stride, padding))
        assert 'mkldnn_convolution' not in ops, (grad, tuple(xx.shape))
