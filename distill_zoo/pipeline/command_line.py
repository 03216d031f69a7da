"""Check a single run's command line before Hydra starts, so a typo costs seconds and writes nothing.

Hydra reports a mistyped override (``trainer.max_epoch=1``) after creating nothing, but
with exit code 1 and without saying what was meant. :func:`check_overrides` composes
the config the way Hydra will and turns a composition error into a :class:`ConfigError`
(exit code 2) that names the nearest valid key or group. Multiruns are left to Hydra:
a bad value in one job of a sweep fails that job only (see :mod:`.launcher`).
"""

from __future__ import annotations

import re
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from distill_zoo.errors import ConfigError
from distill_zoo.pipeline.schema import unknown_key

_NOT_IN_STRUCT = re.compile(r"Could not override '([^']+)'")


def hydra_overrides(argv: list[str]) -> list[str] | None:
    """The overrides of a plain single run, or None when Hydra flags (``-m``, ``--cfg``, ...) are given."""
    if any(arg.startswith("-") for arg in argv):
        return None
    return list(argv)


def check_overrides(overrides: list[str], config_dir: Path, config_name: str = "config") -> None:
    """Raise :class:`ConfigError` if Hydra cannot compose ``overrides``."""
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        try:
            compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
        except HydraException as err:
            raise ConfigError(_explain(err, overrides, config_name)) from None


def _explain(err: HydraException, overrides: list[str], config_name: str) -> str:
    message = str(err).strip()
    found = _NOT_IN_STRUCT.search(message)
    if not found:
        return message.split("\nConfig search path:")[0]
    key = found.group(1)
    rest = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") != key]
    try:
        base = compose(config_name=config_name, overrides=rest)
    except HydraException:
        return message
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(base, parent) if parent else base
    if not isinstance(node, DictConfig):
        return message
    error = unknown_key(f"{parent}." if parent else "", leaf, [str(k) for k in node])
    return f"{error} (to add a new key on purpose, write +{key}=...)"
