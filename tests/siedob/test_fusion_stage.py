"""SIEDOB's fusion stage (models/siedob/fusion.py, upstream fusion/trainer.py): the image-only
discriminator, the losses as upstream computes them (the VGG term with a stand-in VGG), the frozen
stages staying frozen, a tiny overfit, the style references of its samples, and train.py ->
test.py -> scripts/evaluate.py on the demo data (the FID of the right two image sets)."""
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

import helpers
from semedit.models.legacy import convert_checkpoint, load_checkpoint
from semedit.models.networks.discriminators import SNPatchDiscriminator
from semedit.models.siedob.fusion import SIEDOBFusionModel
from semedit.models.siedob.parts import read_part
from semedit.options import default_options
from siedob.functional import assert_total_is_the_sum, assert_vgg_logged, stage_with_vgg
from siedob.parts_folder import FILES, scene, write_parts
from siedob.test_editing import batch_of
from semedit.util.errors import UserError

CPU = torch.device('cpu')


@pytest.fixture(scope='module')
def submodels(tmp_path_factory):
    folder = tmp_path_factory.mktemp('submodels')
    write_parts(str(folder))
    os.remove(folder / 'Fnet.pth')
    return str(folder)


def make_model(submodels, **kw):
    base = dict(model='siedob', stage='fusion', dataset_name='cityscapes', submodels=submodels, ngf=4, ndf=8,
                lambda_vgg=0)
    base.update(kw)
    return SIEDOBFusionModel(default_options(True, **base), CPU).setup()


def toy_batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    s1 = scene((64, 64), cars=((34, 50, 36, 60, False), (6, 22, 6, 28, True)), persons=((40, 60, 4, 12, True),))
    s2 = scene((64, 64), cars=((20, 40, 20, 44, False),), seed=1)
    b = batch_of(s1, s2)
    b['refs'] = {c: {'image': torch.rand(2, 4, 3, 64, 64, generator=g) * 2 - 1,
                     'mask': (torch.rand(2, 4, 1, 64, 64, generator=g) > 0.3).float()} for c in (26, 24)}
    return b


def test_image_only_discriminator_has_the_authors_size():
    d = SNPatchDiscriminator(3, 6, 64, pad_type='zero', sparse_labels=False)
    assert sum(p.numel() for p in d.parameters()) == 4_324_800 and len(d.state_dict()) == 18


def test_losses_are_upstreams(submodels):
    """D: hinge on masked_F (fake) and I (real); G: −mean D(masked_F) + 10·VGG(fake_F, I); no L1."""
    m = make_model(submodels)
    m.set_input(toy_batch())
    m.forward()
    out, image = m.output, m.image
    assert torch.equal(out * (1 - m.mask), image * (1 - m.mask))
    m.netD_F.eval()  # no power iteration between our call and the model's
    d_fake, d_real = m.netD_F(out.detach()), m.netD_F(image)
    want_d = torch.relu(1 + d_fake).mean() + torch.relu(1 - d_real).mean()
    assert torch.allclose(m.compute_D_loss(), want_d, atol=1e-6)
    assert torch.allclose(m.compute_G_loss(), -m.netD_F(out).mean(), atol=1e-6)
    assert set(m.losses) == {'D_fake', 'D_real', 'G_GAN'}  # no L1 term; the totals D and G: a training step's
    # the residual fusion: fake_F = tanh(·)·M + masked_G
    assert torch.equal(m.fake * (1 - m.mask), m.composition.masked_G * (1 - m.mask))


@pytest.mark.numerics
def test_vgg_term_is_the_fused_image_against_the_real_one(submodels, vgg_standin):
    """G's VGG term as a training step logs and optimises it (upstream fusion/trainer.py):
    λ_VGG · VGG(fake_F, I), the fusion network's output (not masked_G) against the whole real image
    (not its known part); the total G is the sum of the logged terms. (masked_F equals fake_F here:
    fake_F = tanh(·)·M + masked_G already holds I outside the hole.)"""
    m = stage_with_vgg('fusion', vgg_standin, submodels=submodels)
    b = toy_batch()
    m.set_input(b)
    m.optimize_parameters()
    assert_vgg_logged(m, vgg_standin, m.fake, b['image'])
    assert_total_is_the_sum(m.get_current_losses(), ('G_GAN', 'G_VGG'))


