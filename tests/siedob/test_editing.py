"""SIEDOB's end-to-end editor (models/siedob_model.py, composition.py; upstream
fusion/test_one_image.py) through test.py's command line: the four parts from one folder (ours or
the authors' layout), object routing, reference choice, the residual identity, sizes, and the
one-line errors."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

import test as test_script
from models import legacy
from models.siedob.composition import OBJECT_ORDER, Route, compose, find_objects, scene_inputs
from models.siedob.parts import load_parts, part_nets
from options import default_options
from siedob.parts_folder import (FILES, part_checkpoint, scene, write_parts, write_references, write_scene)
from util.checkpoint import save_checkpoint
from util.errors import UserError

CPU = torch.device('cpu')


@pytest.fixture(scope='module')
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp('siedob')
    return {'ours': os.path.dirname(write_parts(str(root / 'ours'))['fusion']),
            'authors': os.path.dirname(write_parts(str(root / 'authors'), 'authors')['fusion']),
            'refs': write_references(str(root / 'refs'), {'car': 2, 'person': 3}),
            'root': root}


def run(folder, files, out, *extra, refs=None):
    argv = ['--model', 'siedob', '--checkpoints_dir', folder, '--image_path', files['image'],
            '--segmap_path', files['label'], '--instance_path', files['instance'], '--mask_path', files['mask'],
            '--output_path', str(out), '--device', 'cpu', *extra]
    if refs:
        argv += ['--style_dir', refs]
    test_script.main(argv)
    return np.asarray(Image.open(out).convert('RGB')).astype(int)


def editor(folder):
    opt = default_options(False, model='siedob', checkpoints_dir=folder, dataset_name='cityscapes')
    from models.siedob_model import SIEDOBModel
    ckpt, path = SIEDOBModel.read_checkpoint_folder(opt)
    return SIEDOBModel.from_checkpoint(opt, CPU, ckpt, path)


def batch_of(*scenes, order='bgr'):
    from util.tensors import image_to_tensor
    return {'image': torch.stack([image_to_tensor(s[0], order) for s in scenes]),
            'label': torch.stack([torch.from_numpy(s[1])[None] for s in scenes]),
            'instance': torch.stack([torch.from_numpy(s[2])[None] for s in scenes]),
            'mask': torch.stack([torch.from_numpy(s[3])[None] for s in scenes])}


# ---- loading -----------------------------------------------------------------------------------

def test_the_authors_layout_gives_the_same_edit_as_ours(folders, tmp_path):
    files = write_scene(str(tmp_path / 'scene'), cars=((10, 30, 8, 30, True), (34, 50, 36, 60, False)))
    ours = run(folders['ours'], files, tmp_path / 'ours.png', refs=folders['refs'])
    theirs = run(folders['authors'], files, tmp_path / 'theirs.png', refs=folders['refs'])
    assert np.array_equal(ours, theirs)
    a, b = editor(folders['ours']), editor(folders['authors'])
    for name, net in a.nets().items():
        other = b.nets()[name].state_dict()
        assert all(torch.equal(v, other[k]) for k, v in net.state_dict().items()), name


def test_fnet_converts_both_ways(tmp_path):
    ckpt = part_checkpoint('fusion')
    theirs = legacy.to_upstream(ckpt)
    assert set(theirs) == {'epoch', 'netG_F'}
    torch.save(theirs, tmp_path / 'Fnet.pth')
    back = legacy.load_checkpoint(str(tmp_path / 'Fnet.pth'))
    assert (back['model'], back['stage'], back['arch']['ngf']) == ('siedob', 'fusion', ckpt['arch']['ngf'])
    assert all(torch.equal(v, back['nets']['netG_F'][k]) for k, v in ckpt['nets']['netG_F'].items())
    torch.save(theirs['netG_F'], tmp_path / 'bare.pth')  # a bare F_stage state dict is recognised too
    assert legacy.load_checkpoint(str(tmp_path / 'bare.pth'))['stage'] == 'fusion'


def test_convert_checkpoint_handles_all_four_authors_files(tmp_path, folders):
    for stage, name in FILES.items():
        src = os.path.join(folders['authors'], name)
        ours_path = str(tmp_path / f'{stage}_ours.pth')
        save_checkpoint(legacy.convert_checkpoint(legacy.load_checkpoint(src), 'ours')[0], ours_path)
        ours = torch.load(ours_path, weights_only=True)
        assert (ours['format'], ours['stage']) == ('semedit', stage)
        back = legacy.convert_checkpoint(legacy.load_checkpoint(ours_path), 'upstream')[0]
        save_checkpoint(back, str(tmp_path / name))
        a, b = torch.load(src, weights_only=True), torch.load(tmp_path / name, weights_only=True)
        assert set(a) == set(b)
        for k in a:
            if isinstance(a[k], dict):
                assert a[k].keys() == b[k].keys() and all(torch.equal(a[k][t], b[k][t]) for t in a[k])


# ---- what the editor computes ------------------------------------------------------------------------

def test_masked_F_is_the_input_outside_the_mask(folders):
    model = editor(folders['ours'])
    model.opt.style_dir = folders['refs']
    s = scene((64, 64), cars=((10, 30, 8, 30, True), (34, 50, 36, 60, False)), persons=((40, 60, 4, 12, False),))
    batch = batch_of(s)
    out = model.edit(batch)
    keep = batch['mask'] == 0
    assert torch.equal(out.masked_select(keep.expand_as(out)), batch['image'].masked_select(keep.expand_as(out)))
    assert (out - batch['image']).abs().masked_select(~keep.expand_as(out)).max() > 0.01  # the hole changed


def test_objects_are_routed_by_how_much_of_them_is_edited(folders):
    """Wholly edited objects go to the style generator, partly edited ones to inpainting (upstream
    inst_Gs: every pixel of the 64×64 object mask under the edit mask, or not)."""
    model = editor(folders['ours'])
    model.opt.style_dir = folders['refs']
    s = scene((64, 64), cars=((34, 50, 36, 60, False), (8, 24, 8, 30, True)), persons=((40, 60, 4, 12, True),))
    model.edit(batch_of(s))
    routes = model.composition.routes
    # within a class partly edited objects come first (upstream's inp list, then gen)
    assert [r.branch for r in routes[26]] == ['inpaint', 'style']
    assert [r.branch for r in routes[24]] == ['style']
    fg = model.composition.fg_mask[0, 0].numpy()
    assert fg[40:60, 4:12].all() and fg[34:50, 36:60].all() and fg[8:24, 8:30].all()
    assert fg.sum() == 20 * 8 + 16 * 24 + 16 * 22


def test_wholly_edited_object_k_takes_reference_k_mod_n(folders):
    """Cars numbered k = 0, 1, ... over the batch, partly and wholly edited alike; with N = 2 car
    references a wholly edited car k takes reference k mod 2; persons count on their own (N = 3)."""
    model = editor(folders['ours'])
    model.opt.style_dir = folders['refs']
    cars = ((4, 14, 4, 16, False), (4, 14, 24, 36, True), (20, 30, 4, 16, True), (20, 30, 24, 36, True))
    persons = ((40, 60, 40, 46, True), (40, 60, 50, 56, True))
    s1 = scene((64, 64), cars=cars, persons=persons)
    s2 = scene((64, 64), cars=((40, 50, 4, 16, True),), seed=1)
    model.edit(batch_of(s1, s2))
    r = model.composition.routes
    assert r[26] == [Route('inpaint', None), Route('style', 1), Route('style', 0), Route('style', 1), Route('style', 0)]
    assert r[24] == [Route('style', 0), Route('style', 1)]
    # the style branch's output is the reference's style: another reference changes the object
    before = model.composition.canvas.clone()
    refs = model.references()
    images, masks = refs.tensors(26)
    refs._tensors[26] = (images.flip(0), masks.flip(0))
    model.edit(batch_of(s1, s2))
    assert not torch.allclose(model.composition.canvas[:, :, 4:14, 24:36], before[:, :, 4:14, 24:36])
    assert torch.equal(model.composition.canvas[:, :, 4:14, 4:16], before[:, :, 4:14, 4:16])  # inpainted


def test_a_batch_edits_as_its_samples_one_by_one(folders):
    model = editor(folders['ours'])
    model.opt.style_dir = folders['refs']
    s1 = scene((64, 64), cars=(), persons=((30, 60, 36, 46, False),))
    s2 = scene((64, 64), cars=((8, 24, 8, 30, True),), seed=1)
    both = model.edit(batch_of(s1, s2))
    one = model.edit(batch_of(s1))
    # sample 2's car is car k = 0 in the batch too (sample 1 has no car), so it takes the same reference
    two = model.edit(batch_of(s2))
    assert torch.allclose(both[:1], one, atol=1e-5) and torch.allclose(both[1:], two, atol=1e-5)


def test_a_mask_without_objects_or_without_background(folders):
    """Only background edited (no object touched), or only an object (no background pixel edited)."""
    model = editor(folders['ours'])
    model.opt.style_dir = folders['refs']
    image, label, instance, mask = scene((64, 64), cars=((34, 50, 36, 60, False),))
    sky = np.zeros_like(mask)
    sky[2:12, 2:30] = 1
    out = model.edit(batch_of((image, label, instance, sky)))
    assert model.composition.routes == {26: [], 24: []} and model.composition.fg_mask.sum() == 0
    inside = np.zeros_like(mask)
    inside[36:48, 40:56] = 1  # within the car: a partly edited object, no background under the mask
    out = model.edit(batch_of((image, label, instance, inside)))
    assert [r.branch for r in model.composition.routes[26]] == ['inpaint']
    assert torch.isfinite(out).all()


def test_an_object_on_the_image_border_is_pasted(folders):
    """Upstream's fusion boxes end 2 rows past an object on the last row and its paste fails (B4);
    here the box is clamped to the image."""
    model = editor(folders['ours'])
    model.opt.style_dir = folders['refs']
    s = scene((64, 64), cars=((50, 64, 50, 64, False), (40, 64, 0, 12, True)))
    model.edit(batch_of(s))
    _, objects = find_objects(scene_inputs(batch_of(s), 34, False, CPU))
    assert objects[26]['boxes'].tolist() == [[48, 64, 48, 64], [38, 64, 0, 13]]
    canvas = model.composition.canvas[0]
    assert canvas[:, 63, 55].abs().sum() > 0 and canvas[:, 63, 5].abs().sum() > 0


def test_frozen_stages_train_mode_steps_the_spectral_norms_once_per_object(folders):
    """The fusion stage's default (upstream): the frozen nets in train mode, one call per object,
    so the inpainting decoder's u vector moves once per inpainted object; eval mode leaves it."""
    paths = {s: os.path.join(folders['ours'], FILES[s]) for s in ('object_inpainting', 'object_style', 'background')}
    opt = default_options(True, model='siedob', stage='fusion', dataset_name='cityscapes')
    parts = load_parts(opt, CPU, paths)
    nets = part_nets(parts)
    s = scene((64, 64), cars=((34, 50, 36, 60, False), (4, 20, 4, 30, False)))
    sc = scene_inputs(batch_of(s), 34, False, CPU)
    refs = lambda c: None  # noqa: E731  (no wholly edited object)
    key = [k for k in nets['object_inpainting'].state_dict() if k.startswith('dec2.') and k.endswith('weight_u')][0]
    start = nets['object_inpainting'].state_dict()[key].clone()
    for n in nets.values():
        n.eval()
    with torch.no_grad():
        compose(sc, nets, refs)
    assert torch.equal(nets['object_inpainting'].state_dict()[key], start)
    for n in nets.values():
        n.train()
    with torch.no_grad():
        compose(sc, nets, refs, one_by_one=True)
    assert not torch.equal(nets['object_inpainting'].state_dict()[key], start)


