"""Metrics and the evaluation pipeline, with random stand-in networks placed where pytorch-fid and
torchvision look for their downloads (never the network).

FID values are checked against the Fréchet distance written out here in numpy, on the two sets of
features the distance must compare (the edited images and the real ones, in the channel order
--fid_color_order gives Inception). Where the point is the pipeline, a tiny Inception stand-in gives
six colour statistics per image (a 6×6 matrix square root); the real 2048-d stand-in runs once, in
the scripts/eval_fid.sh journey."""
import json
import os
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import train as train_script
from fid_oracle import as_seen, assert_seen, colour_statistics, frechet, read_rgb, use_tiny_inception
from helpers import CPU, ROOT, NothingWritten, error_line, run
from semedit.util.errors import UserError
from standins import write_metric_stand_ins
from semedit.util.metrics import FID, LPIPS, masked_metrics, ssim_map


@pytest.fixture(scope='module')
def torch_home(tmp_path_factory):
    """A TORCH_HOME whose hub cache holds stand-in Inception and AlexNet files."""
    home = tmp_path_factory.mktemp('torch_home')
    write_metric_stand_ins(str(home / 'hub' / 'checkpoints'))
    old = os.environ.get('TORCH_HOME')
    os.environ['TORCH_HOME'] = str(home)
    yield home
    if old is None:
        os.environ.pop('TORCH_HOME')
    else:
        os.environ['TORCH_HOME'] = old


def images(n=8, seed=0, shift=0):
    rng = np.random.RandomState(seed)
    out = []
    for k in range(n):
        base = rng.randint(0, 200, (3,))
        im = np.clip(base + rng.randint(-40, 40, (64, 80, 3)) + shift, 0, 255).astype(np.uint8)
        out.append(im)
    return out


@pytest.fixture
def tiny_inception(monkeypatch):
    return use_tiny_inception(monkeypatch)


def test_fid_is_the_frechet_distance_in_the_colour_order_asked(tiny_inception):
    """FID.distance(a, b): the Fréchet distance of a's and b's features, Inception seeing BGR for
    'bgr' (upstream, the paper's numbers) and RGB for 'rgb'; the two orders give different numbers."""
    a, b = images(12, seed=0), images(12, seed=1, shift=30)
    got = {}
    for order in ('bgr', 'rgb'):
        tiny_inception.seen.clear()
        got[order] = FID(CPU, color_order=order).distance(a, b)
        assert_seen(tiny_inception, as_seen(a, order) + as_seen(b, order))
        want, bound = frechet(colour_statistics(as_seen(a, order)), colour_statistics(as_seen(b, order)))
        assert abs(got[order] - want) <= bound, (order, got[order], want, bound)
        assert want > 1e3 * bound  # far from 0, the distance of a set to itself
    assert abs(got['bgr'] - got['rgb']) > 1e3 * bound


def test_eval_metrics_compare_the_edited_set_with_the_real_one(tiny_inception, tmp_path):
    """engine.evaluation.compute_metrics: FID between the edited images and the real ones (each read
    from its file), not either set with itself nor with the label maps beside them."""
    from semedit.engine.evaluation import compute_metrics
    reals, fakes = images(10, seed=2), images(10, seed=3, shift=20)
    labels = [np.full((64, 80), 7 + k, np.uint8) for k in range(10)]
    mask = np.zeros((64, 80), np.uint8)
    mask[10:40, 20:60] = 255
    pairs = []
    for k in range(10):
        paths = [str(tmp_path / f'{what}_{k}.png') for what in ('edited', 'real', 'mask', 'label')]
        for path, array in zip(paths, (fakes[k], reals[k], mask, labels[k])):
            Image.fromarray(array).save(path)
        pairs.append(tuple(paths))
    result = compute_metrics(pairs, (FID(CPU), None), label_nc=34)
    features = {name: colour_statistics(as_seen(s, 'bgr')) for name, s in
                (('real', reals), ('edited', fakes), ('label', [np.repeat(x[..., None], 3, 2) for x in labels]))}
    want, bound = frechet(features['real'], features['edited'])
    assert abs(result['fid'] - want) <= bound, (result['fid'], want, bound)
    for wrong in (('edited', 'edited'), ('real', 'real'), ('label', 'edited'), ('real', 'label')):
        assert abs(result['fid'] - frechet(*(features[w] for w in wrong))[0]) > 1e3 * bound, wrong


