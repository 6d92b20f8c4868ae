"""SIEDOB's end-to-end editor (models/siedob_model.py, composition.py; upstream
fusion/test_one_image.py) through test.py's command line: the four parts from one folder (ours, or
the authors' layout checked against their layer lists), object routing, reference choice, the
residual identity, sizes, --bg_inputs, --seed, and the one-line errors (exit 2, nothing written)."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

import helpers
import test as test_script
from semedit.models import legacy
from semedit.models.siedob.composition import OBJECT_ORDER, Route, compose, find_objects, scene_inputs
from semedit.models.siedob.parts import load_parts, part_nets
from semedit.options import default_options
from siedob.parts_folder import (AUTHORS_NET_KEY, FILES, WIDTHS, assert_authors_layout, authors_fusion_layout,
                                 part_checkpoint, scene, write_parts, write_references, write_scene)
from semedit.util.checkpoint import save_checkpoint
from semedit.util.errors import UserError

CPU = torch.device('cpu')


@pytest.fixture(scope='module')
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp('siedob')
    return {'ours': os.path.dirname(write_parts(str(root / 'ours'))['fusion']),
            'authors': os.path.dirname(write_parts(str(root / 'authors'), 'authors')['fusion']),
            'refs': write_references(str(root / 'refs'), {'car': 2, 'person': 3}),
            'root': root}


def argv_of(folder, files, out, *extra, refs=None):
    """test.py's command line for one SIEDOB edit."""
    argv = ['--model', 'siedob', '--checkpoints_dir', folder, '--image_path', files['image'],
            '--segmap_path', files['label'], '--instance_path', files['instance'], '--mask_path', files['mask'],
            '--output_path', str(out), '--device', 'cpu', *extra]
    return [str(a) for a in argv] + (['--style_dir', str(refs)] if refs else [])


def run(folder, files, out, *extra, refs=None):
    test_script.main(argv_of(folder, files, out, *extra, refs=refs))
    return np.asarray(Image.open(out).convert('RGB')).astype(int)


def edit_fails(capsys, out_dir, argv, *said, watch=()):
    """test.py stops with exit 2 and one line holding ``said``, writing nothing: no output in the
    fresh ``out_dir`` (not even the folder), nothing in ``watch``."""
    assert not os.path.exists(out_dir)
    with helpers.NothingWritten(out_dir, *watch):
        line = helpers.expect_user_error(test_script.main, argv, capsys, *said)
    assert not os.path.exists(out_dir), 'the output folder was created'
    return line


def editor(folder):
    opt = default_options(False, model='siedob', checkpoints_dir=folder, dataset_name='cityscapes')
    from semedit.models.siedob_model import SIEDOBModel
    ckpt, path = SIEDOBModel.read_checkpoint_folder(opt)
    return SIEDOBModel.from_checkpoint(opt, CPU, ckpt, path)


def batch_of(*scenes, order='bgr'):
    from semedit.util.tensors import image_to_tensor
    return {'image': torch.stack([image_to_tensor(s[0], order) for s in scenes]),
            'label': torch.stack([torch.from_numpy(s[1])[None] for s in scenes]),
            'instance': torch.stack([torch.from_numpy(s[2])[None] for s in scenes]),
            'mask': torch.stack([torch.from_numpy(s[3])[None] for s in scenes])}


# ---- loading -----------------------------------------------------------------------------------

def test_parts_in_the_authors_layout_edit_as_ours(folders, tmp_path):
    """The four files written in the authors' layout hold what their code reads (the key of each
    file, bg_G's and F_stage's keys and shapes, the object generators' prefixes and modules, all
    written out from upstream's networks/ here) and edit as our files with the same weights."""
    for stage, name in FILES.items():
        theirs = torch.load(os.path.join(folders['authors'], name), weights_only=True)
        assert set(theirs) == {'epoch', AUTHORS_NET_KEY[stage]}, name
        assert_authors_layout(stage, theirs[AUTHORS_NET_KEY[stage]], WIDTHS[stage])
    files = write_scene(str(tmp_path / 'scene'), cars=((10, 30, 8, 30, True), (34, 50, 36, 60, False)))
    ours = run(folders['ours'], files, tmp_path / 'ours.png', refs=folders['refs'])
    theirs = run(folders['authors'], files, tmp_path / 'theirs.png', refs=folders['refs'])
    assert np.array_equal(ours, theirs)
    a, b = editor(folders['ours']), editor(folders['authors'])
    for name, net in a.nets().items():
        other = b.nets()[name].state_dict()
        assert all(torch.equal(v, other[k]) for k, v in net.state_dict().items()), name


