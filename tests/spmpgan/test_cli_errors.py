"""train.py / test.py on bad and on fair input, driven in-process through ``main(argv)``.

Bad input must end in one line ``error: ...`` on stderr, exit code 2, no traceback, a message that
names the file and says what is wrong, and nothing written where an output was requested. Fair
input (palette or grey-RGB label maps, an empty mask, an output folder that does not exist yet, a
bare netG state dict) must work. A 1-iteration ngf-4 checkpoint is trained once per session.

"""
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

import helpers
import test as test_script
import train as train_script
from semedit.models.networks.spmpgan import ProgressiveGenerator

# ``test`` is also the name of a standard-library package: make sure we drive the repository's test.py.
assert hasattr(test_script, 'edit_single_image'), f'imported the wrong "test" module: {test_script.__file__}'

SIZE = 256
LABEL_NC = 34  # demo = Cityscapes labelIds


# ---- helpers -------------------------------------------------------------------------------

def run_main(script, argv, capsys):
    """``script.main(argv)`` on one thread (``helpers.run_main``): (exit code, stdout, stderr, return value)."""
    with helpers.one_thread():
        return helpers.run_main(script.main, argv, capsys)


def expect_user_error(script, argv, capsys, *fragments):
    """The error contract (``helpers.expect_user_error``), on one thread: exit 2, exactly one stderr
    line 'error: ...' holding every fragment, and no traceback anywhere."""
    with helpers.one_thread():
        return helpers.expect_user_error(script.main, argv, capsys, *fragments)


def write_random_bytes(path, n=4096, seed=0):
    path.write_bytes(np.random.RandomState(seed).bytes(n))
    return path


def write_mask(path, box=None):
    """256×256 'L' mask: 255 (edit) inside ``box`` = (top, bottom, left, right), 0 elsewhere."""
    a = np.zeros((SIZE, SIZE), np.uint8)
    if box is not None:
        t, b, l, r = box
        a[t:b, l:r] = 255
    Image.fromarray(a, 'L').save(path)
    return path


def read_png(path):
    with Image.open(path) as img:
        return np.asarray(img.convert('RGB'))


def files_under(path):
    return sorted(os.path.relpath(os.path.join(d, n), path) for d, _, names in os.walk(path) for n in names)


# ---- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope='session')
def env(tmp_path_factory, demo_root):
    """A 1-iteration ngf-4 checkpoint on the session's demo data (left as it was), the demo test files
    and two masks."""
    root = tmp_path_factory.mktemp('cli')
    dataroot, checkpoints = Path(demo_root), root / 'checkpoints'
    with helpers.one_thread(), helpers.NothingWritten(dataroot):
        train_script.main(['--dataset_name', 'demo', '--dataroot', str(dataroot), '--checkpoints_dir',
                           str(checkpoints), '--name', 't', '--ngf', '4', '--ndf', '8', '--lambda_vgg', '0',
                           '--max_iters', '1', '--num_workers', '0', '--no_tensorboard'])
    ckpt = checkpoints / 't' / 'latest.pth'
    assert ckpt.is_file()
    test_dir = dataroot / 'demo' / 'test'
    masks = root / 'masks'
    masks.mkdir()
    e = SimpleNamespace(
        root=root, dataroot=dataroot, checkpoints=checkpoints, ckpt=ckpt,
        image=test_dir / 'images' / 'demo_00000.jpg',
        label=test_dir / 'labels' / 'demo_00000.png',
        inst=test_dir / 'inst_map' / 'demo_00000.png',
        n_test=len(os.listdir(test_dir / 'images')),
        mask=write_mask(masks / 'box.png', (64, 192, 64, 192)),
        empty_mask=write_mask(masks / 'empty.png'),
    )
    with Image.open(e.label) as img:
        assert img.mode == 'L' and img.size == (SIZE, SIZE)
        e.label_ids = np.asarray(img).copy()
    assert e.label_ids.max() < LABEL_NC
    return e


@pytest.fixture(scope='session')
def ckpt_dict(env):
    return torch.load(env.ckpt, map_location='cpu', weights_only=True)


@pytest.fixture(scope='session')
def reference_output(env, tmp_path_factory):
    """The edit of demo_00000 with the original 'L' label map and the box mask."""
    out = tmp_path_factory.mktemp('ref') / 'ref.png'
    with helpers.one_thread():
        test_script.main(['--checkpoint', str(env.ckpt), '--image_path', str(env.image), '--segmap_path',
                          str(env.label), '--mask_path', str(env.mask), '--output_path', str(out),
                          '--device', 'cpu'])
    return read_png(out)


