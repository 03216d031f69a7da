"""Errors raised for bad user input, before any training starts."""


class DistillZooError(Exception):
    """A problem with the user's configuration or data.

    The message says what is wrong and how to fix it; ``run.py`` prints it without a
    traceback and exits non-zero.
    """


class ConfigError(DistillZooError):
    """An option or combination of options that cannot work."""


class DataError(DistillZooError):
    """A missing or malformed data file."""
