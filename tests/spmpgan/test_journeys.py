"""The journeys beyond the quickstart, as a user runs them: real processes started from a fresh
temporary folder with relative paths, on a small dataset of one's own (6 train / 2 test images at
320×240, single-channel label PNGs with ids 0..9, no instance maps). Each check asserts the exit
status and the line printed, and that no traceback appears."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import error_line, run
from standins import write_metric_stand_ins

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN, TEST, EVAL_FID, CHECK = (os.path.join(ROOT, p) for p in ('train.py', 'test.py', 'scripts/eval_fid.sh',
                                                                 'scripts/check_dataset.py'))
TINY = ['--ngf', '4', '--ndf', '8', '--lambda_vgg', '0', '--num_workers', '0', '--print_freq', '1',
        '--display_freq', '2', '--save_latest_freq', '2', '--save_epoch_freq', '0', '--no_tensorboard']
CUSTOM = ['--dataroot', 'data', '--dataset_name', 'custom', '--label_nc', '10', '--instance_format', 'none']


def write_custom_dataset(root, n_train=6, n_test=2, size=(320, 240), seed=0):
    """<root>/custom/{train,test}/{images,labels}: blocky scenes with ids 0..9."""
    rng = np.random.RandomState(seed)
    w, h = size
    for split, n in (('train', n_train), ('test', n_test)):
        for d in ('images', 'labels'):
            os.makedirs(os.path.join(root, 'custom', split, d), exist_ok=True)
        for i in range(n):
            label = np.zeros((h, w), np.uint8)
            for k in range(10):
                y, x = rng.randint(0, h - 40), rng.randint(0, w - 40)
                label[y:y + rng.randint(20, 80), x:x + rng.randint(20, 120)] = k
            palette = rng.randint(0, 256, (10, 3)).astype(np.uint8)
            image = palette[label]
            Image.fromarray(image).save(os.path.join(root, 'custom', split, 'images', f'{split}_{i}.jpg'), quality=95)
            Image.fromarray(label).save(os.path.join(root, 'custom', split, 'labels', f'{split}_{i}.png'))


@pytest.fixture(scope='module')
def user(tmp_path_factory):
    """A fresh folder with the user's data in ./data and nothing else."""
    folder = tmp_path_factory.mktemp('user')
    write_custom_dataset(str(folder / 'data'))
    return folder


@pytest.fixture(scope='module')
def metric_weights(tmp_path_factory):
    """Random stand-ins in the Inception and AlexNet files' layouts, passed as a user passes the
    real files: --inception_path, --lpips_backbone_path."""
    inception, alexnet = write_metric_stand_ins(str(tmp_path_factory.mktemp('weights')))
    return ['--inception_path', inception, '--lpips_backbone_path', alexnet]


@pytest.fixture(scope='module')
def trained(user):
    """The custom journey up to a finished run: the dataset check, training interrupted with Ctrl-C, then
    resumed with --continue_train to its end."""
    out = run(user, sys.executable, CHECK, *CUSTOM)
    assert out.strip().splitlines()[-1].startswith('OK:'), out
    argv = [sys.executable, TRAIN, *CUSTOM, '--name', 'c240', '--load_size', '256', *TINY]
    # Ctrl-C in the middle of a long run: latest.pth is saved first, exit 130
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    proc = subprocess.Popen(argv + ['--max_iters', '100000'], cwd=user, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    seen = []
    for line in proc.stdout:  # the loss line of iteration 1 says the loop is running
        seen.append(line)
        if 'G_L1_3' in line:
            break
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=300)[0]
    assert proc.returncode == 130, ''.join(seen) + rest
    assert 'Resume with the same command plus --continue_train' in rest and 'Traceback' not in rest
    half = torch.load(user / 'checkpoints' / 'c240' / 'latest.pth', weights_only=True)
    assert 1 <= half['total_iters'] < 100000
    out = run(user, *argv, '--max_iters', str(half['total_iters'] + 2), '--continue_train')
    assert f"Resuming from {os.path.join('checkpoints', 'c240', 'latest.pth')}" in out
    assert f'Done: {half["total_iters"] + 2} iterations.' in out
    return half['total_iters'] + 2


# ---- 1. the test split of a custom checkpoint: the data options come from the checkpoint ------

def test_test_split_of_a_custom_checkpoint_needs_no_dataset_flags(user, trained):
    out = run(user, sys.executable, TEST, '--name', 'c240', '--dataroot', 'data')
    assert f"Wrote 2 edited images to {os.path.join('results', 'c240', 'test_latest')}/edited/" in out
    assert sorted(os.listdir(user / 'results' / 'c240' / 'test_latest' / 'edited')) == ['test_0.png', 'test_1.png']