def test_a_step_trains_fusion_only_and_the_frozen_nets_step_their_spectral_norms(submodels):
    m = make_model(submodels)
    frozen = {n: {k: v.clone() for k, v in net.state_dict().items()} for n, net in
              zip(('inp', 'sty', 'bg'), m.frozen_nets())}
    g_before = {k: v.clone() for k, v in m.netG_F.state_dict().items()}
    m.train()
    m.set_input(toy_batch())
    m.optimize_parameters()
    assert any(not torch.equal(v, m.netG_F.state_dict()[k]) for k, v in g_before.items())
    for (name, before), net in zip(frozen.items(), m.frozen_nets()):
        after = net.state_dict()
        params = {k for k, _ in net.named_parameters()}
        assert all(torch.equal(before[k], after[k]) for k in params), name          # weights: frozen
        moved = [k for k in after if k.endswith('weight_u') and not torch.equal(before[k], after[k])]
        assert bool(moved) == (name != 'sty'), name  # upstream's train mode: SN vectors move (no SN in style)
    fixed = make_model(submodels, frozen_eval=True)
    fixed.train()
    before = {k: v.clone() for k, v in fixed.frozen_nets()[2].state_dict().items()}
    fixed.set_input(toy_batch())
    fixed.optimize_parameters()
    assert all(torch.equal(v, fixed.frozen_nets()[2].state_dict()[k]) for k, v in before.items())


def test_tiny_overfit(submodels):
    torch.manual_seed(0)
    # L1 on fake_F (an option, off upstream) shows the fusion net fitting one batch
    m = make_model(submodels, lambda_l1=1.0, lambda_gan=0.0, lr=1e-3, frozen_eval=True)
    m.train()
    batch = toy_batch()
    losses = []
    for _ in range(20):   # the last five average 0.68 of the first five by then (seed 0)
        m.set_input(batch)
        m.optimize_parameters()
        losses.append(m.get_current_losses()['G_L1'])
    assert np.mean(losses[-5:]) < 0.75 * np.mean(losses[:5]), losses


def test_checkpoint_holds_the_fusion_nets_and_the_run_folder_the_three_stages(submodels, tmp_path):
    m = make_model(submodels)
    ckpt = m.checkpoint_state(0, 0, 0)
    assert set(ckpt['nets']) == {'netG_F', 'netD_F'} and ckpt['stage'] == 'fusion'
    m.prepare_run_folder(str(tmp_path))
    for stage in ('object_inpainting', 'object_style', 'background'):
        copy = read_part(str(tmp_path / FILES[stage]), stage)
        original = read_part(os.path.join(submodels, FILES[stage]), stage)
        net = copy['nets'][list(copy['nets'])[0]]
        assert all(torch.equal(v, original['nets'][list(original['nets'])[0]][k]) for k, v in net.items())
        # the copy holds no discriminator, so it records no discriminator width (the fusion run's
        # --ndf 8 is not the part's), and its arch survives the authors' layout and back
        assert 'ndf' not in copy['arch'] and copy['arch'] == {k: v for k, v in original['arch'].items() if k != 'ndf'}
        upstream, _ = convert_checkpoint(copy, 'upstream')
        torch.save(upstream, tmp_path / 'up.pth')
        assert load_checkpoint(str(tmp_path / 'up.pth'))['arch'] == copy['arch']


def test_the_authors_layout_says_it_keeps_no_iteration_count(submodels):
    ckpt = read_part(os.path.join(submodels, FILES['background']), 'background')
    _, notes = convert_checkpoint(dict(ckpt, epoch=3, total_iters=77), 'upstream')
    assert any("keeps the epoch (3) but not the iteration count (77)" in n for n in notes), notes
    _, notes = convert_checkpoint(ckpt, 'upstream')
    assert not any('iteration count' in n for n in notes)


