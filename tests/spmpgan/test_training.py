"""Training behaviour: tensors built by set_input, a tiny overfit, losses, VGG stand-in."""

import numpy as np
import pytest
import torch
import torchvision

from semedit.util.tensors import edge_map, image_to_tensor, one_hot, tensor_to_image
from semedit.models.networks.losses import VGGLoss, build_vgg19_features
from tolerances import gamma
from semedit.models.spmpgan_model import SPMPGANModel
from semedit.options import default_options
from semedit.util.errors import UserError


def make_opt(**kw):
    is_train = kw.pop('is_train', True)
    return default_options(is_train, **{'label_nc': 34, 'ngf': 4, 'ndf': 8, 'lambda_vgg': 0.0, **kw})


def toy_batch(seed=0):
    """A 256×256 scene: left half class 7 (purple-ish), right half class 23 (blue), one instance."""
    g = torch.Generator().manual_seed(seed)
    label = torch.full((1, 1, 256, 256), 7, dtype=torch.long)
    label[..., 128:] = 23
    image = torch.empty(1, 3, 256, 256)
    image[:, :, :, :128] = torch.tensor([0.5, -0.5, 0.2]).view(1, 3, 1, 1)
    image[:, :, :, 128:] = torch.tensor([0.8, 0.1, -0.6]).view(1, 3, 1, 1)
    image += 0.05 * torch.randn(image.shape, generator=g)
    instance = label.clone()
    instance[..., 40:80, 40:100] = 26000
    mask = torch.zeros(1, 1, 256, 256)
    mask[..., 64:192, 96:224] = 1
    return {'image': image.clamp(-1, 1), 'label': label, 'mask': mask, 'instance': instance}


def test_one_hot_and_edge_map():
    ids = torch.tensor([[[[1, 1, 2], [1, 1, 2], [3, 3, 3]]]])
    oh = one_hot(ids, 4)
    assert oh.shape == (1, 4, 3, 3) and torch.equal(oh.argmax(1, keepdim=True), ids)
    assert torch.equal(oh.sum(1), torch.ones(1, 3, 3))
    # 4-neighbour rule: both sides of every boundary are marked
    want = torch.tensor([[[[0, 1, 1], [1, 1, 1], [1, 1, 1]]]]).float()
    assert torch.equal(edge_map(ids), want)
    flat = torch.full((1, 1, 5, 5), 7)
    assert edge_map(flat).sum() == 0
    with pytest.raises(UserError, match='label id 40 but label_nc is 34'):
        one_hot(torch.tensor([[[[40]]]]), 34)


def test_image_tensor_round_trip_and_colour_order():
    rgb = np.random.RandomState(0).randint(0, 256, (8, 8, 3)).astype(np.uint8)
    t_bgr, t_rgb = image_to_tensor(rgb, 'bgr'), image_to_tensor(rgb, 'rgb')
    assert torch.equal(t_bgr, t_rgb.flip(0))
    assert t_rgb.min() >= -1 and t_rgb.max() <= 1
    for order, t in (('bgr', t_bgr), ('rgb', t_rgb)):
        back = tensor_to_image(t, order).astype(int)
        # upstream's tensor2im truncates, so float error can only ever lose one grey level
        assert np.all((rgb.astype(int) - back >= 0) & (rgb.astype(int) - back <= 1))


def test_set_input_builds_upstream_tensors():
    model = SPMPGANModel(make_opt(), torch.device('cpu')).setup()
    b = toy_batch()
    model.set_input(b)
    assert model.seg_edge.shape == (1, 35, 256, 256)
    m = b['mask']
    assert torch.equal(model.segmap, one_hot(b['label'], 34) * m)
    assert torch.equal(model.seg_edge[:, 34:], edge_map(b['instance']) * m)  # edges from the instance map
    assert torch.equal(model.masked, b['image'] * (1 - m))
    assert float(model.segmap[..., m[0, 0] == 0].abs().sum()) == 0
    # without an instance map the edges come from the label map (upstream test.py)
    b.pop('instance')
    model.set_input(b)
    assert torch.equal(model.seg_edge[:, 34:], edge_map(b['label']) * m)


def test_tiny_overfit_l1_falls():
    torch.manual_seed(0)
    model = SPMPGANModel(make_opt(lr=1e-3), torch.device('cpu')).setup()
    model.train()
    batch = toy_batch()
    l1 = []
    for _ in range(20):
        model.set_input(batch)
        model.optimize_parameters()
        l1.append(model.get_current_losses()['G_L1_3'])
    losses = model.get_current_losses()
    assert {'G', 'D', 'G_GAN_1', 'G_L1_2', 'D_real_3', 'D_fake_1'} <= set(losses)
    assert np.mean(l1[-3:]) < 0.75 * np.mean(l1[:3]), l1  # behaviour, not rounding: the overfit must progress


