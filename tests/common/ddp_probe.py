"""A train.py that reports what each rank did, for tests/common/test_distributed.py (not a test).

    python -m torch.distributed.run --nproc_per_node 2 tests/common/ddp_probe.py OUT_DIR \
        CASE TRAIN_ARGS... [--- CASE TRAIN_ARGS...]...

runs ``train.train`` exactly as train.py does, once per CASE (one after the other in the same
processes and process group: torch's import and the rendezvous are paid once), and after each
writes ``OUT_DIR/CASE/rank<r>.pt`` per rank: the nets' state dicts after training, the sample paths
and dataset indices ``set_input`` received in order, the number of boundary patches of each
iteration (models that have them), each iteration's losses, the dataset length the sampler was built for, the error that
stopped it (``error``: a UserError's line; ``exit``: a quiet exit code), and every file or
folder this rank created, changed, renamed or removed below --checkpoints_dir or --dataroot (a
Python audit hook: train.py writes its checkpoints, logs and grids through ``open`` and
``os.replace``). ``probe`` is also called in-process for one-process runs.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

#: audit events that change the file system, and the index of their path argument(s)
_WRITE_EVENTS = {'os.rename': (0, 1), 'os.remove': (0,), 'os.rmdir': (0,), 'os.mkdir': (0,),
                 'os.truncate': (0,), 'os.symlink': (1,), 'os.link': (1,), 'shutil.copyfile': (1,),
                 'shutil.rmtree': (0,)}


def _is_write(event, args):
    """The paths an audit event writes to (empty when it only reads)."""
    if event == 'open':
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in 'wax+')) or \
                  (mode is None and isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
        return [path] if writing else []
    return [args[i] for i in _WRITE_EVENTS.get(event, ())]


def probe(out_dir, argv, watch_writes=True):
    """Train with ``argv`` (train.py's flags) and write ``out_dir/rank<r>.pt``; returns its dict."""
    import torch

    from semedit import models
    import train
    from semedit.options.train_options import TrainOptions
    from semedit.util import distributed as dist

    options = TrainOptions()
    opt = options.parse(argv)
    model_cls = models.find_model_using_name(opt.model, opt.stage)
    record = {'paths': [], 'indices': [], 'dataset_len': [], 'writes': []}
    watched = tuple(os.path.abspath(p) + os.sep for p in (opt.checkpoints_dir, opt.dataroot))
    recording = [True]

    def audit(event, args):
        if recording[0]:
            for path in _is_write(event, args):
                if isinstance(path, (str, bytes, os.PathLike)) and \
                        os.path.abspath(os.fsdecode(path)).startswith(watched):
                    record['writes'].append(os.path.abspath(os.fsdecode(path)))

    set_input, optimize, sampler_cls = model_cls.set_input, model_cls.optimize_parameters, dist.ResumableSampler
    # restored below as they were: an inherited method is deleted again, not pinned on the subclass
    # (where it would hide a later test's patch of the base class)
    own = {name: model_cls.__dict__[name] for name in ('set_input', 'optimize_parameters')
           if name in model_cls.__dict__}

    def recording_set_input(self, batch):
        record['paths'].extend(batch['path'])
        record['indices'].extend(int(i) for i in batch['index'])
        return set_input(self, batch)

    def recording_optimize(self):
        result = optimize(self)
        record.setdefault('losses', []).append({k: float(v) for k, v in self.get_current_losses().items()})
        if hasattr(self, 'patch_windows'):
            record.setdefault('patches', []).append(len(self.patch_windows))
        return result

    class RecordingSampler(sampler_cls):
        def __init__(self, dataset_len, *args, **kwargs):
            record['dataset_len'].append(dataset_len)
            super().__init__(dataset_len, *args, **kwargs)

    model_cls.set_input, model_cls.optimize_parameters = recording_set_input, recording_optimize
    dist.ResumableSampler = RecordingSampler
    if watch_writes:
        sys.addaudithook(audit)  # cannot be removed: ``recording`` switches it off
    from semedit.util.errors import UserError
    model = None
    try:
        model = train.train(opt, options)
    except UserError as exc:  # what train.py would print: kept for the test
        record['error'] = str(exc)
    except SystemExit as exc:
        record['exit'] = exc.code
    finally:
        recording[0] = False
        for name in ('set_input', 'optimize_parameters'):
            if name in own:
                setattr(model_cls, name, own[name])
            else:
                delattr(model_cls, name)
        dist.ResumableSampler = sampler_cls
    record['writes'] = sorted(set(record['writes']))
    if model is not None:
        record['nets'] = {name: {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
                          for name, net in model.nets().items()}
        record['parameters'] = {name: sorted(k for k, _ in net.named_parameters())
                                for name, net in model.nets().items()}
    record.update(rank=dist.rank(), world_size=dist.world_size(), seed=opt.seed, lr=opt.lr,
                  local_rank=dist.local_rank(), node=os.environ.get('GROUP_RANK'))
    os.makedirs(out_dir, exist_ok=True)
    torch.save(record, os.path.join(out_dir, f'rank{dist.rank()}.pt'))
    return record


def main(argv):
    out_dir, cases = argv[0], [[]]
    for arg in argv[1:]:
        if arg == '---':
            cases.append([])
        else:
            cases[-1].append(arg)
    for name, *train_argv in cases:
        probe(os.path.join(out_dir, name), train_argv)


if __name__ == '__main__':
    main(sys.argv[1:])