# ---- the command line: sizes, seeds, what users may give ---------------------------------------------

def test_any_size_and_same_seed_same_result(folders, tmp_path):
    files = write_scene(str(tmp_path / 'wide'), size=(48, 80), cars=((10, 30, 8, 30, True), (20, 40, 50, 70, False)))
    a = run(folders['ours'], files, tmp_path / 'new' / 'dir' / 'a.png', '--seed', '3', refs=folders['refs'])
    b = run(folders['ours'], files, tmp_path / 'b.png', '--seed', '3', refs=folders['refs'])
    assert a.shape == (48, 80, 3) and np.array_equal(a, b)
    image = np.asarray(Image.open(files['image']).convert('RGB')).astype(int)
    known = np.asarray(Image.open(files['mask'])) == 0
    assert np.array_equal(a[known], image[known])  # pasted back inside the mask only


def test_empty_mask_and_palette_labels_just_work(folders, tmp_path):
    files = write_scene(str(tmp_path / 's'))
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(files['mask'])
    label = np.asarray(Image.open(files['label']))
    pal = Image.fromarray(label, mode='P')
    pal.putpalette([v for i in range(256) for v in (i, 255 - i, (7 * i) % 256)])
    pal.save(files['label'])
    out = run(folders['ours'], files, tmp_path / 'o.png', '--quantize', 'round', refs=folders['refs'])
    assert np.array_equal(out, np.asarray(Image.open(files['image']).convert('RGB')))