def test_d_step_then_g_step_against_updated_d():
    """As upstream's trainer: the D's are stepped before G's loss is computed, and G's step leaves D unchanged."""
    torch.manual_seed(0)
    model = SPMPGANModel(make_opt(), torch.device('cpu')).setup()
    model.train()
    d_nets = [model.netD_1, model.netD_2, model.netD_3]
    d_before = [[p.detach().clone() for p in d.parameters()] for d in d_nets]
    g_before = {k: v.clone() for k, v in model.netG.state_dict().items()}
    at_g_loss = {}
    compute_g_loss = model.compute_G_loss

    def watched_g_loss():  # what the D's hold when G's loss is computed
        at_g_loss['weights'] = [[p.detach().clone() for p in d.parameters()] for d in d_nets]
        at_g_loss['grads'] = [[p.grad.clone() for p in d.parameters()] for d in d_nets]
        return compute_g_loss()
    model.compute_G_loss = watched_g_loss
    model.set_input(toy_batch())
    model.optimize_parameters()
    assert not torch.equal(g_before['G3.enc1.conv2d.weight'], model.netG.state_dict()['G3.enc1.conv2d.weight'])
    for k, d in enumerate(d_nets):
        # G's loss is computed against the D's as their step left them ...
        assert all(not torch.equal(a, b) for a, b in zip(d_before[k], at_g_loss['weights'][k]))
        # ... and G's step changes neither their weights nor their gradients (nothing flows into them)
        assert all(torch.equal(a, p) for a, p in zip(at_g_loss['weights'][k], d.parameters()))
        assert all(torch.equal(g, p.grad) for g, p in zip(at_g_loss['grads'][k], d.parameters()))
    assert model.optimizer_D_1.param_groups[0]['lr'] == pytest.approx(4e-4)  # 1e-4 × 4 in float64: 1 ulp
    assert model.optimizer_G.param_groups[0]['lr'] == pytest.approx(1e-4)


@pytest.fixture(scope='module')
def vgg_standin():
    torch.manual_seed(1)
    return torchvision.models.vgg19(weights=None).features


@pytest.mark.numerics
def test_vgg_loss_with_standin(vgg_standin):
    loss = VGGLoss(vgg_standin)
    assert all(not p.requires_grad for p in loss.parameters())
    x = torch.rand(1, 3, 64, 64, requires_grad=True)
    y = torch.rand(1, 3, 64, 64)
    assert float(loss(y, y)) == 0
    val = loss(x, y)
    assert float(val.detach()) > 0
    val.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # the slices end at relu1_1 ... relu5_1 (layers 1, 6, 11, 20, 29)
    assert [type(s[-1]).__name__ for s in loss.slices] == ['ReLU'] * 5
    assert sum(len(s) for s in loss.slices) == 30
    # weights 1/32 ... 1: the weighted sum of per-slice L1 distances
    fx, fy = loss.features(x.detach()), loss.features(y)
    terms = [w * (a - b).abs().mean() for w, a, b in zip(VGGLoss.WEIGHTS, fx, fy)]
    # each term a mean of ≤ n non-negative float32 values, then five terms, summed in another order
    # (F.l1_loss's kernel against abs().mean()): ≤ 2·(γ_n + γ_5)·Σ terms (tolerances.py)
    n = max(f.numel() for f in fx)
    bound = 2 * (gamma(n) + gamma(5)) * float(sum(terms))
    assert abs(float(loss(x.detach(), y)) - float(sum(terms))) <= bound


def test_vgg_weights_file_loading(tmp_path, vgg_standin):
    missing = tmp_path / 'nope.pth'
    with pytest.raises(UserError, match='vgg19-dcbb9e9d.pth') as e:
        build_vgg19_features(str(missing))
    assert str(missing) in str(e.value) and '--lambda_vgg 0' in str(e.value)
    path = tmp_path / 'vgg.pth'
    torch.save({'features.' + k: v for k, v in vgg_standin.state_dict().items()}, path)
    loaded = build_vgg19_features(str(path))
    assert torch.equal(loaded[0].weight, vgg_standin[0].weight)
    bad = tmp_path / 'bad.pth'
    bad.write_bytes(b'not a checkpoint')
    with pytest.raises(UserError, match='cannot read VGG19 weights'):
        build_vgg19_features(str(bad))


