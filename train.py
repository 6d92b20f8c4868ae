"""Train a model. Example (a few minutes on a CPU):

    python train.py --dataset_name demo --name demo --max_iters 300     # the default --model
    python train.py --model template --dataset_name demo --name tiny   # any other model by name

Checkpoints, image grids and TensorBoard logs go to checkpoints/<name>/. Multi-GPU:
``torchrun --nproc_per_node N train.py ...`` (only rank 0 writes).
"""
import json
import os

import torch
from tqdm import tqdm

from semedit import data
from semedit import models
from semedit.options.train_options import TrainOptions
from semedit.util import distributed as dist
from semedit.models.legacy import load_checkpoint
from semedit.util.atomic import remove_stale_temporaries
from semedit.util.checkpoint import save_checkpoint
from semedit.util.device import configure_backends, resolve_device
from semedit.util.errors import UserError, exit_on_user_error, message_of
from semedit.engine.evaluation import TrainFID
from semedit.util.interrupt import StopAfterIteration, ignore_interrupts_in_worker
from semedit.util.iteration_counter import IterationCounter
from semedit.util.seed import seed_everything
from semedit.util.visualizer import Visualizer


def checkpoint_path(opt, which):
    return os.path.join(opt.checkpoints_dir, opt.name, f'{which}.pth')


def save(model, counter, opt, which):
    epoch, epoch_iter = counter.position()
    state = model.checkpoint_state(epoch, epoch_iter, counter.total_iters, vars(opt))
    save_checkpoint(state, checkpoint_path(opt, which))


def check_resume_options(opt, model_cls):
    """--continue_train must rebuild the same networks: compare with the saved opt.json."""
    path = os.path.join(opt.checkpoints_dir, opt.name, 'opt.json')
    if not os.path.isfile(path):
        return
    with open(path) as f:
        saved = json.load(f)
    for key in ('model', 'stage', 'dataset_name') + tuple(model_cls.arch_options):
        if key in saved and saved[key] != getattr(opt, key, None):
            raise UserError(f'{path} records --{key} {saved[key]} but this command has --{key} '
                            f'{getattr(opt, key, None)}; resume with the same value (or use a new --name)')


def resuming(opt, model_cls):
    """Whether this run resumes: --continue_train, always (latest.pth must exist); --continue_train auto,
    when latest.pth exists (a worker torchrun restarted, a requeued job), else it starts. Either way a
    run folder of another configuration stops the run before anything is written. Every rank must see
    the same folder (multi-node: a shared file system), else the ranks would not agree on where to start."""
    if not opt.continue_train:
        return False
    check_resume_options(opt, model_cls)
    path = checkpoint_path(opt, 'latest')
    found_somewhere, found_everywhere = dist.any_and_all(os.path.isfile(path))
    if found_somewhere != found_everywhere:
        raise UserError(f'{path} exists for some ranks and not for others: --checkpoints_dir must be one folder '
                        f'every node sees (a shared file system)')
    if not found_everywhere and opt.continue_train != 'auto':
        raise UserError(f'nothing to resume: {path} not found; check --name / --checkpoints_dir, '
                        f'or drop --continue_train to start a new run (--continue_train auto starts one)')
    if not found_everywhere and dist.is_main_process():
        print(f'--continue_train auto: no {path} yet, starting the run')
    return found_everywhere


class _Stopped(Exception):
    """Ctrl-C was pressed; the iteration under way has finished."""


class _BrokenFile(Exception):
    """A training file could not be read mid-run (a truncated JPEG, a label map deleted since the start);
    the message names it. No step used the batch."""


def batches(bar):
    """The loader's batches; a file that cannot be read ends them with ``_BrokenFile``, on every
    rank at the same iteration (under DDP the others would wait for the stopped rank forever)."""
    it = iter(bar)
    while True:
        batch, broken = None, None
        try:
            batch = next(it)
        except StopIteration:
            return
        except UserError as exc:
            broken = message_of(exc)
        broken = dist.first_message(broken)
        if broken is not None:
            raise _BrokenFile(broken)
        yield batch