def test_edit_one_image_with_the_custom_checkpoint(user, trained):
    mask = np.zeros((240, 320), np.uint8)
    mask[60:180, 100:260] = 255
    Image.fromarray(mask).save(user / 'mask.png')
    out = run(user, sys.executable, TEST, '--checkpoint', 'checkpoints/c240/latest.pth', '--image_path',
              'data/custom/test/images/test_0.jpg', '--segmap_path', 'data/custom/test/labels/test_0.png',
              '--mask_path', 'mask.png', '--output_path', 'out/edited.png')
    assert f"Wrote {os.path.join('out', 'edited.png')}" in out
    assert Image.open(user / 'out' / 'edited.png').size == (320, 240)


# ---- 2. --continue_train on a finished run -----------------------------------------------------

def test_continue_train_on_a_finished_run_says_it_is_complete(user, trained):
    out = run(user, sys.executable, TRAIN, *CUSTOM, '--name', 'c240', '--load_size', '256', *TINY,
              '--max_iters', str(trained), '--continue_train')
    line = [x for x in out.splitlines() if 'already complete' in x]
    assert line == [f"{os.path.join('checkpoints', 'c240', 'latest.pth')}: this run is already complete "
                    f"(iteration {trained} of --max_iters {trained}); to train longer, run the same command with "
                    f"a larger --max_iters (or --niter) and --continue_train"], out


# ---- 3. training images smaller than the crop ----------------------------------------------------

def test_training_images_smaller_than_the_crop_stop_before_the_loop(user):
    out = run(user, sys.executable, TRAIN, *CUSTOM, '--name', 'small', *TINY, '--max_iters', '2', expect=2)
    line = error_line(out)
    assert 'training images must be at least 256×256' in line and '320×240' in line
    assert '6 of 6 images are smaller' in line and '--load_size 256' in line
    assert not (user / 'checkpoints' / 'small' / 'latest.pth').exists()


# ---- 4. JPEG label maps ----------------------------------------------------------------------------

def test_jpeg_label_map_is_refused_everywhere(user, trained, tmp_path):
    label = np.asarray(Image.open(user / 'data' / 'custom' / 'test' / 'labels' / 'test_0.png'))
    Image.fromarray(label).save(tmp_path / 'seg.jpg', quality=90)
    mask = np.zeros((240, 320), np.uint8)
    mask[60:180, 100:260] = 255
    Image.fromarray(mask).save(tmp_path / 'mask.png')
    out = run(user, sys.executable, TEST, '--checkpoint', 'checkpoints/c240/latest.pth', '--image_path',
              'data/custom/test/images/test_0.jpg', '--segmap_path', tmp_path / 'seg.jpg', '--mask_path',
              tmp_path / 'mask.png', '--output_path', tmp_path / 'never' / 'x.png', expect=2)
    line = error_line(out)
    assert str(tmp_path / 'seg.jpg') in line and 'JPEG' in line and 'PNG' in line
    assert not (tmp_path / 'never').exists()
    # a dataset whose label file is a JPEG under a .png name: the check reports it, training refuses it
    bad = tmp_path / 'bad'
    write_custom_dataset(str(bad), n_train=2, n_test=1)
    lab = bad / 'custom' / 'train' / 'labels' / 'train_0.png'
    Image.open(lab).save(lab, format='JPEG', quality=90)
    out = run(tmp_path, sys.executable, CHECK, '--dataroot', 'bad', '--dataset_name', 'custom',
              '--label_nc', '10', '--instance_format', 'none', expect=1)
    assert any(x.startswith('ERROR') and 'train_0.png' in x and 'JPEG' in x for x in out.splitlines()), out
    out = run(tmp_path, sys.executable, TRAIN, '--dataroot', 'bad', '--dataset_name', 'custom', '--label_nc', '10',
              '--instance_format', 'none', '--name', 'bad', '--load_size', '256', *TINY, '--max_iters', '2', expect=2)
    assert 'JPEG' in error_line(out)


# ---- 5. fail before the work ---------------------------------------------------------------------------

def write_masks(folder, n, size):
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        m = np.zeros(size[::-1], np.uint8)
        m[20:120, 30:150] = 255
        Image.fromarray(m).save(os.path.join(folder, f'{i:04d}.png'))


def test_eval_fid_without_inception_weights_stops_before_editing(user, trained, tmp_path):
    write_masks(user / 'masks240', 2, (320, 240))
    out = run(user, 'bash', EVAL_FID, '--name', 'c240nw', '--checkpoint', 'checkpoints/c240/latest.pth',
              '--dataroot', 'data', '--mask_dir', 'masks240', expect=2, env={'TORCH_HOME': str(tmp_path / 'hub')})
    line = error_line(out)
    assert 'pt_inception-2015-12-05-6726825d.pth' in line and '--inception_path' in line
    assert not (user / 'results' / 'c240nw').exists()  # nothing was edited


