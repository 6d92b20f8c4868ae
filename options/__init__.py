"""Option parsers: ``TrainOptions`` and ``TestOptions`` (see base_options for the mechanism)."""