def test_fid_and_lpips_missing_weights_are_named(tmp_path):
    with pytest.raises(UserError) as e:
        FID(torch.device('cpu'), weights_path=str(tmp_path / 'nope.pth'))
    assert 'nope.pth' in str(e.value) and 'pt_inception-2015-12-05-6726825d.pth' in str(e.value)
    with pytest.raises(UserError) as e:
        LPIPS(torch.device('cpu'), backbone_path=str(tmp_path / 'alex.pth'))
    assert 'alex.pth' in str(e.value) and 'alexnet-owt-7be5be79.pth' in str(e.value)
    bad = tmp_path / 'bad.pth'
    bad.write_bytes(b'garbage')
    with pytest.raises(UserError, match='cannot read'):
        FID(torch.device('cpu'), weights_path=str(bad))


def test_lpips_from_hub_cache(torch_home):
    lp = LPIPS(torch.device('cpu'))
    a, b = images(2), images(2, seed=3)
    assert lp(a[0], a[0]) == pytest.approx(0, abs=1e-6)  # identical features: differences are exactly 0
    assert lp(a[0], b[1]) > 0


def test_masked_metrics_values():
    rng = np.random.RandomState(0)
    target = rng.randint(0, 256, (32, 32, 3)).astype(np.uint8)
    mask = np.zeros((32, 32), np.float32)
    mask[8:24, 8:24] = 1
    same = masked_metrics(target, target, mask)
    # identical images: SSIM's numerator and denominator are the same float64 products (1 to rounding)
    assert same['l1'] == 0 and same['psnr'] == float('inf') and same['ssim'] == pytest.approx(1.0)
    out = target.copy()
    out[mask > 0] = np.clip(out[mask > 0].astype(int) + 10, 0, 255)
    m = masked_metrics(out, target, mask)
    diff = (out.astype(float) - target)[mask > 0] / 255
    # the same float64 mean of ≤ 768 values in another order: relative 1e-6 (pytest's default) ≫ γ_768
    assert m['l1'] == pytest.approx(np.abs(diff).mean())
    assert m['psnr'] == pytest.approx(10 * np.log10(1 / (diff ** 2).mean()))
    assert m['ssim'] < 1
    # pixels outside the mask do not count
    out2 = out.copy()
    out2[mask == 0] = 0
    assert masked_metrics(out2, target, mask)['l1'] == pytest.approx(m['l1'])
    assert np.isnan(masked_metrics(out, target, np.zeros((32, 32)))['l1'])
    s = ssim_map(target / 255.0, target / 255.0)
    assert s.shape == (32, 32) and np.array_equal(s, np.ones((32, 32)))


def sample_pairs(n=20, size=(40, 48), seed=1):
    """(output, target, mask) uint8 pairs: correlated images, a random box mask each."""
    rng = np.random.RandomState(seed)
    for _ in range(n):
        target = rng.randint(0, 256, size + (3,)).astype(np.uint8)
        noise = rng.randint(-60, 61, size + (3,))
        output = np.clip(target.astype(int) + noise, 0, 255).astype(np.uint8)
        mask = np.zeros(size, np.float32)
        y, x = rng.randint(0, size[0] - 12), rng.randint(0, size[1] - 12)
        mask[y:y + rng.randint(6, 13), x:x + rng.randint(6, 13)] = 1
        yield output, target, mask


def gaussian_ssim_reference(a, b):
    """SSIM map written out here (Wang et al. 2004, 11×11 Gaussian σ 1.5, population covariances,
    edges repeated as scipy's 'reflect'), independent of scikit-image, to pin its border handling."""
    x = np.arange(11) - 5
    g = np.exp(-x ** 2 / (2 * 1.5 ** 2))
    g /= g.sum()

    def filt(t):  # separable, symmetric padding (the edge pixel repeated)
        p = np.pad(t, ((5, 5), (5, 5)), mode='symmetric')
        p = sum(g[i] * p[i:i + t.shape[0]] for i in range(11))
        return sum(g[j] * p[:, j:j + t.shape[1]] for j in range(11))
    maps = []
    for c in range(3):
        u, v = a[..., c], b[..., c]
        mu_u, mu_v = filt(u), filt(v)
        var_u, var_v, cov = filt(u * u) - mu_u ** 2, filt(v * v) - mu_v ** 2, filt(u * v) - mu_u * mu_v
        c1, c2 = 0.01 ** 2, 0.03 ** 2
        maps.append((2 * mu_u * mu_v + c1) * (2 * cov + c2) / ((mu_u ** 2 + mu_v ** 2 + c1) * (var_u + var_v + c2)))
    return np.mean(maps, 0)


