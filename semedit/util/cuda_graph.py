"""Replay a captured CUDA graph instead of launching a network's kernels one by one.

A generator of many small layers runs thousands of small kernels per image: on a GPU, batch-1
editing is bound by launching them, not by arithmetic. A graph captured once per input shape replays the
same kernels with the same numbers (``--cuda_graph``, test.py). Needs a forward without
host-device synchronisation: the fast path's semantic window is therefore off while capturing.
"""
import torch


def warm_up(fn, times):
    """Run ``fn`` on a side stream before capturing it: cudnn autotuning, lazy optimiser state and
    other one-time work stay out of the graph."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(times):
            fn()
    torch.cuda.current_stream().wait_stream(side)


class GraphedForward:
    """``fn(*tensors) -> tensor`` captured per (shape, dtype) of its inputs; each call copies the
    inputs into the static buffers, replays, and returns a copy of the static output."""

    def __init__(self, fn, warmup=2):
        self.fn = fn
        self.warmup = warmup
        self.graphs = {}

    def __call__(self, *inputs):
        key = tuple((tuple(t.shape), t.dtype) for t in inputs)
        if key not in self.graphs:
            self.graphs[key] = self._capture(inputs)
        graph, static_in, static_out = self.graphs[key]
        for buf, t in zip(static_in, inputs):
            buf.copy_(t)
        graph.replay()
        return static_out.clone()

    def _capture(self, inputs):
        static_in = [t.clone() for t in inputs]
        warm_up(lambda: self.fn(*static_in), self.warmup)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self.fn(*static_in)
        return graph, static_in, static_out


class GraphedTrainingStep:
    """A whole training iteration (forwards, both backwards, every optimiser step) captured once
    and replayed for each batch (``--cuda_graph`` in train.py, CUDA only).

    The inputs the step reads are model attributes (``input_names``) that ``set_input`` rebuilds
    every iteration; they are copied into the captured buffers before each replay. Capturing needs
    a few eager warm-up steps (lazy optimiser state, cudnn autotuning); every parameter, buffer
    and optimiser state is restored in place afterwards, so the first replay is the run's true
    first step and a graphed run follows the same trajectory as an eager one."""

    def __init__(self, model, step, input_names, warmup=3):
        self.model, self.step, self.input_names, self.warmup = model, step, input_names, warmup
        self.graph = None
        self.static = None

    def __call__(self):
        m = self.model
        if self.graph is None:
            self._capture()
        else:
            for name, buf in self.static.items():
                buf.copy_(getattr(m, name))
                setattr(m, name, buf)
        self.graph.replay()

    def _capture(self):
        m = self.model
        self.static = {name: getattr(m, name) for name in self.input_names}
        saved = self.snapshot()
        warm_up(self.step, self.warmup)
        self.restore(saved)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.step()

    def snapshot(self):
        """Copies of every parameter, buffer and optimiser state (before the warm-up steps)."""
        tensors = {}
        for net in self.model.nets().values():
            for t in list(net.parameters()) + list(net.buffers()):
                tensors[t] = t.detach().clone()
        optimisers = {}
        for name in self.model.optimizer_names:
            opt = getattr(self.model, name)
            optimisers[name] = {p: {k: v.clone() if torch.is_tensor(v) else v for k, v in st.items()}
                                for p, st in opt.state.items()}
        return tensors, optimisers

    def restore(self, saved):
        """Put a ``snapshot()`` back in place (the same tensors, which the graph will read)."""
        tensors, optimisers = saved
        with torch.no_grad():
            for t, v in tensors.items():
                t.copy_(v)
            for name in self.model.optimizer_names:
                opt, before = getattr(self.model, name), optimisers[name]
                for p, st in opt.state.items():
                    for k, v in st.items():
                        if torch.is_tensor(v):  # a state created by the warm-up is a fresh one: zeros
                            v.copy_(before[p][k]) if p in before else v.zero_()
