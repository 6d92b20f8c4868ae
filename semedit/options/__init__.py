"""Option parsers: ``TrainOptions`` and ``TestOptions`` (see base_options for the mechanism)."""


def default_options(is_train, **overrides):
    """The options train.py (``is_train``) or test.py parses from an empty command line, with
    ``overrides`` set: for code that builds a model without a command line (scripts/benchmark.py,
    tests), so that every default comes from the parsers themselves."""
    from semedit.options.test_options import TestOptions
    from semedit.options.train_options import TrainOptions
    # the model, its stage and the dataset are parsed, so that their own flags and defaults apply
    argv = [a for k in ('model', 'stage', 'dataset_name') if overrides.get(k) is not None
            for a in (f'--{k}', str(overrides[k]))]
    opt = (TrainOptions if is_train else TestOptions)().parse(argv)
    for key, value in overrides.items():
        setattr(opt, key, value)
    return opt
