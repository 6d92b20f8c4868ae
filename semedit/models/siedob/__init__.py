"""SIEDOB's stages (``background``, ``objects``, ``fusion``), the paper's composition of their outputs
(``composition``) and the trained parts the editor and the fusion stage load (``parts``); the model
test.py and train.py name is ``models/siedob_model.py``."""


def set_stage_defaults(parser, is_train, batch_size, **defaults):
    """A stage's defaults as the authors train it (upstream ``*/train.py``): Adam 2e-4 for the
    generator and the discriminators alike, their batch size (training only; editing takes 1), and
    ``defaults`` (e.g. the width their networks hard-code)."""
    parser.set_defaults(lr=2e-4, D_lr_mult=1.0, **defaults)
    if is_train:
        parser.set_defaults(batch_size=batch_size)