def test_the_stage_edits_as_the_editor_of_its_run_folder(submodels, tmp_path):
    """The fusion stage's own edit (train-time FID) is the end-to-end editor's: the same pixels as
    test.py's model built from the run folder (the parts copied there, latest.pth), and a fusion
    checkpoint given to test.py alone is that editor."""
    from semedit.models.siedob_model import SIEDOBModel
    from siedob.parts_folder import write_references
    from semedit.util.checkpoint import save_checkpoint
    refs = write_references(str(tmp_path / 'refs'))
    m = make_model(submodels)
    m.opt.style_dir = refs
    m.prepare_run_folder(str(tmp_path))
    save_checkpoint(m.checkpoint_state(0, 0, 0), str(tmp_path / 'latest.pth'))
    b = toy_batch()
    del b['refs']
    m.eval()
    ours = m.edit(b)
    opt = default_options(False, model='siedob', checkpoints_dir=str(tmp_path), dataset_name='cityscapes',
                          style_dir=refs)
    ckpt, path = SIEDOBModel.read_checkpoint_folder(opt)
    editor = SIEDOBModel.from_checkpoint(opt, CPU, ckpt, path)
    assert torch.equal(editor.edit(b), ours)
    alone = SIEDOBFusionModel.from_checkpoint(opt, CPU, load_checkpoint(str(tmp_path / 'latest.pth')),
                                              str(tmp_path / 'latest.pth'))
    assert isinstance(alone, SIEDOBModel) and torch.equal(alone.edit(b), ours)


def test_missing_or_mismatched_submodels(submodels, tmp_path):
    opt = default_options(True, model='siedob', stage='fusion', dataset_name='cityscapes', lambda_vgg=0)
    with pytest.raises(UserError, match='give --submodels DIR'):
        SIEDOBFusionModel(opt, CPU)
    with pytest.raises(UserError, match=r'bg\.pth was trained with 34 label ids, the data has 151'):
        make_model(submodels, dataset_name='ade20k')
    with pytest.raises(UserError, match='--color_order bgr'):
        make_model(submodels, color_order='rgb')


def test_fusion_samples_carry_four_references_per_class(demo_root):
    from semedit.data import create_dataset
    opt = default_options(True, model='siedob', stage='fusion', dataset_name='demo', dataroot=demo_root,
                          crop_size='64')
    with helpers.NothingWritten(demo_root):
        ds = create_dataset(opt, 'train', 'siedob_fusion')
    item = ds[3]
    assert set(item['refs']) == {26, 24}
    for r in item['refs'].values():
        assert r['image'].shape == (4, 3, 64, 64) and r['mask'].shape == (4, 1, 64, 64)
        assert r['image'].min() >= -1 and r['mask'].sum() > 0
    assert 'fg_mask' not in item  # the fusion stage finds its objects itself, by its own rules
    assert torch.equal(ds[3]['refs'][26]['image'], item['refs'][26]['image'])
    ds.set_epoch(1)
    assert not torch.equal(ds[3]['refs'][26]['image'], item['refs'][26]['image'])