def test_fnet_round_trips_through_the_authors_layout(tmp_path):
    """Our fusion checkpoint written as the authors' Fnet.pth has F_stage's keys and shapes (upstream
    fusion/networks/F_stage.py, written out here) and reads back to the same weights; a bare F_stage
    state dict is recognised too."""
    ckpt = part_checkpoint('fusion')
    theirs = legacy.to_upstream(ckpt)
    assert set(theirs) == {'epoch', 'netG_F'}
    assert {k: tuple(v.shape) for k, v in theirs['netG_F'].items()} == authors_fusion_layout(WIDTHS['fusion'])
    torch.save(theirs, tmp_path / 'Fnet.pth')
    back = legacy.load_checkpoint(str(tmp_path / 'Fnet.pth'))
    assert (back['model'], back['stage'], back['arch']['ngf']) == ('siedob', 'fusion', ckpt['arch']['ngf'])
    assert all(torch.equal(v, back['nets']['netG_F'][k]) for k, v in ckpt['nets']['netG_F'].items())
    torch.save(theirs['netG_F'], tmp_path / 'bare.pth')
    assert legacy.load_checkpoint(str(tmp_path / 'bare.pth'))['stage'] == 'fusion'


def test_convert_checkpoint_round_trips_all_four_authors_files(tmp_path, folders):
    """Each authors'-layout file -> ours -> the authors' layout again gives the same keys and tensors."""
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

def test_any_size_and_any_seed_give_one_result(folders, tmp_path):
    """A single edit draws nothing at random (reference k mod N, the nets in eval mode): --seed 3 and
    --seed 4 give the same picture, at a size other than the training one; only masked pixels change."""
    cars = ((4, 14, 8, 30, True), (20, 40, 50, 70, False), (20, 30, 4, 20, True), (34, 44, 20, 40, True))
    files = write_scene(str(tmp_path / 'wide'), size=(48, 80), cars=cars, persons=((30, 46, 72, 78, True),))
    a = run(folders['ours'], files, tmp_path / 'new' / 'dir' / 'a.png', '--seed', '3', refs=folders['refs'])
    b = run(folders['ours'], files, tmp_path / 'b.png', '--seed', '4', refs=folders['refs'])
    assert a.shape == (48, 80, 3) and np.array_equal(a, b)
    image = np.asarray(Image.open(files['image']).convert('RGB')).astype(int)
    known = np.asarray(Image.open(files['mask'])) == 0
    assert np.array_equal(a[known], image[known])  # pasted back inside the mask only
    assert not np.array_equal(a[~known], image[~known])


@pytest.mark.parametrize('orientation', range(2, 9))
def test_a_phone_photo_and_a_mask_on_a_transparent_layer_edit_as_seen(folders, tmp_path, orientation):
    """The scene's 80×48 (W×H) picture stored sideways under each orientation (5-8: stored 48×80),
    its mask painted on a transparent layer hiding white: the edit of the upright picture with the
    plain mask, a wholly and a partly covered car included."""
    from user_files import phone_photo, transparent_layer_mask
    cars = ((4, 14, 8, 30, True), (20, 40, 50, 70, False))
    files = write_scene(str(tmp_path / 's'), size=(48, 80), cars=cars, persons=((30, 46, 72, 78, True),))
    upright = np.asarray(Image.open(files['image']).convert('RGB'))
    photo, reference = phone_photo(tmp_path, upright, orientation)
    painted = np.asarray(Image.open(files['mask'])) >= 128
    layer = transparent_layer_mask(str(tmp_path / 'layer.png'), painted)
    seen = run(folders['ours'], dict(files, image=photo, mask=layer), tmp_path / 'a.png', refs=folders['refs'])
    shown = run(folders['ours'], dict(files, image=reference), tmp_path / 'b.png', refs=folders['refs'])
    assert np.array_equal(seen, shown)


