"""Task data: GLUE from the Hub or local TSVs, and the built-in demo set."""

from distill_zoo.data.datamodule import GlueDataModule
from distill_zoo.data.tasks import TASKS, TaskSpec, get_task

__all__ = ["TASKS", "GlueDataModule", "TaskSpec", "get_task"]
