"""Command-line options shared by training and testing (SPADE style).

The model (``--model``) and the dataset (``--dataset_name``) add their own flags through a static
``modify_commandline_options(parser, is_train)``, found by name. The parsed options are printed and
saved next to the checkpoints as ``opt.txt`` (for people) and ``opt.json`` (read back on resume).
"""
import argparse
import json
import os
import sys

from semedit import data
from semedit import models
from semedit.util.errors import ArgumentParser, UserError


# What test.py takes from a checkpoint's saved options unless the command line sets it: the data the
# model was trained on (each dataset's own flags, e.g. --instance_format, are added to these).
FROM_CHECKPOINT = ('dataset_name', 'dataroot')


def add_every_dataset_flag(parser, is_train):
    """For --help: the flags of every dataset, not only of the chosen one, each dataset's own flags
    in a group of its own."""
    seen = set()
    for name in data.DATASETS:
        cls = data.find_dataset_using_name(name)
        if cls in seen:
            continue
        seen.add(cls)
        scratch = argparse.ArgumentParser(add_help=False)
        cls.modify_commandline_options(scratch, is_train)
        new = [a for a in scratch._actions if not any(o in parser._option_string_actions for o in a.option_strings)]
        if new:
            group = parser.add_argument_group(f'dataset_name {name} only')
            for action in new:
                group._add_action(action)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each flag's default after its help, unless the help says it itself or there is none (None)."""

    def _get_help_string(self, action):
        if 'default:' in (action.help or '') or action.default is None:
            return action.help
        return super()._get_help_string(action)


