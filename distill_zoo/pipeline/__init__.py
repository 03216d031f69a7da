"""Stages of a run (teacher, distill, eval), chains of runs, and the builders that read the Hydra config.

The names below are loaded on first use, so that reading results (``pipeline.record``,
``pipeline.summary``, the report) does not import Lightning and transformers.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from omegaconf import DictConfig

    from distill_zoo.pipeline.record import RunRecord

__all__ = ["STAGES", "RunRecord", "prepare_run", "run", "run_chain", "run_pipeline"]

_LAZY = {
    "STAGES": "distill_zoo.pipeline.context",
    "prepare_run": "distill_zoo.pipeline.context",
    "run_chain": "distill_zoo.pipeline.chain",
    "run_pipeline": "distill_zoo.pipeline.stages",
    "RunRecord": "distill_zoo.pipeline.record",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run(
    cfg: DictConfig, overrides: list[str] | None = None, on_ready: Callable[[str | None], None] | None = None
) -> RunRecord | None:
    """A chain of runs when the config has ``chain`` (its stages compose the config again
    with ``overrides``, the run's command-line overrides); otherwise one run, task or corpus.

    ``on_ready(teacher_entry)`` is called once a run's pre-flight checks have passed, before
    it trains or writes anything (``run.py`` writes the run folder's saved config then)."""
    from distill_zoo.pipeline.chain import run_chain
    from distill_zoo.pipeline.stages import run_pipeline

    if cfg.get("chain"):
        if overrides is None:
            from hydra.core.hydra_config import HydraConfig

            overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
        return run_chain(cfg, overrides, on_ready)
    return run_pipeline(cfg, on_ready=on_ready)