def test_empty_mask_and_palette_labels_just_work(folders, tmp_path):
    files = write_scene(str(tmp_path / 's'))
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(files['mask'])
    label = np.asarray(Image.open(files['label']))
    pal = Image.fromarray(label, mode='P')
    pal.putpalette([v for i in range(256) for v in (i, 255 - i, (7 * i) % 256)])
    pal.save(files['label'])
    out = run(folders['ours'], files, tmp_path / 'o.png', '--quantize', 'round', refs=folders['refs'])
    assert np.array_equal(out, np.asarray(Image.open(files['image']).convert('RGB')))


def test_the_test_splits_masks_follow_the_seed(folders, demo_root, tmp_path):
    """Without --mask_dir the test split's masks are drawn from --seed (data/scene_dataset.py): the
    same seed gives the same masks and edits, another seed others; the dataset is only read."""
    def split(seed, name):
        results = tmp_path / name
        test_script.main(['--model', 'siedob', '--checkpoints_dir', folders['ours'], '--dataroot', demo_root,
                          '--dataset_name', 'demo', '--how_many', '1', '--results_dir', str(results), '--device',
                          'cpu', '--style_dir', folders['refs'], '--seed', str(seed)])
        out = results / 'experiment' / 'test_latest'
        return [np.asarray(Image.open(out / kind / 'demo_00000.png')) for kind in ('masks', 'edited')]

    with helpers.NothingWritten(demo_root):
        (mask1, edit1), (again1, again_edit1), (mask2, edit2) = split(1, 'a'), split(1, 'b'), split(2, 'c')
    assert np.array_equal(mask1, again1) and np.array_equal(edit1, again_edit1)
    assert not np.array_equal(mask1, mask2) and not np.array_equal(edit1, edit2)


def background_generator_calls(argv):
    """The arguments (x, seg, mask, bg_mask) of every background generator call while test.py runs."""
    from semedit.models.networks.siedob import BackgroundGenerator
    calls = []

    def hook(module, args, output):
        if isinstance(module, BackgroundGenerator):
            calls.append([a.detach().clone() for a in args])

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        test_script.main(argv)
    finally:
        handle.remove()
    return calls


def test_bg_inputs_chooses_what_the_background_generator_receives(folders, tmp_path):
    """--bg_inputs upstream (the default): the masked image I·(1−M) and the full mask M, as upstream's
    G_stage.py calls bg_G; as_trained: I·(1−M)·Bg and M·Bg, what background/trainer.py trains it on.
    A partly edited car (selected, so Bg = 0 on it, visible below the mask) tells them apart; the
    scene is edited at its own size (--preprocess none)."""
    image, label, _, mask = scene((64, 64), cars=((10, 30, 8, 30, False),))
    files = write_scene(str(tmp_path / 's'), cars=((10, 30, 8, 30, False),))
    i = torch.from_numpy(image[..., ::-1].copy()).permute(2, 0, 1)[None].double() / 127.5 - 1  # BGR, [−1, 1]
    m = torch.from_numpy(mask)[None, None].double()
    bg = torch.from_numpy(label != 26)[None, None].double()
    want = {'upstream': (i * (1 - m), m), 'as_trained': (i * (1 - m) * bg, m * bg)}
    assert not torch.equal(*(w[0] for w in want.values())) and not torch.equal(*(w[1] for w in want.values()))
    for flag, (masked, given_mask) in want.items():
        extra = ('--preprocess', 'none') + (('--bg_inputs', flag) if flag != 'upstream' else ())
        (x, seg, m_arg, bg_arg), = background_generator_calls(
            argv_of(folders['ours'], files, tmp_path / f'{flag}.png', *extra, refs=folders['refs']))
        assert torch.allclose(x[:, :3].double(), masked, rtol=0, atol=1e-6), flag
        assert torch.equal(x[:, -1:].double(), given_mask) and torch.equal(m_arg.double(), given_mask), flag
        assert torch.equal(bg_arg.double(), bg), flag


# ---- the errors: exit 2, one line, nothing written -----------------------------------------------------