def test_train_then_edit_with_the_run_folder(submodels, demo_root, tmp_path, monkeypatch, capsys):
    """The user's journey in a folder holding ./datasets/demo: train.py --stage fusion, resumed;
    test.py --model siedob on the run folder (one image, by --name, the test split); then
    scripts/evaluate.py, whose FID compares the edited test images with the real ones (a tiny
    Inception stand-in: the Fréchet distance of its features, written out in numpy)."""
    import test as test_script
    import train as train_script
    from fid_oracle import as_seen, colour_statistics, frechet, read_rgb, use_tiny_inception
    from scripts import evaluate, make_masks
    helpers.copy_demo(demo_root, str(tmp_path / 'datasets'))
    monkeypatch.chdir(tmp_path)
    tiny = ['--model', 'siedob', '--stage', 'fusion', '--dataset_name', 'demo', *helpers.TINY_NETS, '--crop_size',
            '64', '--num_workers', '0', '--submodels', submodels, '--name', 'fus', '--batch_size', '2']
    train_script.main([*tiny, '--max_iters', '3'])
    capsys.readouterr()
    train_script.main([*tiny, '--max_iters', '5', '--continue_train'])
    out = capsys.readouterr().out
    assert 'Resuming from' in out and 'Done: 5 iterations' in out
    exp = tmp_path / 'checkpoints' / 'fus'
    assert {'latest.pth', 'bg.pth', 'object_inpainting.pth', 'object_style.pth'} <= set(os.listdir(exp))
    test_dir = tmp_path / 'datasets' / 'demo' / 'test'
    stem = sorted(os.listdir(test_dir / 'images'))[0][:-4]
    w, h = Image.open(test_dir / 'images' / f'{stem}.jpg').size
    mask = np.zeros((h, w), np.uint8)
    mask[h // 3:h - 20, w // 4:w - w // 4] = 255
    Image.fromarray(mask).save(tmp_path / 'mask.png')
    one = ['--image_path', test_dir / 'images' / f'{stem}.jpg', '--segmap_path', test_dir / 'labels' / f'{stem}.png',
           '--instance_path', test_dir / 'inst_map' / f'{stem}.png', '--mask_path', tmp_path / 'mask.png',
           '--device', 'cpu']
    test_script.main([str(a) for a in ['--model', 'siedob', '--checkpoints_dir', exp, *one, '--output_path',
                                       tmp_path / 'out' / 'edited.png']])
    assert Image.open(tmp_path / 'out' / 'edited.png').size == (w, h)
    # the run was trained with the relative --dataroot datasets: from another folder, the same picture
    # (the run's own references and data, nothing generated there)
    (tmp_path / 'elsewhere').mkdir()
    monkeypatch.chdir(tmp_path / 'elsewhere')
    test_script.main([str(a) for a in ['--model', 'siedob', '--checkpoints_dir', exp, *one, '--output_path',
                                       tmp_path / 'out' / 'elsewhere.png']])
    assert os.listdir(tmp_path / 'elsewhere') == []
    assert np.array_equal(np.asarray(Image.open(tmp_path / 'out' / 'elsewhere.png')),
                          np.asarray(Image.open(tmp_path / 'out' / 'edited.png')))
    monkeypatch.chdir(tmp_path)
    # the usual --name form: the fusion run's checkpoint, with the parts beside it
    test_script.main([str(a) for a in ['--name', 'fus', *one, '--output_path', tmp_path / 'out' / 'by_name.png']])
    assert np.array_equal(np.asarray(Image.open(tmp_path / 'out' / 'by_name.png')),
                          np.asarray(Image.open(tmp_path / 'out' / 'edited.png')))
    # the test split, two images per batch (demo test images: 256×256, seeded SIEDOB masks)
    test_script.main(['--model', 'siedob', '--checkpoints_dir', str(exp), '--how_many', '3', '--batch_size', '2',
                      '--device', 'cpu', '--quantize', 'round'])
    edited = tmp_path / 'results' / 'experiment' / 'test_latest'
    assert sorted(os.listdir(edited / 'edited')) == [f'demo_{i:05d}.png' for i in range(3)]
    for i in range(3):
        a = np.asarray(Image.open(edited / 'edited' / f'demo_{i:05d}.png')).astype(int)
        src = np.asarray(Image.open(test_dir / 'images' / f'demo_{i:05d}.jpg').convert('RGB')).astype(int)
        known = np.asarray(Image.open(edited / 'masks' / f'demo_{i:05d}.png')) == 0
        assert known.any() and not known.all() and np.array_equal(a[known], src[known])
    # FID on predefined masks, as for SPM-PGAN: between the edited test images and the real ones
    make_masks.main(['--out_dir', 'masks', '--count', '20'])
    use_tiny_inception(monkeypatch)
    record = evaluate.main(['--model', 'siedob', '--checkpoints_dir', str(exp), '--mask_dir', 'masks', '--name', 'fid',
                            '--how_many', '3', '--batch_size', '2', '--no_lpips', '--device', 'cpu'])
    results = tmp_path / 'results' / 'fid' / 'test_latest'
    sets = {'reals': [test_dir / 'images' / f'demo_{i:05d}.jpg' for i in range(3)],
            'fakes': [results / 'edited' / f'demo_{i:05d}.png' for i in range(3)],
            'masked': [results / 'masked' / f'demo_{i:05d}.png' for i in range(3)]}
    features = {k: colour_statistics(as_seen([read_rgb(p) for p in paths], 'bgr')) for k, paths in sets.items()}
    metrics = json.loads((results / 'metrics.json').read_text())
    assert metrics['n_images'] == 3 and metrics['metrics'] == record['metrics']
    want, bound = frechet(features['reals'], features['fakes'])
    assert abs(metrics['metrics']['fid'] - want) <= bound, (metrics['metrics']['fid'], want, bound)
    # far from a set against itself (0) and from the real images against the inputs with their holes
    for wrong in (('fakes', 'fakes'), ('reals', 'masked')):
        assert abs(frechet(*(features[k] for k in wrong))[0] - want) > 1e3 * bound, wrong
