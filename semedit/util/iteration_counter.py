"""Counts epochs and iterations and answers the training loop's "when" questions (SPADE style)."""


class IterationCounter:
    def __init__(self, opt, iters_per_epoch):
        self.opt = opt
        self.iters_per_epoch = iters_per_epoch
        self.first_epoch = 0
        self.epoch = 0
        self.epoch_iter = 0      # batches done in the current epoch
        self.total_iters = 0     # batches done since the start of training

    def resume(self, ckpt):
        self.first_epoch = self.epoch = int(ckpt.get('epoch', 0))
        self.epoch_iter = int(ckpt.get('epoch_iter', 0))
        self.total_iters = int(ckpt.get('total_iters', 0))

    def training_epochs(self):
        for epoch in range(self.first_epoch, self.opt.niter):
            self.epoch = epoch
            if self.done():
                return
            yield epoch
            self.epoch_iter = 0

    def record_one_iteration(self):
        self.epoch_iter += 1
        self.total_iters += 1

    def done(self):
        return bool(self.opt.max_iters) and self.total_iters >= self.opt.max_iters

    def progress(self):
        """'iteration N of N' (with --max_iters) or 'epoch N of N', for messages."""
        if self.opt.max_iters:
            return f'iteration {self.total_iters} of --max_iters {self.opt.max_iters}'
        return f'epoch {self.epoch} of --niter {self.opt.niter}'

    def last_epoch(self):
        """The number of the epoch training ends in: --niter, or sooner where --max_iters ends it."""
        if self.opt.max_iters and self.iters_per_epoch:
            return min(self.opt.niter, -(-self.opt.max_iters // self.iters_per_epoch))
        return self.opt.niter

    def _every(self, freq):
        return freq > 0 and self.total_iters % freq == 0

    def needs_printing(self):
        return self._every(self.opt.print_freq)

    def needs_displaying(self):
        return self._every(self.opt.display_freq)

    def needs_saving(self):
        return self._every(self.opt.save_latest_freq)

    def needs_epoch_save(self):
        f = self.opt.save_epoch_freq
        return f > 0 and (self.epoch + 1) % f == 0

    def needs_evaluation(self):
        f = self.opt.eval_freq
        return f > 0 and (self.epoch + 1) % f == 0

    def position(self):
        """Where a checkpoint written now should resume: a finished epoch resumes at the next one."""
        if self.epoch_iter >= self.iters_per_epoch:
            return self.epoch + 1, 0
        return self.epoch, self.epoch_iter