def run_epochs(opt, model, dataset, sampler, counter, drop_last, device, main, visualizer, evaluator, stop):
    """The training epochs from the counter's position; ``stop`` (Ctrl-C) ends them between iterations."""
    for epoch in counter.training_epochs():
        factor = model.update_learning_rate(epoch)
        if main and factor != 1.0:
            visualizer.log_metrics({'lr_factor': factor}, counter.total_iters)
        dataset.set_epoch(epoch)
        sampler.set_epoch(epoch, start=counter.epoch_iter * opt.batch_size)
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=opt.batch_size, sampler=sampler, num_workers=opt.num_workers,
            pin_memory=device.type == 'cuda', drop_last=drop_last, worker_init_fn=ignore_interrupts_in_worker)
        bar = tqdm(loader, desc=f'epoch {epoch + 1}/{counter.last_epoch()}', disable=not main, dynamic_ncols=True,
                   initial=counter.epoch_iter, total=counter.iters_per_epoch)
        for batch in batches(bar):
            counter.record_one_iteration()
            model.set_input(batch)
            model.optimize_parameters()
            if main:
                losses = model.get_current_losses()
                bar.set_postfix({k: f'{losses[k]:.3f}' for k in model.summary_losses if k in losses},
                                refresh=False)
                if counter.needs_printing():
                    tqdm.write(visualizer.log_losses(losses, counter.total_iters, epoch + 1))
                if counter.needs_displaying():
                    visualizer.display(model.get_current_visuals(), counter.total_iters)
                if counter.needs_saving():
                    save(model, counter, opt, 'latest')
            if counter.done():
                break
            if stop.requested():
                raise _Stopped
        bar.close()
        if main:
            save(model, counter, opt, 'latest')
            epoch_done = counter.epoch_iter >= counter.iters_per_epoch
            if epoch_done and counter.needs_epoch_save():
                save(model, counter, opt, f'epoch_{epoch + 1:03d}')
            if epoch_done and evaluator is not None and counter.needs_evaluation():
                fid, is_best = evaluator(model, epoch + 1, counter.total_iters)
                visualizer.log_metrics({'FID': fid}, counter.total_iters)
                tqdm.write(f'epoch {epoch + 1}: FID {fid:.3f}' + (' (best so far: best.pth)' if is_best else ''))
                if is_best:
                    save(model, counter, opt, 'best')
        if counter.done():
            break
        if stop.requested():
            raise _Stopped