def one_line_error(capsys, *said):
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and 'Traceback' not in err, err
    for s in said:
        assert s in err, err
    return err


def test_missing_folder_or_file(folders, tmp_path, capsys):
    files = write_scene(str(tmp_path / 's'))
    out = tmp_path / 'o.png'
    with pytest.raises(SystemExit):
        run(str(tmp_path / 'nowhere'), files, out)
    one_line_error(capsys, 'checkpoint folder not found', 'nowhere')
    partial = tmp_path / 'partial'
    write_parts(str(partial))
    os.remove(partial / 'object_style.pth')
    with pytest.raises(SystemExit):
        run(str(partial), files, out)
    one_line_error(capsys, str(partial / 'object_style.pth'), 'not found', 'object-style')
    assert not out.exists()


def test_corrupt_or_wrong_kind_files(folders, tmp_path, capsys):
    files = write_scene(str(tmp_path / 's'))
    out = tmp_path / 'o.png'
    bad = tmp_path / 'bad'
    write_parts(str(bad))
    (bad / 'Fnet.pth').write_bytes(b'not a checkpoint')
    with pytest.raises(SystemExit):
        run(str(bad), files, out)
    one_line_error(capsys, str(bad / 'Fnet.pth'), 'cannot read')
    write_parts(str(bad))
    from models.networks.spmpgan import ProgressiveGenerator
    from util.checkpoint import make_checkpoint
    sd = ProgressiveGenerator(34, ngf=4).state_dict()
    save_checkpoint(make_checkpoint('spmpgan', {'label_nc': 34, 'ngf': 4}, {'netG': sd}), str(bad / 'bg.pth'))
    with pytest.raises(SystemExit):
        run(str(bad), files, out)
    one_line_error(capsys, str(bad / 'bg.pth'), 'is a spmpgan checkpoint', 'background generator')
    write_parts(str(bad))
    os.replace(bad / 'object_inpainting.pth', bad / 'tmp.pth')
    os.replace(bad / 'object_style.pth', bad / 'object_inpainting.pth')
    with pytest.raises(SystemExit):
        run(str(bad), files, out)
    one_line_error(capsys, str(bad / 'object_inpainting.pth'), 'object_style checkpoint')
    assert not out.exists()