def single_argv(env, out, image=None, label=None, mask=None, ckpt=None):
    return ['--checkpoint', ckpt or env.ckpt, '--image_path', image or env.image,
            '--segmap_path', label or env.label, '--mask_path', mask or env.mask,
            '--output_path', out, '--device', 'cpu']


@pytest.fixture
def out_path(tmp_path):
    """The requested output, in a folder that must not appear when the run fails."""
    return tmp_path / 'out' / 'edit.png'


def assert_nothing_written(out):
    assert not out.parent.exists(), f'a failed run left {files_under(out.parent) or "an empty folder"} in {out.parent}'


# ---- 1. missing files ----------------------------------------------------------------------

@pytest.mark.parametrize('which', ['image', 'label', 'mask', 'ckpt'])
def test_missing_file(env, tmp_path, out_path, capsys, which):
    missing = tmp_path / f'does_not_exist_{which}.png'
    expect_user_error(test_script, single_argv(env, out_path, **{which: missing}), capsys, 'not found', missing)
    assert_nothing_written(out_path)


def test_missing_experiment_checkpoint_says_how_to_fix(env, tmp_path, capsys):
    """No --checkpoint: checkpoints/<name>/latest.pth is looked up and the message says what to do."""
    results = tmp_path / 'results'
    expect_user_error(test_script, ['--checkpoints_dir', tmp_path, '--name', 'never_trained', '--dataroot',
                                    env.dataroot, '--results_dir', results, '--device', 'cpu'], capsys,
                      'checkpoint not found', tmp_path / 'never_trained' / 'latest.pth', 'train first', '--checkpoint')
    assert not results.exists()


# ---- 2. unreadable files -------------------------------------------------------------------

def test_corrupt_image(env, tmp_path, out_path, capsys):
    bad = write_random_bytes(tmp_path / 'noise.jpg')
    expect_user_error(test_script, single_argv(env, out_path, image=bad), capsys, 'cannot read', bad,
                      'not a valid image')
    assert_nothing_written(out_path)


