"""Each SIEDOB stage trains by default as the authors' recipe does (upstream */train.py and the
widths their networks hard-code): the one-line commands of the docs run their batch sizes."""
import pytest

from semedit.options.test_options import TestOptions
from semedit.options.train_options import TrainOptions

#: stage -> (batch size, generator width) of the authors' trainers; Adam 2e-4 for G and D in all four
RECIPES = {'background': (21, 32), 'object_inpainting': (90, 64), 'object_style': (50, 32), 'fusion': (30, 32)}


@pytest.mark.parametrize('stage', sorted(RECIPES))
def test_a_stage_trains_with_the_authors_recipe_by_default(stage):
    opt = TrainOptions().parse(['--model', 'siedob', '--stage', stage, '--dataset_name', 'cityscapes512x256'])
    assert (opt.batch_size, opt.ngf) == RECIPES[stage]
    assert (opt.lr, opt.D_lr_mult, opt.niter, opt.beta1, opt.beta2) == (2e-4, 1.0, 500, 0.5, 0.999)
    # the command line still decides
    assert TrainOptions().parse(['--model', 'siedob', '--stage', stage, '--batch_size', '2']).batch_size == 2


def test_spmpgan_keeps_its_own_and_editing_takes_one_image_at_a_time():
    opt = TrainOptions().parse([])
    assert (opt.batch_size, opt.ngf, opt.lr, opt.D_lr_mult) == (1, 32, 1e-4, 4.0)
    for stage in RECIPES:
        assert TestOptions().parse(['--model', 'siedob', '--stage', stage]).batch_size == 1
