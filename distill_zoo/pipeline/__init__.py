"""Stages of a run (teacher, distill, eval), chains of runs, and the builders that read the Hydra config."""

from __future__ import annotations

from omegaconf import DictConfig

from distill_zoo.pipeline.chain import run_chain
from distill_zoo.pipeline.context import STAGES, prepare_run
from distill_zoo.pipeline.record import RunRecord
from distill_zoo.pipeline.run import run_pipeline

__all__ = ["STAGES", "RunRecord", "prepare_run", "run", "run_chain", "run_pipeline"]


def run(cfg: DictConfig, overrides: list[str] | None = None) -> RunRecord | None:
    """A chain of runs when the config has ``chain`` (its stages compose the config again
    with ``overrides``, the run's command-line overrides); otherwise one run, task or corpus."""
    if cfg.get("chain"):
        if overrides is None:
            from hydra.core.hydra_config import HydraConfig

            overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
        return run_chain(cfg, overrides)
    return run_pipeline(cfg)