def train(opt, options=None):
    device = resolve_device(opt.device, dist.local_rank() if dist.world_size() > 1 else None)
    configure_backends(device)
    dist.init_distributed(device)
    main = dist.is_main_process()
    warning = dist.shared_store_warning() if main else None
    if warning:
        print(warning, flush=True)
    seed_everything(opt.seed + dist.rank())
    model_cls = models.find_model_using_name(opt.model, opt.stage)
    resume = resuming(opt, model_cls)
    # Rank 0 first: a dataset that prepares itself on first use (demo) is created exactly once.
    dataset = data.create_dataset(opt, 'train', model_cls.dataset_items) if main else None
    dist.barrier()
    if dataset is None:
        dataset = data.create_dataset(opt, 'train', model_cls.dataset_items)
    dataset.check_files(model_cls.size_rule)
    sampler = dist.ResumableSampler(len(dataset), opt.seed)
    model = model_cls(opt, device).setup()
    # a captured training step (--cuda_graph) has one batch shape: a last, smaller batch is skipped
    drop_last = model.runtime.cuda_graph
    per_epoch = len(sampler) // opt.batch_size if drop_last else -(-len(sampler) // opt.batch_size)
    if per_epoch == 0:
        raise UserError(f'--batch_size {opt.batch_size} is larger than the {len(sampler)} training images '
                        f'this process sees, and --cuda_graph drops incomplete batches')
    counter = IterationCounter(opt, per_epoch)
    if resume:
        path = checkpoint_path(opt, 'latest')
        ckpt = load_checkpoint(path)
        model.load_checkpoint_state(ckpt, path, load_optimizers=True, restore_rng=True)
        counter.resume(ckpt)
        if counter.done() or counter.first_epoch >= opt.niter:
            if main:
                print(f'{path}: this run is already complete ({counter.progress()}); to train longer, run the '
                      f'same command with a larger --max_iters (or --niter) and --continue_train')
            return None
        if main:
            print(f'Resuming from {path}: epoch {counter.epoch}, iteration {counter.total_iters}')
            for name in remove_stale_temporaries(os.path.dirname(path)):
                print(f'  removed {name}: a save that was cut off (the process was killed while writing)')
    if main:
        if options is not None:
            print(options.format(opt, options.parser))
            options.save(opt, os.path.join(opt.checkpoints_dir, opt.name))
        model.prepare_run_folder(os.path.join(opt.checkpoints_dir, opt.name))
        for name, n in model.count_parameters().items():
            print(f'[{name}] {n / 1e6:.3f} M parameters')
    visualizer = Visualizer(opt, model.label_nc, model.color_order) if main else None
    evaluator = TrainFID(opt, device, model_cls.dataset_items) if main and opt.eval_freq > 0 else None
    model.train()
    try:
        with StopAfterIteration() as stop:
            try:
                run_epochs(opt, model, dataset, sampler, counter, drop_last, device, main, visualizer, evaluator,
                           stop)
            except _Stopped:  # saved while a second Ctrl-C still means "at once": it aborts the save
                if main:
                    save(model, counter, opt, 'latest')
                    print(f'Interrupted after iteration {counter.total_iters}; saved {checkpoint_path(opt, "latest")}. '
                          f'Resume with the same command plus --continue_train.')
                raise SystemExit(130)
            except _BrokenFile as exc:  # nothing of the run is lost: saved as at Ctrl-C
                if main:
                    save(model, counter, opt, 'latest')
                dist.barrier()  # torchrun stops every rank once one exits: the others wait for the save
                if not main:
                    raise SystemExit(2)  # rank 0 says it, once
                raise UserError(f'{exc}; stopped after iteration {counter.total_iters} and saved '
                                f'{checkpoint_path(opt, "latest")}: fix or remove the file, then run the same command '
                                f'plus --continue_train') from None
    except KeyboardInterrupt:
        if main:
            print(f'\nStopped at once: nothing more saved; {checkpoint_path(opt, "latest")} holds the last complete '
                  f'save. Resume with the same command plus --continue_train.')
        raise SystemExit(130)
    if main:
        losses = model.get_current_losses()
        visualizer.log_losses(losses, counter.total_iters, counter.epoch + 1)
        grid = visualizer.display(model.get_current_visuals(), counter.total_iters)
        visualizer.close()
        exp = os.path.join(opt.checkpoints_dir, opt.name)
        final = ', '.join(f'{k} {losses[k]:.4f}' for k in model.summary_losses if k in losses)
        print(f'Done: {counter.total_iters} iterations. Final losses: {final}.')
        print(f'  checkpoint:   {checkpoint_path(opt, "latest")}')
        print(f'  image grids:  {os.path.dirname(grid)}/ (latest: {grid})')
        print(f'  loss log:     {os.path.join(exp, "loss_log.txt")}')
        if not opt.no_tensorboard:
            print(f'  TensorBoard:  tensorboard --logdir {os.path.join(exp, "logs")}')
    dist.barrier()
    return model


def main(argv=None):
    with exit_on_user_error():
        options = TrainOptions()
        opt = options.parse(argv)
        train(opt, options)


if __name__ == '__main__':
    main()