@pytest.mark.numerics
def test_training_with_vgg_standin_logs_vgg_terms(vgg_standin):
    model = SPMPGANModel(make_opt(lambda_vgg=10.0), torch.device('cpu'), vgg_features=vgg_standin).setup()
    model.train()
    model.set_input(toy_batch())
    model.optimize_parameters()
    losses = model.get_current_losses()
    assert all(losses[f'G_VGG_{k}'] > 0 for k in (1, 2, 3))
    total = sum(losses[f'G_{t}_{k}'] for t in ('GAN', 'L1', 'VGG') for k in (1, 2, 3))
    # nine float32 terms (some negative) summed in another order: ≤ 2·γ_9·Σ|terms| (tolerances.py)
    magnitude = sum(abs(losses[f'G_{t}_{k}']) for t in ('GAN', 'L1', 'VGG') for k in (1, 2, 3))
    assert abs(losses['G'] - total) <= 2 * gamma(9) * magnitude


def test_wrong_image_size_is_a_clear_error():
    model = SPMPGANModel(make_opt(is_train=False), torch.device('cpu')).setup()
    b = toy_batch()
    b = {k: v[..., :200] for k, v in b.items()}
    with pytest.raises(UserError, match='multiples of 128'):
        model.set_input(b)


@pytest.mark.parametrize('amp', ['bf16', 'fp16'])
def test_mixed_precision_training_step(amp):
    """--amp runs the whole step under autocast (here on the CPU, which supports both dtypes):
    finite losses that move like float32's, fp16 through the loss scaler, saved for resuming."""
    batch = toy_batch()
    losses = {}
    for mode in ('none', amp):
        torch.manual_seed(0)
        model = SPMPGANModel(make_opt(amp=mode), torch.device('cpu')).setup()
        model.train()
        for _ in range(2):
            model.set_input(batch)
            model.optimize_parameters()
        losses[mode] = model.get_current_losses()
        assert model.out['fake'][-1].dtype == (torch.float32 if mode == 'none' else model.runtime.amp_dtype)
        assert model.netG.G3.dec2.gated_conv2d.conv2d.weight_u.dtype == torch.float32
    for k in ('G_L1_1', 'G_L1_3', 'D'):
        assert np.isfinite(losses[amp][k])
        # half precision rounds to 2^-8 (bf16) / 2^-11 (fp16) per operation, through ~100 layers
        # and two optimiser steps: losses move like float32's, not equal to them (10 %, 0.05)
        assert losses[amp][k] == pytest.approx(losses['none'][k], rel=0.1, abs=0.05), k
    state = model.checkpoint_state(0, 2, 2)
    if amp == 'fp16':
        assert state['scaler']['scale'] > 0
        other = SPMPGANModel(make_opt(amp='fp16'), torch.device('cpu')).setup()
        other.load_checkpoint_state(state, 'ckpt', load_optimizers=True)
        assert other.runtime.scaler.get_scale() == model.runtime.scaler.get_scale()
    visuals = model.get_current_visuals()
    assert all(v.dtype in (torch.float32, torch.int64) for v in visuals.values())


def test_graph_warmup_rollback_restores_nets_and_optimisers():
    """--cuda_graph warms up with real steps before capturing; rolling them back in place must
    leave parameters, buffers (spectral-norm u, v) and Adam state as before (fresh state: zeros)."""
    from semedit.util.cuda_graph import GraphedTrainingStep
    model = SPMPGANModel(make_opt(), torch.device('cpu')).setup()
    model.train()
    model.set_input(toy_batch())
    for fresh in (True, False):  # first with empty Adam state, then with state from a real step
        graphed = GraphedTrainingStep(model, model.optimize_parameters, model.graph_inputs)
        before = {k: v.clone() for n, net in model.nets().items() for k, v in
                  ((f'{n}.{k}', v) for k, v in net.state_dict().items())}
        adam_before = {p: {k: v.clone() for k, v in st.items()} for p, st in model.optimizer_G.state.items()}
        saved = graphed.snapshot()
        for _ in range(2):
            model.optimize_parameters()
        after_steps = model.netG.G3.dec2.gated_conv2d.conv2d.weight_u.clone()
        graphed.restore(saved)
        now = {f'{n}.{k}': v for n, net in model.nets().items() for k, v in net.state_dict().items()}
        assert not torch.equal(after_steps, before['netG.G3.dec2.gated_conv2d.conv2d.weight_u'])
        for k, v in before.items():
            assert torch.equal(now[k], v), k
        for p, st in model.optimizer_G.state.items():
            for k, v in st.items():
                want = adam_before[p][k] if not fresh else torch.zeros_like(v)
                assert torch.equal(v, want), k
        model.optimize_parameters()  # a real step: the second round starts from non-empty state
