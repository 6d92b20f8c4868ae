"""Resuming is exact for every model: a run stopped after 2 iterations (by its own --max_iters, or by
Ctrl-C, whose save on the way out must hold a whole iteration's state) and resumed with
--continue_train to 4 ends with the weights and optimiser states of 4 iterations in one go, bit for
bit. Scene models see 3 images, so the resumed part crosses an epoch boundary mid-run; the object
stages read batches of 2 crops."""
import os
import signal

import pytest

import train as train_script
from helpers import TINY_NETS, TINY_RUN, assert_same_state, load
from siedob.parts_folder import write_parts

SCENES = ['--max_dataset_size', '3', '--batch_size', '1']
OBJECTS = ['--batch_size', '2', '--no_object_repeat']
#: each model's command line (besides the data and the run's name)
CASES = {
    'spmpgan': SCENES,
    'template': ['--model', 'template', '--ngf', '4'] + SCENES,   # no discriminator width, no VGG
    'background': ['--model', 'siedob', '--stage', 'background', '--crop_size', '64'] + SCENES,
    'object_inpainting': ['--model', 'siedob', '--stage', 'object_inpainting'] + OBJECTS,
    'object_style': ['--model', 'siedob', '--stage', 'object_style'] + OBJECTS,
    'fusion': ['--model', 'siedob', '--stage', 'fusion', '--crop_size', '64'] + SCENES,
}


@pytest.fixture(scope='module')
def train(tmp_path_factory, demo_root):
    """train(case, name, *extra) runs train.py in this process; returns the run's latest.pth. The
    fusion stage composes four tiny parts."""
    folder = tmp_path_factory.mktemp('resume')
    parts = os.path.dirname(write_parts(str(folder / 'parts'))['fusion'])

    def run(case, name, *extra):
        argv = CASES[case] + (['--submodels', parts] if case == 'fusion' else [])
        argv += TINY_NETS if case != 'template' else []
        train_script.main(argv + TINY_RUN + [
            '--dataset_name', 'demo', '--dataroot', demo_root, '--display_freq', '1000', '--save_latest_freq', '0',
            '--checkpoints_dir', str(folder), '--name', f'{case}_{name}', *extra])
        return folder / f'{case}_{name}' / 'latest.pth'

    return run


@pytest.fixture(scope='module')
def straight(train):
    """straight(case): the run of 4 iterations in one go, trained once per case."""
    done = {}

    def get(case):
        if case not in done:
            done[case] = train(case, 'straight', '--max_iters', '4')
        return done[case]

    return get


def ctrl_c_at(iteration):
    """A Ctrl-C delivered while iteration ``iteration`` (1-based) runs: the model's step sends it."""
    from semedit.models.base_model import GANModel
    step, calls = GANModel.optimize_parameters, []

    def optimize_parameters(model):
        calls.append(1)
        if len(calls) == iteration:
            os.kill(os.getpid(), signal.SIGINT)
        return step(model)

    return optimize_parameters


def assert_resumed_exactly(straight, resumed):
    a, b = load(straight), load(resumed)
    assert (b['epoch'], b['epoch_iter'], b['total_iters']) == (a['epoch'], a['epoch_iter'], a['total_iters'])
    assert_same_state(a, b)
    for name, state in a['optimizers'].items():
        for i, moments in state['state'].items():
            for k, v in moments.items():
                assert (v == b['optimizers'][name]['state'][i][k]).all(), f'{name}[{i}].{k}'


@pytest.mark.parametrize('case', sorted(CASES))
def test_continue_train_gives_the_uninterrupted_weights(train, straight, case):
    half = load(train(case, 'resumed', '--max_iters', '2'))
    assert half['total_iters'] == 2
    assert_resumed_exactly(straight(case), train(case, 'resumed', '--max_iters', '4', '--continue_train'))


@pytest.mark.parametrize('case', ['spmpgan', 'background'])
def test_the_ctrl_c_save_resumes_exactly(train, straight, case, monkeypatch, capsys):
    """Ctrl-C during iteration 2: it finishes, is saved, the run exits 130; resuming gives the
    straight run's weights (a save whose counter advanced past an unapplied step would not)."""
    from semedit.models.base_model import GANModel
    monkeypatch.setattr(GANModel, 'optimize_parameters', ctrl_c_at(2))
    with pytest.raises(SystemExit) as stop:
        train(case, 'ctrl_c', '--max_iters', '4')
    assert stop.value.code == 130
    assert 'Interrupted after iteration 2' in capsys.readouterr().out
    monkeypatch.undo()
    assert_resumed_exactly(straight(case), train(case, 'ctrl_c', '--max_iters', '4', '--continue_train'))


def test_a_second_ctrl_c_abandons_the_save_and_keeps_the_last_complete_one(train, straight, monkeypatch, capsys):
    """Ctrl-C during iteration 3, and again while the run saves on its way out: the save is abandoned
    (exit 130, one line saying so, no traceback), latest.pth is still the regular save of iteration
    2, and resuming from it gives the straight run's weights."""
    from semedit.models.base_model import GANModel
    monkeypatch.setattr(GANModel, 'optimize_parameters', ctrl_c_at(3))
    real_save = train_script.save

    def save(model, counter, opt, which):
        if counter.total_iters == 3:
            os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C, as the save begins
        return real_save(model, counter, opt, which)

    monkeypatch.setattr(train_script, 'save', save)
    try:
        with pytest.raises(SystemExit) as stop:
            train('spmpgan', 'twice', '--max_iters', '4', '--save_latest_freq', '2')
    except KeyboardInterrupt:
        pytest.fail('the second Ctrl-C escaped as a KeyboardInterrupt: the user sees a traceback')
    assert stop.value.code == 130
    out = capsys.readouterr().out
    assert 'Stopped at once: nothing more saved' in out and 'Interrupted after' not in out
    monkeypatch.undo()
    folder = straight('spmpgan').parent.parent / 'spmpgan_twice'
    assert load(folder / 'latest.pth')['total_iters'] == 2 and not list(folder.glob('*.tmp'))
    assert_resumed_exactly(straight('spmpgan'), train('spmpgan', 'twice', '--max_iters', '4', '--continue_train'))