def test_bad_inputs(folders, tmp_path, capsys):
    files = write_scene(str(tmp_path / 's'))
    out = tmp_path / 'o.png'
    Image.fromarray(np.zeros((32, 64), np.uint16)).save(tmp_path / 'small_inst.png')
    with pytest.raises(SystemExit):
        run(folders['ours'], dict(files, instance=str(tmp_path / 'small_inst.png')), out)
    one_line_error(capsys, 'small_inst.png', 'size mismatch')
    label = np.asarray(Image.open(files['label'])).copy()
    label[0, 0] = 40
    Image.fromarray(label).save(tmp_path / 'l40.png')
    with pytest.raises(SystemExit):
        run(folders['ours'], dict(files, label=str(tmp_path / 'l40.png')), out)
    one_line_error(capsys, 'l40.png', 'label id 40', '0..33')
    refs = write_references(str(tmp_path / 'cars_only'), {'car': 1})
    persons = write_scene(str(tmp_path / 'p'), cars=(), persons=((20, 50, 20, 30, True),))
    with pytest.raises(SystemExit):
        run(folders['ours'], persons, out, refs=refs)
    one_line_error(capsys, 'no person references', os.path.join(refs, 'person'))
    assert not out.exists()
    run(folders['ours'], files, out, refs=refs)  # cars only: a REFS folder without persons is fine there


