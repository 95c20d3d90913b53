"""Errors of the nlp package that callers catch without importing torch. Stdlib only."""


class ModelError(Exception):
    """The model directory cannot be used: missing, corrupt or incompatible. Names the path."""
