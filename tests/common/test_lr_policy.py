"""--lr_policy: constant (both authors' trainers as they run) or linear (the schedule SIEDOB's
trainer builds but never steps), a function of the epoch, so a resumed run gets the same rates."""
import os

import pytest
import torch

import train as train_script
from semedit.models.base_model import lr_factor

TINY = ['--model', 'template', '--dataset_name', 'demo', '--ngf', '4', '--num_workers', '0', '--max_dataset_size', '1',
        '--print_freq', '100', '--display_freq', '100', '--save_latest_freq', '0', '--no_tensorboard']


def test_linear_factor_is_siedobs_schedule():
    # SIEDOB's config: 500 epochs, decay over the last 100: 1 up to epoch 399 (0-based), then 1 - k/101
    assert [lr_factor(e, 'linear', 500, 100) for e in (0, 399)] == [1.0, 1.0]
    assert lr_factor(400, 'linear', 500, 100) == pytest.approx(1 - 1 / 101)   # two float64 operations
    assert lr_factor(499, 'linear', 500, 100) == pytest.approx(1 / 101)
    assert lr_factor(499, 'constant', 500, 100) == 1.0


@pytest.fixture
def run(tmp_path, demo_root):
    """run(name, *flags): train.py with the template on one demo image; the run's latest.pth."""
    def train(name, *extra):
        train_script.main(TINY + ['--dataroot', demo_root, '--checkpoints_dir', str(tmp_path / 'ckpt'), '--name', name,
                                  *extra])
        return torch.load(os.path.join(tmp_path, 'ckpt', name, 'latest.pth'), map_location='cpu', weights_only=True)
    return train


def rates(ckpt):
    return {k: v['param_groups'][0]['lr'] for k, v in ckpt['optimizers'].items()}


def test_linear_policy_steps_and_resumes(run):
    # one image: one iteration per epoch; 3 epochs, the last 2 decaying: factors 1, 2/3, 1/3
    schedule = ['--lr', '1e-3', '--lr_policy', 'linear', '--niter', '3', '--niter_decay', '2']
    straight = run('straight', *schedule)
    assert straight['epoch'] == 3 and straight['total_iters'] == 3
    want = {'optimizer_G': 1e-3 / 3, 'optimizer_D': 4e-3 / 3}
    assert rates(straight) == pytest.approx(want)  # a product and a division in float64
    run('resumed', *schedule, '--max_iters', '2')
    resumed = run('resumed', *schedule, '--continue_train')
    assert rates(resumed) == rates(straight)
    for k, v in straight['nets']['netG'].items():
        assert torch.equal(v, resumed['nets']['netG'][k]), k
    constant = run('constant', '--lr', '1e-3', '--niter', '3')
    assert rates(constant) == pytest.approx({'optimizer_G': 1e-3, 'optimizer_D': 4e-3})