def files_under(*folders):
    return {os.path.join(root, f) for folder in folders for root, _, names in os.walk(folder) for f in names}


def test_editing_writes_nothing_but_its_output(folders, tmp_path, monkeypatch, capsys):
    """Editing only reads. With no references anywhere (no --style_dir, no references/ beside the
    parts, no dataset with object crops) a wholly covered car stops with one line naming --style_dir
    and nothing is written (no demo data generated, no crops cut in the working folder); an edit
    that needs no reference writes its output and nothing else."""
    wholly = write_scene(str(tmp_path / 'wholly'))
    partly = write_scene(str(tmp_path / 'partly'), cars=((10, 30, 8, 30, False),))
    work = tmp_path / 'work'
    work.mkdir()
    monkeypatch.chdir(work)
    before = files_under(tmp_path, folders['authors'])
    out = work / 'o.png'
    with pytest.raises(SystemExit):
        run(folders['authors'], wholly, out)
    one_line_error(capsys, 'no car references', '--style_dir')
    assert files_under(tmp_path, folders['authors']) == before
    run(folders['authors'], partly, out)
    assert files_under(tmp_path, folders['authors']) == before | {str(out)}


def test_a_fusion_run_folder_edits_with_the_references_it_carries(folders, tmp_path, monkeypatch):
    """A parts folder with references/ (a fusion run's) edits a wholly covered car with them, from
    any working folder, as --style_dir with the same references does."""
    import shutil
    run_folder = tmp_path / 'run'
    shutil.copytree(folders['ours'], run_folder)
    write_references(str(run_folder / 'references'), {'car': 2, 'person': 3})
    files = write_scene(str(tmp_path / 's'))
    monkeypatch.chdir(tmp_path)
    carried = run(str(run_folder), files, tmp_path / 'carried.png')
    given = run(folders['ours'], files, tmp_path / 'given.png', refs=folders['refs'])
    assert np.array_equal(carried, given)


def test_without_instance_map_says_so(folders, tmp_path, capsys):
    files = write_scene(str(tmp_path / 's'))
    with pytest.raises(SystemExit):
        test_script.main(['--model', 'siedob', '--checkpoints_dir', folders['ours'], '--image_path', files['image'],
                          '--segmap_path', files['label'], '--mask_path', files['mask'], '--output_path',
                          str(tmp_path / 'o.png'), '--device', 'cpu'])
    one_line_error(capsys, '--instance_path')


def test_panel_shows_the_stages(folders, tmp_path):
    files = write_scene(str(tmp_path / 's'))
    run(folders['ours'], files, tmp_path / 'o.png', '--save_panel', refs=folders['refs'])
    panel = Image.open(tmp_path / 'o_panel.png')
    # input | masked | labels | objects | background | before fusion | output
    assert panel.size[1] == 64 and panel.size[0] >= 7 * 64


def test_classes_in_order():
    assert OBJECT_ORDER == (26, 24)
    with pytest.raises(UserError, match='instance map'):
        s = scene()
        b = batch_of(s)
        del b['instance']
        find_objects(scene_inputs(b, 34, False, CPU))