def test_wrong_size_masks_stop_before_editing_and_before_training(user, trained, metric_weights):
    write_masks(user / 'masks_small', 2, (256, 256))
    out = run(user, 'bash', EVAL_FID, '--name', 'c240ws', '--checkpoint', 'checkpoints/c240/latest.pth',
              '--dataroot', 'data', '--mask_dir', 'masks_small', *metric_weights, expect=2)
    line = error_line(out)
    assert 'masks_small' in line and '256×256' in line and '320×240' in line
    assert not (user / 'results' / 'c240ws').exists()
    out = run(user, sys.executable, TEST, '--name', 'c240', '--dataroot', 'data', '--mask_dir', 'masks_small',
              '--results_dir', 'results_ws', expect=2)
    assert 'masks_small' in error_line(out) and not (user / 'results_ws').exists()
    out = run(user, sys.executable, TRAIN, *CUSTOM, '--name', 'evalsize', '--load_size', '256', *TINY,
              '--max_iters', '2', '--eval_freq', '1', '--eval_mask_dir', 'masks_small', *metric_weights[:2], expect=2)
    assert 'masks_small' in error_line(out)
    assert not (user / 'checkpoints' / 'evalsize' / 'latest.pth').exists()


# ---- 7. small things -------------------------------------------------------------------------------------

def test_eval_from_another_folder_repeats(user, trained, metric_weights, monkeypatch):
    """Relative paths given from elsewhere work; two identical runs give identical numbers, one row
    each in results/runs.md (FID through the tiny Inception stand-in of tests/fid_oracle.py: the real
    2048-d one runs in tests/common/test_metrics.py's eval_fid.sh journey)."""
    from fid_oracle import use_tiny_inception
    from scripts import evaluate
    run(user, sys.executable, os.path.join(ROOT, 'scripts', 'make_masks.py'), '--out_dir', 'masks/mine', '--count', '2',
        *CUSTOM)  # as the README: masks the size of the test images
    os.makedirs(user / 'elsewhere', exist_ok=True)
    monkeypatch.chdir(user / 'elsewhere')
    use_tiny_inception(monkeypatch)
    records = []
    for name in ('s1', 's2'):
        evaluate.main(['--name', name, '--checkpoint', '../checkpoints/c240/latest.pth', '--dataroot', '../data',
                       '--mask_dir', '../masks/mine', '--device', 'cpu', *metric_weights])
        records.append(json.loads((user / 'elsewhere' / 'results' / name / 'test_latest' / 'metrics.json').read_text()))
    assert records[0]['metrics'] == records[1]['metrics'] and records[0]['metrics']['fid'] > 0
    rows = (user / 'elsewhere' / 'results' / 'runs.md').read_text().splitlines()[2:]
    assert [r.split('|')[1].strip() for r in rows] == ['s1', 's2']


def test_ade20k_alias_reads_the_canonical_folder(tmp_path):
    write_custom_dataset(str(tmp_path / 'src'), n_train=1, n_test=1, size=(256, 256))
    os.rename(tmp_path / 'src' / 'custom', tmp_path / 'ADE20k-room')
    for split in ('train', 'test'):  # ADE20K instance maps: RGB, ids in the G channel
        os.makedirs(tmp_path / 'ADE20k-room' / split / 'inst_map')
        Image.fromarray(np.zeros((256, 256, 3), np.uint8)).save(tmp_path / 'ADE20k-room' / split / 'inst_map' /
                                                                f'{split}_0.png')
    out = run(tmp_path, sys.executable, CHECK, '--dataroot', '.', '--dataset_name', 'ade20k')
    assert out.splitlines()[0].startswith(f"Dataset {os.path.join('.', 'ADE20k-room')}: label_nc 151"), out
    assert out.strip().splitlines()[-1].startswith('OK:'), out


# ---- 6. --help tells the truth ----------------------------------------------------------------------

def help_text(module_name, capsys, *args):
    """--help of a driver (train, test), through its main()."""
    import importlib
    module = importlib.import_module(module_name)
    with pytest.raises(SystemExit) as e:
        module.main([*args, '--help'])
    assert e.value.code == 0
    return capsys.readouterr().out


def script_helps(capsys):
    """--help of every script under scripts/, through its main(argv) in this process."""
    import importlib
    helps = {}
    for name in SCRIPTS:
        module = importlib.import_module(name[:-len('.py')].replace('/', '.'))
        with pytest.raises(SystemExit) as e:
            module.main(['--help'])
        assert e.value.code == 0, name
        helps[name] = capsys.readouterr().out
    return helps


def flags(text):
    import re
    return set(re.findall(r'(?<![\w-])--[a-z][a-z0-9_]*', text))


