"""Training options (defaults follow upstream's ``configs/config.yaml`` and ``trainer.py``)."""
import argparse

from .base_options import BaseOptions


class TrainOptions(BaseOptions):
    is_train = True
    description = 'Train a semantic image editing model. Example: python train.py --dataset_name demo --name demo'

    def initialize(self, parser):
        BaseOptions.initialize(self, parser)
        g = parser.add_argument_group('training schedule')
        g.add_argument('--niter', type=int, default=500, help='number of epochs (upstream: 500)')
        g.add_argument('--max_iters', type=int, default=0,
                       help='stop after this many iterations in total (0 = run all epochs)')
        g.add_argument('--continue_train', nargs='?', const=True, default=False, type=continue_mode,
                       metavar='auto',
                       help='resume from checkpoints/<name>/latest.pth: nets, optimisers, epoch, iteration, RNG. '
                            '--continue_train auto: resume when that file exists, else start the run: one command '
                            'that starts and resumes (torchrun --max-restarts, requeued cluster jobs); a run folder '
                            'of another model, stage, dataset or architecture is refused either way')
        g.add_argument('--lr', type=float, default=1e-4, help='generator learning rate (Adam)')
        g.add_argument('--D_lr_mult', type=float, default=4.0,
                       help='discriminator learning rate = lr × this (the authors\' recipes: SPM-PGAN 4, SIEDOB 1)')
        g.add_argument('--lr_policy', choices=['constant', 'linear'], default='constant',
                       help='constant: the same learning rates throughout (what both authors\' trainers run; '
                            'SIEDOB\'s builds a linear schedule but never steps it); linear: constant, then a '
                            'linear decay to near 0 over the last --niter_decay epochs')
        g.add_argument('--niter_decay', type=int, default=100,
                       help='--lr_policy linear: the number of final epochs over which the rates decay')
        g.add_argument('--beta1', type=float, default=0.5, help='Adam beta1')
        g.add_argument('--beta2', type=float, default=0.999, help='Adam beta2')
        g.add_argument('--no_flip', action='store_true', help='disable the random horizontal flip')

        g = parser.add_argument_group('logging and saving')
        g.add_argument('--print_freq', type=int, default=1000, help='print losses every N iterations')
        g.add_argument('--display_freq', type=int, default=8000,
                       help='write an image grid (PNG + TensorBoard) every N iterations')
        g.add_argument('--save_latest_freq', type=int, default=5000,
                       help='overwrite latest.pth every N iterations (and at every epoch end)')
        g.add_argument('--save_epoch_freq', type=int, default=20,
                       help='keep epoch_NNN.pth every N epochs')
        g.add_argument('--no_tensorboard', action='store_true', help='do not write TensorBoard logs')

        g = parser.add_argument_group('FID during training (as upstream; off by default, slow on a CPU)')
        g.add_argument('--eval_freq', type=int, default=0,
                       help='every N epochs edit the test split and compute FID; keep best.pth (0 = off; upstream 20)')
        g.add_argument('--eval_mask_dir', default=None,
                       help='predefined masks for that test split (default: seeded training-family masks)')
        g.add_argument('--eval_how_many', type=int, default=None, help='use only the first N test images')
        add_metric_options(g)
        return parser


def continue_mode(value):
    """--continue_train's optional value: only 'auto'."""
    if value != 'auto':
        raise argparse.ArgumentTypeError(f"{value!r}: give --continue_train alone (resume) or --continue_train auto")
    return value


def add_metric_options(g):
    """Pretrained-network flags shared by train-time FID and scripts/evaluate.py."""
    g.add_argument('--inception_path', default=None,
                   help='pytorch-fid Inception weights (pt_inception-2015-12-05-6726825d.pth); default: torch hub cache')
    g.add_argument('--lpips_backbone_path', default=None,
                   help='AlexNet weights for LPIPS (alexnet-owt-7be5be79.pth); default: torch hub cache')
    g.add_argument('--fid_color_order', choices=['bgr', 'rgb'], default='bgr',
                   help="bgr = the authors' FID (their OpenCV reading fed Inception BGR); rgb = standard FID")