def test_missing_folder_or_file(folders, tmp_path, capsys):
    files = write_scene(str(tmp_path / 's'))
    edit_fails(capsys, tmp_path / 'out1', argv_of(tmp_path / 'nowhere', files, tmp_path / 'out1' / 'o.png'),
               'checkpoint folder not found', 'nowhere')
    partial = tmp_path / 'partial'
    write_parts(str(partial))
    os.remove(partial / 'object_style.pth')
    edit_fails(capsys, tmp_path / 'out2', argv_of(partial, files, tmp_path / 'out2' / 'o.png'),
               str(partial / 'object_style.pth'), 'not found', 'object-style', watch=[partial])


def test_corrupt_or_wrong_kind_files(folders, tmp_path, capsys):
    files = write_scene(str(tmp_path / 's'))
    bad = tmp_path / 'bad'

    def fails(n, *said):
        out = tmp_path / f'out{n}'
        edit_fails(capsys, out, argv_of(bad, files, out / 'o.png'), *said, watch=[bad])

    write_parts(str(bad))
    (bad / 'Fnet.pth').write_bytes(b'not a checkpoint')
    fails(1, str(bad / 'Fnet.pth'), 'cannot read')
    write_parts(str(bad))
    from semedit.models.networks.spmpgan import ProgressiveGenerator
    from semedit.util.checkpoint import make_checkpoint
    sd = ProgressiveGenerator(34, ngf=4).state_dict()
    save_checkpoint(make_checkpoint('spmpgan', {'label_nc': 34, 'ngf': 4}, {'netG': sd}), str(bad / 'bg.pth'))
    fails(2, str(bad / 'bg.pth'), 'is a spmpgan checkpoint', 'background generator')
    write_parts(str(bad))
    os.replace(bad / 'object_inpainting.pth', bad / 'tmp.pth')
    os.replace(bad / 'object_style.pth', bad / 'object_inpainting.pth')
    fails(3, str(bad / 'object_inpainting.pth'), 'object_style checkpoint')


def test_bad_inputs(folders, tmp_path, capsys):
    files = write_scene(str(tmp_path / 's'))
    watch = [folders['root']]
    Image.fromarray(np.zeros((32, 64), np.uint16)).save(tmp_path / 'small_inst.png')
    small = dict(files, instance=str(tmp_path / 'small_inst.png'))
    edit_fails(capsys, tmp_path / 'out1', argv_of(folders['ours'], small, tmp_path / 'out1' / 'o.png'),
               'small_inst.png', 'size mismatch', watch=watch)
    label = np.asarray(Image.open(files['label'])).copy()
    label[0, 0] = 40
    Image.fromarray(label).save(tmp_path / 'l40.png')
    label40 = dict(files, label=str(tmp_path / 'l40.png'))
    edit_fails(capsys, tmp_path / 'out2', argv_of(folders['ours'], label40, tmp_path / 'out2' / 'o.png'),
               'l40.png', 'label id 40', '0..33', watch=watch)
    refs = write_references(str(tmp_path / 'cars_only'), {'car': 1})
    persons = write_scene(str(tmp_path / 'p'), cars=(), persons=((20, 50, 20, 30, True),))
    edit_fails(capsys, tmp_path / 'out3', argv_of(folders['ours'], persons, tmp_path / 'out3' / 'o.png', refs=refs),
               'no person references', os.path.join(refs, 'person'), watch=watch + [refs])
    run(folders['ours'], files, tmp_path / 'o.png', refs=refs)  # cars only: a REFS folder without persons is fine there


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
    with helpers.NothingWritten(tmp_path, folders['authors']):
        helpers.expect_user_error(test_script.main, argv_of(folders['authors'], wholly, work / 'o.png'), capsys,
                                  'no car references', '--style_dir')
    assert os.listdir(work) == []
    before = helpers.files_under(tmp_path, folders['authors'])
    run(folders['authors'], partly, work / 'o.png')
    assert helpers.files_under(tmp_path, folders['authors']) == before | {str(work / 'o.png')}


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
    argv = argv_of(folders['ours'], files, tmp_path / 'out' / 'o.png')
    i = argv.index('--instance_path')
    edit_fails(capsys, tmp_path / 'out', argv[:i] + argv[i + 2:], '--instance_path', watch=[tmp_path])


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
