"""Stages of a run (teacher, distill, eval) and the builders that read the Hydra config."""

from distill_zoo.pipeline.chain import run_chain
from distill_zoo.pipeline.general import run_general
from distill_zoo.pipeline.run import STAGES, run_pipeline

__all__ = ["STAGES", "run", "run_chain", "run_general", "run_pipeline"]


def run(cfg):
    """A chain of runs when the config has ``chain``; otherwise general distillation when
    the data is a corpus (no ``task``), else the task pipeline."""
    if cfg.get("chain"):
        return run_chain(cfg)
    return run_pipeline(cfg) if "task" in cfg.data else run_general(cfg)