@pytest.mark.numerics
def test_masked_ssim_and_psnr_are_the_librarys():
    """On 20 sample pairs: the numbers are scikit-image's own, to 1e-6 (float64 throughout; the
    differences left are summation order, ~1e-15)."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    for output, target, mask in sample_pairs():
        a, b = output / 255.0, target / 255.0
        m = masked_metrics(output, target, mask)
        # PSNR of the whole image (uint8, range 255) with a full mask; the masked one on the region
        full = masked_metrics(output, target, np.ones_like(mask))
        assert abs(full['psnr'] - peak_signal_noise_ratio(target, output, data_range=255)) <= 1e-6
        region = mask > 0.5
        assert abs(m['psnr'] - peak_signal_noise_ratio(b[region], a[region], data_range=1.0)) <= 1e-6
        # SSIM: the library's mean SSIM is over the image less a 5-pixel border (its window's half)
        interior = np.zeros_like(mask)
        interior[5:-5, 5:-5] = 1
        mssim = structural_similarity(a, b, channel_axis=2, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False)
        assert abs(masked_metrics(output, target, interior)['ssim'] - mssim) <= 1e-6
        # and the border follows scipy's edge-repeating filter (a reflect pad that skips the edge
        # pixel gave 0.448273 against 0.448091 on such pairs)
        assert abs(m['ssim'] - gaussian_ssim_reference(a, b)[region].mean()) <= 1e-6
        assert abs(full['ssim'] - gaussian_ssim_reference(a, b).mean()) <= 1e-6


@pytest.fixture(scope='module')
def demo_run(tmp_path_factory, demo_root):
    """A 1-iteration ngf-4 checkpoint on the session's demo data (left as it was), and 20 box masks."""
    root = tmp_path_factory.mktemp('eval')
    ckpt = str(root / 'checkpoints')
    with NothingWritten(demo_root):
        train_script.main(['--dataset_name', 'demo', '--dataroot', demo_root, '--checkpoints_dir', ckpt, '--name',
                           'm', '--ngf', '4', '--ndf', '8', '--lambda_vgg', '0', '--max_iters', '1', '--num_workers',
                           '0', '--no_tensorboard'])
    masks = root / 'masks'
    masks.mkdir()
    for i in range(20):
        m = np.zeros((256, 256), np.uint8)
        m[30 + 5 * i: 140 + 5 * i, 40:200] = 255
        Image.fromarray(m).save(masks / f'{i:04d}.png')
    return {'root': root, 'data': demo_root, 'ckpt': ckpt, 'masks': str(masks)}


def eval_argv(demo_run, results, *extra):
    return ['--name', 'm', '--checkpoints_dir', demo_run['ckpt'], '--dataroot', demo_run['data'], '--dataset_name',
            'demo', '--mask_dir', demo_run['masks'], '--results_dir', str(results), *extra]


def test_eval_fid_sh_end_to_end(demo_run, torch_home, monkeypatch):
    """scripts/eval_fid.sh as a user runs it (the stand-in Inception read from the hub cache): the FID
    it reports is that of the edited test images against the first n real ones, Inception seeing BGR;
    the reports and the runs table. Then --skip_test --fid_color_order rgb (in-process, the tiny
    stand-in): the same sets seen in RGB, a second row in the runs table."""
    results = demo_run['root'] / 'results'
    run(ROOT, 'bash', 'scripts/eval_fid.sh', *eval_argv(demo_run, results, '--how_many', '4'),
        env={'TORCH_HOME': str(torch_home)})
    out = results / 'm' / 'test_latest'
    record = json.loads((out / 'metrics.json').read_text())
    assert record['n_images'] == 4 and record['dataset'] == 'demo' and record['fid_color_order'] == 'bgr'
    m = record['metrics']
    assert 0 <= m['lpips'] and 0 < m['l1'] < 1 and m['psnr'] > 0 and -1 <= m['ssim'] <= 1
    edited = [read_rgb(out / 'edited' / f'demo_{i:05d}.png') for i in range(4)]
    test_images = os.path.join(demo_run['data'], 'demo', 'test', 'images')
    reals = [read_rgb(os.path.join(test_images, f'demo_{i:05d}.jpg')) for i in range(4)]
    features = FID(CPU, color_order='bgr').features(reals + edited)  # the same stand-in file, from the hub cache
    want, bound = frechet(features[:4], features[4:])
    assert abs(m['fid'] - want) <= bound, (m['fid'], want, bound)
    assert want > 1e3 * bound  # not a set against itself (0)
    table = (out / 'metrics.md').read_text()
    assert table.startswith('| name |') and '| m | latest | demo |' in table
    assert sorted(os.listdir(out / 'edited')) == [f'demo_{i:05d}.png' for i in range(4)]
    assert len((results / 'runs.md').read_text().splitlines()) == 3  # header, separator, one run

    from scripts import evaluate
    tiny_inception = use_tiny_inception(monkeypatch)
    rgb = evaluate.main(eval_argv(demo_run, results, '--how_many', '4', '--skip_test', '--no_lpips',
                                  '--fid_color_order', 'rgb'))
    assert rgb['fid_color_order'] == 'rgb'
    assert_seen(tiny_inception, reals + edited)
    want, bound = frechet(colour_statistics(reals), colour_statistics(edited))
    assert abs(rgb['metrics']['fid'] - want) <= bound, (rgb['metrics']['fid'], want, bound)
    bgr, _ = frechet(colour_statistics(as_seen(reals, 'bgr')), colour_statistics(as_seen(edited, 'bgr')))
    assert abs(bgr - want) > 1e3 * bound
    assert len((results / 'runs.md').read_text().splitlines()) == 4
    assert len((results / 'runs.jsonl').read_text().splitlines()) == 2