# flags of programs that are not ours, as the README uses them
EXTERNAL = {'--logdir': 'tensorboard', '--nproc_per_node': 'torchrun', '--durations': 'pytest', '--nodes': 'sbatch'}
ENTRY_POINTS = ('train', 'test')
SCRIPTS = tuple(f'scripts/{name}.py' for name in (
    'evaluate', 'benchmark', 'check_dataset', 'convert_checkpoint', 'make_masks', 'make_demo_edit', 'plot_metrics',
    'prepare_cityscapes', 'prepare_ade20k', 'prepare_object_dataset', 'segment'))


def test_every_flag_in_the_readme_is_in_a_help(capsys):
    """Each flag the README mentions is listed by the --help of the program it belongs to: flags on a
    line that runs train.py (or test.py) and nothing else by train.py --help (test.py --help), every
    other one by some entry point's --help."""
    readme = open(os.path.join(ROOT, 'README.md'), encoding='utf-8').read()
    helps = {name: flags(help_text(name, capsys)) for name in ENTRY_POINTS}
    helps.update({name: flags(text) for name, text in script_helps(capsys).items()})
    # a model's own flags are listed by --help with that model (SIEDOB's stages)
    for name in ('train', 'test'):
        for stage in ('background', 'object_inpainting', 'object_style', 'fusion'):
            helps[name] |= flags(help_text(name, capsys, '--model', 'siedob', '--stage', stage))
        helps[name] |= flags(help_text(name, capsys, '--model', 'siedob'))  # the end-to-end editor
    everything = set().union(*helps.values()) | set(EXTERNAL)
    assert not flags(readme) - everything, sorted(flags(readme) - everything)
    others = ('scripts/', 'eval_fid', 'tensorboard')
    for line in readme.splitlines():
        for script, name in (('train.py', 'train'), ('test.py', 'test')):
            runs = f'python {script}' in line or f'{script} --' in line  # a command line, not prose
            if runs and not any(o in line for o in others):
                assert not flags(line) - helps[name] - set(EXTERNAL), (line, sorted(flags(line) - helps[name]))


def stated_defaults(help_text):
    """{flag: the text after '(default: ' at the end of its entry} of an argparse --help."""
    import re
    entries, current = {}, None
    for line in help_text.splitlines():
        start = re.match(r'^  (?:-\w, )?--(\w+)', line)
        if start:
            current = start.group(1)
            entries[current] = line
        elif current and line.startswith('   '):
            entries[current] += ' ' + line.strip()
        else:
            current = None
    stated = {flag: re.search(r'\(default: ([^()]*)\)$', ' '.join(text.split())) for flag, text in entries.items()}
    return {flag: m.group(1) for flag, m in stated.items() if m}


def test_train_help_states_the_defaults_a_run_used(user, trained, capsys):
    """Every default train.py --help states (for the same model and dataset) is the value the
    custom run saved in its opt.json for each flag its command line left out."""
    given = ['--dataroot', 'data', '--dataset_name', 'custom', '--label_nc', '10', '--instance_format', 'none']
    stated = stated_defaults(help_text('train', capsys, *given))
    used = json.loads((user / 'checkpoints' / 'c240' / 'opt.json').read_text())
    left_out = {flag: value for flag, value in stated.items()
                if f'--{flag}' not in CUSTOM + TINY + ['--name', '--load_size', '--max_iters', '--continue_train']}
    assert {'lr', 'lambda_l1', 'crop_size', 'num_mask_types', 'seed', 'niter'} <= set(left_out), sorted(left_out)
    # a default the help describes in words ("(default: seeded training-family masks)") stands for None
    wrong = {flag: (value, used.get(flag, 'absent')) for flag, value in left_out.items()
             if str(used.get(flag, 'absent')) != value and not (' ' in value and used.get(flag, 'absent') is None)}
    assert not wrong, f'--help says (default: X), the run used Y: {wrong}'


def test_test_writes_where_its_help_says_without_output_path(user, trained, capsys):
    """test.py without --output_path writes the edit and the masked input where --help says (the
    authors' paths under ./results), at the input's size."""
    said = ' '.join(help_text('test', capsys).split())
    for name in ('test_single_result.jpg', 'masked_img.jpg'):
        assert f'results/{name}' in said
        assert not (user / 'results' / name).exists()
    mask = np.zeros((240, 320), np.uint8)
    mask[40:160, 60:220] = 255
    Image.fromarray(mask).save(user / 'mask_default.png')
    out = run(user, sys.executable, TEST, '--checkpoint', 'checkpoints/c240/latest.pth', '--image_path',
              'data/custom/test/images/test_0.jpg', '--segmap_path', 'data/custom/test/labels/test_0.png',
              '--mask_path', 'mask_default.png')
    assert f"Wrote {os.path.join('results', 'test_single_result.jpg')}" in out, out
    for name in ('test_single_result.jpg', 'masked_img.jpg'):
        assert Image.open(user / 'results' / name).size == (320, 240)
