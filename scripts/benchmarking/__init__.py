"""The benchmark's library; ``scripts/benchmark.py`` is its command line, and only scripts use it.

    options.py          the benchmark's options: train.py's for the measured model, and its own flags
    inputs.py           the mask families and the input batches
    build.py            the device, and the models as train.py and test.py build them, for either path
    siedob_editor.py    SIEDOB's editor: a folder of its four parts, its street scene and references
    timing.py           paired median times: the matmul ceiling, edits, the training iteration
    work.py             the GFLOP each path executes (FlopCounterMode)
    memory.py           peak memory, measured in a fresh process
    whole_process.py    a whole edit as a user waits for it: the example files, three processes timed
    upstream_steps.py   the authors' test steps, replayed (``python -m scripts.benchmarking.upstream_steps``)
    profiling.py        the fast path's top operators (--profile)
    run.py              every measurement of one run -> the results dict (what --json writes)
    table.py            the printed table
"""
