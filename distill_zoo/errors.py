"""Errors raised for bad user input or a run that cannot go on, each with an exit code."""


class DistillZooError(Exception):
    """A problem with the user's configuration or data, found before training starts.

    The message says what is wrong and how to fix it; ``run.py`` prints it without a
    traceback and exits with :attr:`exit_code`.
    """

    exit_code = 2


class ConfigError(DistillZooError):
    """An option or combination of options that cannot work."""


class DataError(DistillZooError):
    """A missing or malformed data file."""


class NumericalError(DistillZooError):
    """A loss term became NaN or infinite during training: the run stops at that step,
    writes no results, and keeps its last good checkpoint."""

    exit_code = 3


class StateError(DistillZooError):
    """Saved state (a checkpoint, a cache entry) that is damaged, or that cannot be written:
    the message names the file and the fix, and nothing already complete is changed."""

    exit_code = 4