class BaseOptions:
    is_train = False

    def initialize(self, parser):
        g = parser.add_argument_group('experiment')
        g.add_argument('--name', default='experiment',
                       help='experiment name: checkpoints/<name>/ and results/<name>/')
        g.add_argument('--model', default=models.DEFAULT_MODEL, help='which model: ' + ', '.join(models.MODELS)
                       + ' (template: the small example to copy when adding a model, docs/overview.md)')
        g.add_argument('--stage', default=None,
                       help='for a model trained in parts: the part train.py trains (its checkpoint records it); '
                            'models trained as one have none')
        g.add_argument('--checkpoints_dir', default='checkpoints', help='where experiments are stored')
        g.add_argument('--device', default='auto', help='auto (CUDA if present, else CPU), cpu, cuda or cuda:N')
        g.add_argument('--seed', type=int, default=0, help='random seed (each rank adds its rank)')
        g.add_argument('--which_epoch', default='latest',
                       help='checkpoint to load: latest, best or an epoch number')

        g = parser.add_argument_group('data')
        g.add_argument('--dataroot', default='datasets',
                       help='folder holding <dataset_name>/{train,test}/{images,labels,inst_map}')
        g.add_argument('--dataset_name', default='demo' if self.is_train else None,
                       help='cityscapes (or cityscapes512x256, SIEDOB\'s folder), ade20k (alias ADE20k-room), '
                            'ADE20k-landscape, demo or custom'
                            + ('' if self.is_train else '; default: the one the checkpoint was trained on'))
        g.add_argument('--label_nc', type=int, default=None,
                       help='number of label ids (34 cityscapes/demo, 151 ade20k; required for custom)')
        g.add_argument('--batch_size', type=int, default=1, help='images per batch (upstream: 1)')
        g.add_argument('--num_workers', type=int, default=1, help='data loader worker processes')
        g.add_argument('--max_dataset_size', type=int, default=None,
                       help='use at most this many images of the split')
        g.add_argument('--color_order', choices=['bgr', 'rgb'], default='bgr',
                       help='channel order the network sees. bgr = upstream (its released weights and '
                            'its VGG loss work in BGR); rgb = the fix. Stored in the checkpoint.')

        g = parser.add_argument_group('network')
        g.add_argument('--ngf', type=int, default=32,
                       help='generator base width (32 = the paper); every width scales with it')
        g.add_argument('--init_type', default='gaussian', choices=['gaussian', 'xavier', 'kaiming'],
                       help='weight initialisation (upstream: gaussian N(0, 0.02))')

        g = parser.add_argument_group('speed (measured by scripts/benchmark.py: docs/performance.md)')
        g.add_argument('--amp', choices=['none', 'bf16', 'fp16'], default='none',
                       help='mixed precision (autocast) for GPUs: bf16, or fp16 with loss scaling; spectral '
                            'norms stay float32. Edited images differ slightly from float32 (docs/performance.md)')
        g.add_argument('--compile', action='store_true',
                       help='experimental: torch.compile the networks in place (it may recompile for each stage '
                            'size: docs/performance.md); prefer --cuda_graph')
        g.add_argument('--cuda_graph', action='store_true',
                       help='GPU: capture once and replay a CUDA graph: the generator per input size (test.py), '
                            'the whole training step (train.py; float32 or --amp bf16, one GPU). Same numbers, '
                            'far fewer kernel launches; --semantic_window is off')
        g.add_argument('--channels_last', action='store_true',
                       help='NHWC memory format for nets and inputs (GPU convs with --amp; no help on CPUs)')
        return parser

    def gather_options(self, args=None, saved=None, known_only=False):
        """Parse ``args``; ``saved``: the options a checkpoint was trained with, which give test.py
        the data it was trained on (``FROM_CHECKPOINT`` and the dataset's own flags) unless the
        command line sets them."""
        args = sys.argv[1:] if args is None else [str(a) for a in args]
        saved = saved or {}
        # the first pass only finds the model and the dataset; the full parser answers --help
        parser = ArgumentParser(formatter_class=HelpFormatter, description=self.description, add_help=False)
        self.initialize(parser)
        # a checkpoint's model (and stage) unless the command line names one
        parser.set_defaults(**{k: saved[k] for k in ('model', 'stage') if saved.get(k) is not None})
        opt, _ = parser.parse_known_args(args)
        dataset_name = opt.dataset_name or saved.get('dataset_name') or 'cityscapes'
        try:
            model_cls = models.find_model_using_name(opt.model, opt.stage)
            dataset_cls = data.dataset_class(dataset_name, model_cls.dataset_items)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        # Let the chosen model and dataset add their flags, then parse for real.
        model_cls.modify_commandline_options(parser, self.is_train)
        before = {a.dest for a in parser._actions}
        dataset_cls.modify_commandline_options(parser, self.is_train)
        dataset_flags = {a.dest for a in parser._actions} - before
        if '-h' in args or '--help' in args:
            add_every_dataset_flag(parser, self.is_train)
        parser.set_defaults(**{k: saved[k] for k in set(FROM_CHECKPOINT) | dataset_flags if k in saved})
        parser.add_argument('-h', '--help', action='help', default=argparse.SUPPRESS,
                            help='show this help message and exit')
        self.parser = parser
        # known_only: a first pass that only needs a few flags (test.py's finding the checkpoint, whose
        # model may add flags the default model does not know)
        return parser.parse_known_args(args)[0] if known_only else parser.parse_args(args)

    description = 'Semantic image editing.'

    def parse(self, args=None, saved=None, known_only=False):
        opt = self.gather_options(args, saved, known_only)
        opt.is_train = self.is_train
        # a run saves its options: a relative data root would mean another folder when the run is used
        # from elsewhere (editing, --continue_train), so it is saved as the folder it meant
        opt.dataroot = os.path.abspath(os.path.expanduser(opt.dataroot))
        if opt.label_nc is None and opt.dataset_name is not None:
            if self.is_train or data.find_dataset_using_name(opt.dataset_name).default_label_nc is not None:
                opt.label_nc = data.default_label_nc(opt.dataset_name)
        self.opt = opt
        return opt

    @staticmethod
    def format(opt, parser=None):
        lines = ['----------------- Options ---------------']
        for k, v in sorted(vars(opt).items()):
            default = parser.get_default(k) if parser is not None else None
            note = f'\t[default: {default}]' if parser is not None and v != default else ''
            lines.append(f'{k:>25}: {v!s:<30}{note}')
        lines.append('----------------- End -------------------')
        return '\n'.join(lines)

    def save(self, opt, directory):
        """Write opt.txt and opt.json into ``directory`` (atomically: rank 0 only)."""
        from semedit.util.atomic import atomic_write
        os.makedirs(directory, exist_ok=True)
        phase = 'train' if self.is_train else 'test'
        atomic_write(os.path.join(directory, f'opt_{phase}.txt' if phase == 'test' else 'opt.txt'),
                          self.format(opt, self.parser) + '\n')
        if self.is_train:
            atomic_write(os.path.join(directory, 'opt.json'),
                              json.dumps(vars(opt), indent=2, sort_keys=True, default=str) + '\n')

    @staticmethod
    def command_line():
        return ' '.join(sys.argv)
