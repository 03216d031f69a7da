"""A run's per-example dev predictions (``predictions.json`` next to ``results.json``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distill_zoo.pipeline.record import PREDICTIONS


@dataclass(frozen=True)
class DevPredictions:
    """Gold labels and both models' predictions, one entry per dev example in dev order.

    A causal-LM run writes one entry per held-out block instead: its target-token count as
    the label and each model's NLL sum over it as the prediction (see report.metrics).

    Attributes:
        split: the split they come from (``dev``, ``dev_matched``).
        task: the task name.
        labels: (N,) gold class ids, or gold scores for regression.
        teacher: (N,) the teacher's predicted class ids or scores.
        student: (N,) the student's.
    """

    split: str
    task: str
    labels: np.ndarray
    teacher: np.ndarray
    student: np.ndarray


def read_predictions(run_dir: str | Path) -> DevPredictions | None:
    """The predictions written beside ``run_dir/results.json``; None when there are none.

    Raises ValueError when the file is there but malformed (lists of unequal length)."""
    path = Path(run_dir) / PREDICTIONS
    if not path.is_file():
        return None
    payload = json.loads(path.read_text())
    arrays = {key: np.asarray(payload[key]) for key in ("labels", "teacher", "student")}
    if len({a.shape for a in arrays.values()}) != 1 or arrays["labels"].ndim != 1:
        raise ValueError(f"{path}: labels, teacher and student must be lists of one length")
    return DevPredictions(split=str(payload.get("split")), task=str(payload.get("task")), **arrays)
