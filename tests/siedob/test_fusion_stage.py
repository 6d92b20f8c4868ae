"""SIEDOB's fusion stage (models/siedob/fusion.py, upstream fusion/trainer.py): the image-only
discriminator, the losses as upstream computes them, the frozen stages staying frozen, a tiny
overfit, the style references of its samples, and train.py -> test.py on the demo data."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from models.networks.discriminators import SNPatchDiscriminator
from models.siedob.fusion import SIEDOBFusionModel
from models.siedob.parts import read_part
from options import default_options
from siedob.parts_folder import FILES, scene, write_parts
from siedob.test_editing import batch_of
from util.errors import UserError

CPU = torch.device('cpu')
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')


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
    for _ in range(40):
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


def test_the_stage_edits_as_the_editor_of_its_run_folder(submodels, tmp_path):
    """The fusion stage's own edit (train-time FID) is the end-to-end editor's: the same pixels as
    test.py's model built from the run folder (the parts copied there, latest.pth), and a fusion
    checkpoint given to test.py alone is that editor."""
    from models.siedob_model import SIEDOBModel
    from siedob.parts_folder import write_references
    from util.checkpoint import save_checkpoint
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
    from models.legacy import load_checkpoint
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


def test_fusion_samples_carry_four_references_per_class(tmp_path):
    from data import create_dataset
    opt = default_options(True, model='siedob', stage='fusion', dataset_name='demo', dataroot=str(tmp_path),
                          crop_size='64')
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


def test_train_then_edit_with_the_run_folder(submodels, tmp_path):
    """The user's journey: train.py --stage fusion on the demo, then test.py --model siedob on the run folder."""
    tiny = ['--model', 'siedob', '--stage', 'fusion', '--dataset_name', 'demo', '--ngf', '4', '--ndf', '8',
            '--lambda_vgg', '0', '--crop_size', '64', '--num_workers', '0', '--submodels', submodels,
            '--name', 'fus', '--batch_size', '2']

    def run(*argv):
        res = subprocess.run([sys.executable, *map(str, argv)], cwd=tmp_path, env=ENV, capture_output=True,
                             text=True, timeout=600, stdin=subprocess.DEVNULL)
        out = res.stdout + res.stderr
        assert res.returncode == 0 and 'Traceback' not in out, out[-3000:]
        return out

    run(os.path.join(ROOT, 'train.py'), *tiny, '--max_iters', '3')
    out = run(os.path.join(ROOT, 'train.py'), *tiny, '--max_iters', '5', '--continue_train')
    assert 'Resuming from' in out and 'Done: 5 iterations' in out
    exp = tmp_path / 'checkpoints' / 'fus'
    assert {'latest.pth', 'bg.pth', 'object_inpainting.pth', 'object_style.pth'} <= set(os.listdir(exp))
    test_dir = tmp_path / 'datasets' / 'demo' / 'test'
    stem = sorted(os.listdir(test_dir / 'images'))[0][:-4]
    w, h = Image.open(test_dir / 'images' / f'{stem}.jpg').size
    mask = np.zeros((h, w), np.uint8)
    mask[h // 3:h - 20, w // 4:w - w // 4] = 255
    Image.fromarray(mask).save(tmp_path / 'mask.png')
    run(os.path.join(ROOT, 'test.py'), '--model', 'siedob', '--checkpoints_dir', exp,
        '--image_path', test_dir / 'images' / f'{stem}.jpg', '--segmap_path', test_dir / 'labels' / f'{stem}.png',
        '--instance_path', test_dir / 'inst_map' / f'{stem}.png', '--mask_path', tmp_path / 'mask.png',
        '--output_path', tmp_path / 'out' / 'edited.png', '--device', 'cpu')
    assert Image.open(tmp_path / 'out' / 'edited.png').size == (w, h)
    # the usual --name form: the fusion run's checkpoint, with the parts beside it
    run(os.path.join(ROOT, 'test.py'), '--name', 'fus', '--image_path', test_dir / 'images' / f'{stem}.jpg',
        '--segmap_path', test_dir / 'labels' / f'{stem}.png', '--instance_path', test_dir / 'inst_map' / f'{stem}.png',
        '--mask_path', tmp_path / 'mask.png', '--output_path', tmp_path / 'out' / 'by_name.png', '--device', 'cpu')
    assert np.array_equal(np.asarray(Image.open(tmp_path / 'out' / 'by_name.png')),
                          np.asarray(Image.open(tmp_path / 'out' / 'edited.png')))
    # the test split, two images per batch (demo test images: 256×256, seeded SIEDOB masks)
    out = run(os.path.join(ROOT, 'test.py'), '--model', 'siedob', '--checkpoints_dir', exp, '--how_many', '3',
              '--batch_size', '2', '--device', 'cpu', '--quantize', 'round')
    edited = tmp_path / 'results' / 'experiment' / 'test_latest'
    assert sorted(os.listdir(edited / 'edited')) == [f'demo_{i:05d}.png' for i in range(3)], out
    for i in range(3):
        a = np.asarray(Image.open(edited / 'edited' / f'demo_{i:05d}.png')).astype(int)
        src = np.asarray(Image.open(test_dir / 'images' / f'demo_{i:05d}.jpg').convert('RGB')).astype(int)
        known = np.asarray(Image.open(edited / 'masks' / f'demo_{i:05d}.png')) == 0
        assert known.any() and not known.all() and np.array_equal(a[known], src[known])
    # FID and the other metrics on predefined masks, as for SPM-PGAN (stand-in metric weights)
    from standins import write_metric_stand_ins
    inception, alexnet = write_metric_stand_ins(str(tmp_path / 'weights'))
    run(os.path.join(ROOT, 'scripts', 'make_masks.py'), '--out_dir', 'masks', '--count', '20')
    res = subprocess.run(['bash', os.path.join(ROOT, 'scripts', 'eval_fid.sh'), '--model', 'siedob',
                          '--checkpoints_dir', str(exp), '--mask_dir', 'masks', '--name', 'fid', '--how_many', '3',
                          '--batch_size', '2', '--inception_path', inception, '--lpips_backbone_path', alexnet,
                          '--device', 'cpu'], cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    import json
    metrics = json.loads((tmp_path / 'results' / 'fid' / 'test_latest' / 'metrics.json').read_text())
    assert metrics['n_images'] == 3 and np.isfinite(metrics['metrics']['fid'])
