"""Stages of a run (teacher, distill, eval) and the builders that read the Hydra config."""

from distill_zoo.pipeline.run import STAGES, run_pipeline

__all__ = ["STAGES", "run_pipeline"]
