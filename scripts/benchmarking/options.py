"""The benchmark's options: train.py's own, with the measured model's flags (--model, --stage,
--device, --seed, --ngf, --ndf, --label_nc, --amp, --compile, --channels_last, --cuda_graph,
--forward, --semantic_window, ...), and the benchmark's flags in a group of their own."""
import argparse
import sys

from semedit.models import find_model_using_name
from semedit.options.base_options import HelpFormatter as OptionsHelpFormatter
from semedit.options.train_options import TrainOptions

#: the stage whose training iteration stands for SIEDOB's editor's
EDITOR_TRAINED_STAGE = 'fusion'


class HelpFormatter(argparse.RawDescriptionHelpFormatter, OptionsHelpFormatter):
    """The description as written (its usage lines), the defaults after each flag."""


class BenchmarkOptions(TrainOptions):
    """train.py's parser (the model's and the datasets' flags join it as they join train.py's) and
    the benchmark's own flags; ``description``: the command line's."""

    def __init__(self, description):
        self.description = description

    def initialize(self, parser):
        TrainOptions.initialize(self, parser)
        parser.formatter_class = HelpFormatter
        g = parser.add_argument_group('benchmark')
        g.add_argument('--size', type=int, default=None, help='image side (default 256; 64 for the object stages)')
        g.add_argument('--repeats', type=int, default=5, help='timed runs of each measurement (median)')
        g.add_argument('--warmup', type=int, default=1, help='untimed runs before them')
        g.add_argument('--throughput_batch', type=int, default=8, help='batch of the throughput row')
        g.add_argument('--tf32', action='store_true', help='CUDA: allow TF32 in both paths (default: true float32)')
        g.add_argument('--profile', action='store_true',
                       help='also profile the fast path (batch-8 edit, training iteration): top operators by self time')
        g.add_argument('--skip_training', action='store_true', help='skip the training iteration')
        g.add_argument('--skip_memory', action='store_true', help='skip the peak memory')
        g.add_argument('--skip_warm_edit', action='store_true',
                       help='skip the warm edit through semedit (editor.edit beside its model\'s bare forward)')
        g.add_argument('--skip_process', action='store_true', help='skip the whole-process edit (CPU only)')
        g.add_argument('--process_repeats', type=int, default=5, help='repeats of each whole-process edit')
        g.add_argument('--quick', action='store_true', help='ngf 8 / ndf 16, 2 repeats: a smoke run')
        g.add_argument('--json', default=None, help='also write the results here')
        return parser


def parse_options(argv, description):
    """The options of one run. SIEDOB's editor has no training flags of its own: it takes those of
    the stage whose training iteration the benchmark measures."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    named = BenchmarkOptions(description).parse([a for a in argv if a not in ('-h', '--help')], known_only=True)
    trained_stage = EDITOR_TRAINED_STAGE if is_siedob_editor(named) else named.stage
    opt = BenchmarkOptions(description).parse(argv if trained_stage == named.stage else
                                               argv + ['--stage', trained_stage])
    opt.stage = named.stage
    if opt.size is None:
        opt.size = 64 if model_class(opt).edits == 'object' else 256
    if opt.quick:
        opt.ngf, opt.ndf, opt.repeats, opt.throughput_batch = 8, 16, 2, 2
    return opt


def model_class(opt):
    return find_model_using_name(opt.model, opt.stage)


def is_siedob_editor(opt):
    """SIEDOB's editor (``--model siedob``, no stage): four parts read from a folder."""
    return opt.model == 'siedob' and opt.stage is None


def eager(opt):
    """The same options without --cuda_graph / --compile: the same work, visible op by op."""
    return argparse.Namespace(**{**vars(opt), 'compile': False, 'cuda_graph': False})
