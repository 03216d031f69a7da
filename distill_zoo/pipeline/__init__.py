"""Stages of a run (teacher, distill, eval) and the builders that read the Hydra config."""

from distill_zoo.pipeline.chain import run_chain
from distill_zoo.pipeline.run import STAGES, run_pipeline

__all__ = ["STAGES", "run", "run_chain", "run_pipeline"]


def run(cfg):
    """A single run, or a chain of runs when the config has ``chain``."""
    return run_chain(cfg) if cfg.get("chain") else run_pipeline(cfg)