def test_eval_without_weights_fails_clearly(demo_run, tmp_path):
    """No Inception file in the hub cache: exit 2, one line naming the file, nothing edited."""
    results = tmp_path / 'r'
    with NothingWritten(tmp_path):
        out = run(ROOT, 'bash', 'scripts/eval_fid.sh', *eval_argv(demo_run, results, '--how_many', '2'), expect=2,
                  env={'TORCH_HOME': str(tmp_path / 'empty_home')})
    error_line(out, 'pt_inception-2015-12-05-6726825d.pth', str(tmp_path / 'empty_home'))


def test_train_time_fid_keeps_best_and_plots(demo_run, tiny_inception, tmp_path):
    """--eval_freq 1: each epoch the FID of the test images edited (the first two: --max_dataset_size
    holds the test split too) against the same images as read, Inception seeing BGR, logged;
    best.pth is the best epoch's; the plots."""
    ckpt = str(tmp_path / 'ck')
    train_script.main(['--dataset_name', 'demo', '--dataroot', demo_run['data'], '--checkpoints_dir', ckpt,
                       '--name', 'f', '--ngf', '4', '--ndf', '8', '--lambda_vgg', '0', '--max_dataset_size', '2',
                       '--niter', '2', '--eval_freq', '1', '--eval_how_many', '4', '--num_workers', '0',
                       '--no_tensorboard', '--print_freq', '1'])
    exp = tmp_path / 'ck' / 'f'
    rows = [json.loads(line) for line in (exp / 'metrics_log.jsonl').read_text().splitlines()]
    assert [r['epoch'] for r in rows] == [1, 2]
    test_images = os.path.join(demo_run['data'], 'demo', 'test', 'images')
    reals = as_seen([read_rgb(os.path.join(test_images, f'demo_{i:05d}.jpg')) for i in range(2)], 'bgr')
    assert len(tiny_inception.seen) == 2 * 4  # per epoch the 2 real images, then their 2 edits
    for epoch, row in enumerate(rows):
        seen = tiny_inception.seen[4 * epoch: 4 * epoch + 4]
        assert all(np.array_equal(s, r) for s, r in zip(seen[:2], reals))
        want, bound = frechet(colour_statistics(seen[:2]), colour_statistics(seen[2:]))
        assert abs(row['FID'] - want) <= bound and want > 1e3 * bound, (row['FID'], want, bound)
    assert (exp / 'best.pth').exists()
    best = torch.load(exp / 'best.pth', map_location='cpu', weights_only=True)
    best_epoch = 1 + int(np.argmin([r['FID'] for r in rows]))
    assert best['epoch'] == best_epoch  # saved at the end of the best epoch
    out = run(ROOT, sys.executable, os.path.join(ROOT, 'scripts', 'plot_metrics.py'), '--name', 'f',
              '--checkpoints_dir', ckpt)
    assert out.strip() == f'Wrote {exp / "plots" / "losses.png"}, {exp / "plots" / "fid.png"}', out
    assert Image.open(exp / 'plots' / 'losses.png').size[0] > 600
    from semedit.util.visualizer import parse_loss_log
    assert parse_loss_log(str(exp / 'loss_log.txt'))['G_L1_3'][0][0] == 1


def test_seg_model_hook_and_miou(tmp_path):
    from semedit.engine.evaluation import load_seg_model, mean_iou
    conf = np.array([[3, 1], [0, 4]])
    assert mean_iou(conf) == pytest.approx((3 / 4 + 4 / 5) / 2)  # two float64 divisions: 1 ulp each
    assert mean_iou(np.diag([0, 5])) == pytest.approx(1.0)  # absent classes do not count
    f = tmp_path / 'seg.py'
    f.write_text('import numpy as np\ndef segment(img):\n    return np.full(img.shape[:2], 7)\n')
    fn = load_seg_model(f'{f}:segment')
    assert fn(np.zeros((4, 5, 3), np.uint8)).shape == (4, 5)
    with pytest.raises(UserError, match='defines no function'):
        load_seg_model(f'{f}:nope')
    with pytest.raises(UserError, match='not found'):
        load_seg_model(str(tmp_path / 'missing.py') + ':segment')
