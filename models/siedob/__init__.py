"""SIEDOB's trainable stages (``models/siedob_model.py`` lists them)."""
