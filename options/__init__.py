"""Option parsers: ``TrainOptions`` and ``TestOptions`` (see base_options for the mechanism)."""


def default_options(is_train, **overrides):
    """The options train.py (``is_train``) or test.py parses from an empty command line, with
    ``overrides`` set: for code that builds a model without a command line (scripts/benchmark.py,
    tests), so that every default comes from the parsers themselves."""
    from options.test_options import TestOptions
    from options.train_options import TrainOptions
    opt = (TrainOptions if is_train else TestOptions)().parse([])
    for key, value in overrides.items():
        setattr(opt, key, value)
    return opt
