"""Hydra finds launchers and sweepers only in the ``hydra_plugins`` namespace; the logic lives in distill_zoo."""

from distill_zoo.pipeline.launcher import IsolatingLauncher as _IsolatingLauncher
from distill_zoo.pipeline.launcher import IsolatingSweeper as _IsolatingSweeper


class IsolatingLauncher(_IsolatingLauncher):
    """``hydra/launcher=isolated`` (the default): see :mod:`distill_zoo.pipeline.launcher`."""


class IsolatingSweeper(_IsolatingSweeper):
    """``hydra/sweeper=isolated`` (the default): see :mod:`distill_zoo.pipeline.launcher`."""