def test_truncated_image(env, tmp_path, out_path, capsys):
    data = env.image.read_bytes()
    bad = tmp_path / 'half.jpg'
    bad.write_bytes(data[:len(data) // 2])
    expect_user_error(test_script, single_argv(env, out_path, image=bad), capsys, 'cannot read', bad)
    assert_nothing_written(out_path)


def test_corrupt_label_and_mask(env, tmp_path, out_path, capsys):
    bad = write_random_bytes(tmp_path / 'noise.png', seed=1)
    expect_user_error(test_script, single_argv(env, out_path, label=bad), capsys, 'cannot read', 'label map', bad)
    expect_user_error(test_script, single_argv(env, out_path, mask=bad), capsys, 'cannot read', 'mask', bad)
    assert_nothing_written(out_path)


@pytest.mark.parametrize('kind', ['random', 'truncated', 'empty'])
def test_unreadable_checkpoint(env, tmp_path, out_path, capsys, kind):
    bad = tmp_path / f'{kind}.pth'
    if kind == 'random':
        write_random_bytes(bad, seed=2)
    elif kind == 'truncated':
        data = env.ckpt.read_bytes()
        bad.write_bytes(data[:len(data) // 2])
    else:
        bad.write_bytes(b'')
    expect_user_error(test_script, single_argv(env, out_path, ckpt=bad), capsys,
                      'cannot read checkpoint', bad, 're-download or re-save')
    assert_nothing_written(out_path)


# ---- 3-5. label maps that do not fit -------------------------------------------------------

def test_label_id_out_of_range(env, tmp_path, out_path, capsys):
    ids = env.label_ids.copy()
    ids[100:110, 100:110] = 40
    bad = tmp_path / 'label_40.png'
    Image.fromarray(ids, 'L').save(bad)
    expect_user_error(test_script, single_argv(env, out_path, label=bad), capsys,
                      bad, 'label id 40', 'label_nc is 34', '0..33', '--dataset_name')
    assert_nothing_written(out_path)


def test_negative_label_id_is_named(env, tmp_path, out_path, capsys):
    ids = env.label_ids.astype(np.int32)
    ids[:10, :10] = -1
    bad = tmp_path / 'label_neg.tif'
    Image.fromarray(ids, 'I').save(bad)
    with Image.open(bad) as img:
        assert img.mode == 'I' and np.asarray(img).min() == -1
    expect_user_error(test_script, single_argv(env, out_path, label=bad), capsys, bad, '-1', 'label_nc')
    assert_nothing_written(out_path)


@pytest.mark.parametrize('which', ['label', 'mask'])
def test_size_mismatch(env, tmp_path, out_path, capsys, which):
    bad = tmp_path / f'{which}_512x256.png'
    if which == 'label':
        Image.fromarray(np.repeat(env.label_ids, 2, axis=1), 'L').save(bad)  # 512 wide, 256 high
    else:
        Image.fromarray(np.full((SIZE, 2 * SIZE), 255, np.uint8), 'L').save(bad)
    msg = expect_user_error(test_script, single_argv(env, out_path, **{which: bad}), capsys,
                            'size mismatch', bad, env.image, '512×256', '256×256')
    assert msg.index(str(bad)) < msg.index(str(env.image))
    assert_nothing_written(out_path)


def test_colour_label_map_is_refused(env, tmp_path, out_path, capsys):
    rgb = np.stack([env.label_ids, env.label_ids, env.label_ids], -1)
    rgb[..., 0] = (rgb[..., 0].astype(int) * 7 + 50) % 256  # a colour-coded map: channels differ
    bad = tmp_path / 'label_color.png'
    Image.fromarray(rgb, 'RGB').save(bad)
    expect_user_error(test_script, single_argv(env, out_path, label=bad), capsys,
                      bad, 'colour (RGB)', 'single-channel', 'labelIds')
    assert_nothing_written(out_path)


# ---- 6-8. checkpoints that are not a usable generator --------------------------------------

def test_discriminator_state_dict(env, ckpt_dict, tmp_path, out_path, capsys):
    bad = tmp_path / 'netD_1.pth'
    torch.save(ckpt_dict['nets']['netD_1'], bad)
    expect_user_error(test_script, single_argv(env, out_path, ckpt=bad), capsys, bad, 'discriminator', 'netG',
                      'latest.pth')
    assert_nothing_written(out_path)


def test_optimizer_state_dict(env, ckpt_dict, tmp_path, out_path, capsys):
    bad = tmp_path / 'optimizer_G.pth'
    torch.save(ckpt_dict['optimizers']['optimizer_G'], bad)
    expect_user_error(test_script, single_argv(env, out_path, ckpt=bad), capsys, bad, 'optimiser state',
                      'no generator', 'latest.pth')
    assert_nothing_written(out_path)


@pytest.mark.parametrize('case', ['d_only', 'd_and_optimisers', 'optimisers_only', 'native_without_g'])
def test_partial_checkpoint_says_what_it_holds(env, ckpt_dict, tmp_path, out_path, capsys, case):
    """Files without a generator (the authors' trainer can leave {'netD_1': ..., 'epoch': 0}): one line
    naming the file, what it holds, that netG is missing, and what to give instead."""
    nets, optimisers = ckpt_dict['nets'], ckpt_dict['optimizers']
    content, holds = {
        'd_only': ({'netD_1': nets['netD_1'], 'epoch': 0}, ['discriminator weights (netD_1)']),
        'd_and_optimisers': ({'netD_1': nets['netD_1'], 'netD_2': nets['netD_2'], 'netD_3': nets['netD_3'],
                              'optimizer_G': optimisers['optimizer_G'], 'epoch': 3},
                             ['discriminator weights (netD_1, netD_2, netD_3)', 'optimiser states (optimizer_G)']),
        'optimisers_only': ({'optimizer_G': optimisers['optimizer_G'], 'optimizer_D_1': optimisers['optimizer_D_1']},
                            ['optimiser states (optimizer_D_1, optimizer_G)']),
        'native_without_g': (dict(ckpt_dict, nets={k: v for k, v in nets.items() if k != 'netG'}),
                             ['netD_1, netD_2, netD_3']),
    }[case]
    bad = tmp_path / f'{case}.pth'
    torch.save(content, bad)
    expect_user_error(test_script, single_argv(env, out_path, ckpt=bad), capsys, bad, *holds, 'no generator' if
                      case != 'native_without_g' else 'no netG', 'latest.pth', 'cityscapes.pth')
    assert_nothing_written(out_path)


def test_dict_with_integer_keys(env, ckpt_dict, tmp_path, out_path, capsys):
    bad = tmp_path / 'optimizer_state_only.pth'
    torch.save(ckpt_dict['optimizers']['optimizer_G']['state'], bad)
    expect_user_error(test_script, single_argv(env, out_path, ckpt=bad), capsys, bad, 'not a recognised checkpoint')
    assert_nothing_written(out_path)


def test_checkpoint_label_count_contradicts_dataset_name(env, ckpt_dict, tmp_path, out_path, capsys):
    ckpt = dict(ckpt_dict, nets=dict(ckpt_dict['nets']), arch=dict(ckpt_dict['arch'], label_nc=151))
    ckpt['nets']['netG'] = ProgressiveGenerator(151, ngf=4).state_dict()
    path = tmp_path / 'ade_labels.pth'
    torch.save(ckpt, path)
    argv = single_argv(env, out_path, ckpt=path) + ['--dataset_name', 'cityscapes']
    expect_user_error(test_script, argv, capsys, path, '151 label ids', '--dataset_name cityscapes', '34', 'ade20k')
    assert_nothing_written(out_path)


def test_checkpoint_with_misshaped_weights(env, ckpt_dict, tmp_path, out_path, capsys):
    ckpt = dict(ckpt_dict, nets=dict(ckpt_dict['nets']))
    ckpt['nets']['netG'] = ProgressiveGenerator(LABEL_NC, ngf=8).state_dict()  # arch still says ngf 4
    assert ckpt['arch']['ngf'] == 4
    path = tmp_path / 'ngf8_weights.pth'
    torch.save(ckpt, path)
    msg = expect_user_error(test_script, single_argv(env, out_path, ckpt=path), capsys,
                            path, 'netG does not fit the model', 'with other shapes (e.g. ', 'file (', 'vs model (',
                            'Different architecture options (--label_nc, --ngf, --ndf, --color_order)')
    assert 'Error(s) in loading state_dict' not in msg and 'size mismatch for' not in msg
    assert_nothing_written(out_path)


def test_bare_generator_state_dict_is_accepted(env, ckpt_dict, reference_output, tmp_path, capsys):
    """Fair input: netG's state dict saved alone (upstream-style bare file) loads; arch is read from
    the weight shapes, so the edit is the same as with the full checkpoint."""
    bare = tmp_path / 'netG_only.pth'
    torch.save(ckpt_dict['nets']['netG'], bare)
    out = tmp_path / 'edit.png'
    code, _, err, _ = run_main(test_script, single_argv(env, out, ckpt=bare), capsys)
    assert code == 0, err
    np.testing.assert_array_equal(read_png(out), reference_output)


# ---- 9. incomplete single-image arguments --------------------------------------------------

@pytest.mark.parametrize('given', [('--image_path',), ('--image_path', '--segmap_path'), ('--mask_path',)])
def test_single_image_needs_all_three_paths(env, out_path, capsys, given):
    value = {'--image_path': env.image, '--segmap_path': env.label, '--mask_path': env.mask}
    argv = ['--checkpoint', env.ckpt, '--output_path', out_path, '--device', 'cpu']
    for flag in given:
        argv += [flag, value[flag]]
    expect_user_error(test_script, argv, capsys, '--image_path', '--segmap_path', '--mask_path', 'needs')
    assert_nothing_written(out_path)


# ---- 10. fair input works ------------------------------------------------------------------

def test_palette_label_into_new_folders(env, reference_output, tmp_path, capsys):
    """A 'P' label map (indices = ids, a colourful palette) edits exactly like the 'L' one, and the
    output folders are created."""
    pal_path = tmp_path / 'label_palette.png'
    img = Image.fromarray(env.label_ids, 'L')
    palette = np.random.RandomState(3).randint(0, 256, (256, 3)).astype(np.uint8)
    img.putpalette(palette.tobytes())
    img.save(pal_path)
    with Image.open(pal_path) as check:
        assert check.mode == 'P'
        np.testing.assert_array_equal(np.asarray(check), env.label_ids)
    out = tmp_path / 'new' / 'deeper' / 'edit.png'
    assert not out.parent.parent.exists()
    code, stdout, err, result = run_main(test_script, single_argv(env, out, label=pal_path), capsys)
    assert code == 0 and 'Traceback' not in err, err
    assert f'Wrote {out}' in stdout
    assert files_under(tmp_path / 'new') == [os.path.join('deeper', 'edit.png')]  # no temp files left
    written = read_png(out)
    assert written.shape == (SIZE, SIZE, 3)
    np.testing.assert_array_equal(written, result)
    np.testing.assert_array_equal(written, reference_output)


def test_grey_rgb_label_is_accepted(env, reference_output, tmp_path, capsys):
    grey = tmp_path / 'label_grey_rgb.png'
    Image.fromarray(np.stack([env.label_ids] * 3, -1), 'RGB').save(grey)
    out = tmp_path / 'edit.png'
    code, _, err, _ = run_main(test_script, single_argv(env, out, label=grey), capsys)
    assert code == 0, err
    np.testing.assert_array_equal(read_png(out), reference_output)


def _round_trip_lut():
    """What tensor_to_image(image_to_tensor(v)) gives for v = 0..255: x/255*2-1 in float32, then
    (t+1)/2*255 *truncated* (upstream utils.py tensor2im). Float rounding puts 1..63 just below
    the integer, so they come back one lower; 0 and 64..255 come back exactly."""
    t = torch.arange(256, dtype=torch.float32).div(255.0).sub(0.5).div(0.5)
    return ((t.clamp(-1, 1) + 1) / 2 * 255).clamp(0, 255).numpy().astype(np.uint8)


def test_empty_mask_returns_the_input(env, tmp_path, capsys):
    """An all-black mask is valid. The output is the composite M·G + (1-M)·image with M = 0, i.e. the
    input tensor exactly; the only change is the [-1, 1] -> uint8 truncation. So the tightest bound
    is not |diff| <= 1 but: output == LUT[input], with input - output = 1 for values 1..63, 0 else."""
    lut = _round_trip_lut()
    v = np.arange(256)
    np.testing.assert_array_equal(lut.astype(int), v - ((v >= 1) & (v <= 63)))
    out = tmp_path / 'edit.png'
    code, stdout, err, _ = run_main(test_script, single_argv(env, out, mask=env.empty_mask), capsys)
    assert code == 0, err
    assert files_under(tmp_path) == ['edit.png']  # no _masked / _panel without --save_panel
    with Image.open(env.image) as img:
        src = np.asarray(img.convert('RGB'))  # decoded as util.image_io.read_image does
    got = read_png(out)
    np.testing.assert_array_equal(got, lut[src])
    diff = src.astype(int) - got.astype(int)
    assert diff.min() == 0 and diff.max() <= 1
    assert np.all(diff[(src == 0) | (src >= 64)] == 0)
    # --quantize round (the fix) returns every unchanged pixel exactly
    out2 = tmp_path / 'edit_round.png'
    code, _, err, _ = run_main(test_script, single_argv(env, out2, mask=env.empty_mask) + ['--quantize', 'round'],
                               capsys)
    assert code == 0, err
    np.testing.assert_array_equal(read_png(out2), src)


# ---- 11. train.py --------------------------------------------------------------------------

def train_argv(dataroot, checkpoints, *extra):
    return ['--dataroot', dataroot, '--checkpoints_dir', checkpoints, '--name', 'fresh', '--ngf', '4', '--ndf', '8',
            '--lambda_vgg', '0', '--max_iters', '1', '--num_workers', '0', '--no_tensorboard', *extra]


def test_train_custom_without_label_nc(tmp_path, capsys):
    ck = tmp_path / 'ck'
    expect_user_error(train_script, train_argv(tmp_path, ck, '--dataset_name', 'custom'), capsys,
                      '--dataset_name custom needs --label_nc')
    assert not ck.exists()


def test_train_dataset_folder_missing(tmp_path, capsys):
    ck = tmp_path / 'ck'
    root = tmp_path / 'datasets'
    root.mkdir()
    expect_user_error(train_script, train_argv(root, ck, '--dataset_name', 'cityscapes'), capsys,
                      'dataset folder not found', root / 'cityscapes' / 'train' / 'images')
    assert not ck.exists()


def test_train_unknown_dataset_name(tmp_path, capsys):
    """argparse's own error: usage plus one 'error:' line, exit 2, the valid names listed."""
    ck = tmp_path / 'ck'
    code, out, err, _ = run_main(train_script, train_argv(tmp_path, ck, '--dataset_name', 'citiscapes'), capsys)
    assert code == 2 and 'Traceback' not in out + err
    last = err.strip().splitlines()[-1]
    assert "unknown --dataset_name 'citiscapes'" in last and 'cityscapes' in last.split('choose one of:')[1]
    assert not ck.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a machine without CUDA')
@pytest.mark.parametrize('script', ['train', 'test'])
def test_device_cuda_without_gpu(env, tmp_path, out_path, capsys, script):
    if script == 'train':
        ck = tmp_path / 'ck'
        expect_user_error(train_script, train_argv(env.dataroot, ck, '--dataset_name', 'demo', '--device', 'cuda'),
                          capsys, '--device cuda', 'no CUDA GPU', '--device cpu')
        assert not ck.exists()
    else:
        argv = single_argv(env, out_path)[:-2] + ['--device', 'cuda']
        expect_user_error(test_script, argv, capsys, '--device cuda', 'no CUDA GPU', '--device cpu')
        assert_nothing_written(out_path)


def test_train_continue_without_checkpoint(env, tmp_path, capsys):
    ck = tmp_path / 'ck'
    expect_user_error(train_script, train_argv(env.dataroot, ck, '--dataset_name', 'demo', '--continue_train'),
                      capsys, 'not found', ck / 'fresh' / 'latest.pth')
    assert not (ck / 'fresh').exists()


# ---- 12. test.py on the test split ---------------------------------------------------------

def test_mask_dir_with_too_few_masks(env, tmp_path, capsys):
    mask_dir = tmp_path / 'masks'
    mask_dir.mkdir()
    for i in range(3):
        write_mask(mask_dir / f'm{i}.png', (0, 128, 0, 128))
    results = tmp_path / 'results'
    assert env.n_test > 3
    expect_user_error(test_script, ['--checkpoint', env.ckpt, '--dataroot', env.dataroot, '--dataset_name', 'demo',
                                    '--mask_dir', mask_dir, '--results_dir', results, '--device', 'cpu'], capsys,
                      mask_dir, 'has 3 masks', f'has {env.n_test} images', 'at least as many')
    assert not results.exists()


def test_mask_dir_missing(env, tmp_path, capsys):
    results = tmp_path / 'results'
    missing = tmp_path / 'no_masks'
    expect_user_error(test_script, ['--checkpoint', env.ckpt, '--dataroot', env.dataroot, '--mask_dir', missing,
                                    '--results_dir', results, '--device', 'cpu'], capsys,
                      'mask folder not found', missing)
    assert not results.exists()


# ---- output paths --------------------------------------------------------------------------

def test_unknown_output_extension(env, tmp_path, capsys):
    out = tmp_path / 'out' / 'edit.tiff'
    expect_user_error(test_script, single_argv(env, out), capsys, 'cannot write', out, "'.tiff'", '.png')
    assert not out.exists()


def test_unknown_output_extension_creates_nothing(env, tmp_path, out_path, capsys):
    out = out_path.with_suffix('.tiff')
    expect_user_error(test_script, single_argv(env, out), capsys, 'cannot write', out)
    assert_nothing_written(out)


def test_output_path_is_a_folder(env, tmp_path, capsys):
    folder = tmp_path / 'results'
    folder.mkdir()
    expect_user_error(test_script, single_argv(env, folder), capsys, folder)
    assert files_under(tmp_path) == []


def test_output_parent_is_a_file(env, tmp_path, capsys):
    blocker = tmp_path / 'results'
    blocker.write_bytes(b'')
    expect_user_error(test_script, single_argv(env, blocker / 'edit.png'), capsys, blocker)


# ---- 13. --help ----------------------------------------------------------------------------

@pytest.mark.parametrize('script', [train_script, test_script], ids=['train', 'test'])
def test_help(script, capsys):
    code, out, err, _ = run_main(script, ['--help'], capsys)
    assert code == 0, err
    assert '--dataset_name' in out and '--ngf' in out and 'usage:' in out
    if script is test_script:
        assert '--image_path' in out and '--mask_dir' in out
    else:
        assert '--continue_train' in out and '--max_iters' in out


@pytest.mark.skipif(torch.cuda.is_available(), reason='on a GPU the script runs the whole benchmark')
def test_gpu_benchmark_script_without_a_gpu_says_so(tmp_path):
    """scripts/benchmark_gpu.sh on a machine without CUDA: one line, exit 2, nothing written."""
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    res = subprocess.run(['bash', os.path.join(root, 'scripts', 'benchmark_gpu.sh'), str(tmp_path / 'out')],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2
    errors = [line for line in res.stderr.splitlines() if line.startswith('error:')]
    assert errors == ['error: --device cuda asked for, but PyTorch sees no CUDA GPU; use --device cpu or auto']
    assert 'Traceback' not in res.stderr
    assert not any((tmp_path / 'out').iterdir())
