"""Synthetic run folders as the pipeline writes them: results.json (a RunRecord whose
metrics torchmetrics computed from the predictions) and predictions.json."""

from __future__ import annotations

import json
import math
import warnings
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from distill_zoo.pipeline.record import ModelReport, RunRecord, StageInfo, write_record
from distill_zoo.training.metrics import build_metrics

METRICS = {"sst2": ("acc",), "cola": ("mcc", "acc"), "mrpc": ("f1", "acc"), "stsb": ("pearson", "spearman")}
TEACHER_ACCURACY = 0.92


def torchmetrics_scores(task: str, labels: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """The task's metrics as the pipeline computes them (torchmetrics, float32)."""
    regression = task == "stsb"
    dtype = torch.float32 if regression else torch.long
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all targets and predictions")
        collection = build_metrics(METRICS[task], 1 if regression else 2, sync=False)
        collection.update(torch.as_tensor(predicted, dtype=dtype), torch.as_tensor(labels, dtype=dtype))
        return {name: float(value) for name, value in collection.compute().items()}


def dev_labels(n: int, task: str = "sst2", seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 5, n).round(2) if task == "stsb" else rng.integers(0, 2, n)


def predict_with_accuracy(labels: np.ndarray, accuracy: float, rng: np.random.Generator) -> np.ndarray:
    """Each example right with probability ``accuracy`` (binary: wrong = the other class)."""
    right = rng.random(len(labels)) < accuracy
    return np.where(right, labels, 1 - labels)


def record(
    method: str = "kd",
    seed: int = 1,
    task: str = "sst2",
    student_metrics: dict[str, float] | None = None,
    teacher_metrics: dict[str, float] | None = None,
    **changes: Any,
) -> RunRecord:
    """A finished single-stage run; ``changes`` replace any RunRecord field."""
    main = METRICS[task][0]
    student_metrics = student_metrics or {main: 0.8}
    teacher_metrics = teacher_metrics or {main: TEACHER_ACCURACY}
    base = RunRecord(
        task=task,
        corpus=None,
        main_metric=main,
        eval_split="dev",
        method=method,
        method_config={"name": method, "temperature": 2.0},
        seed=seed,
        stage=StageInfo(),
        student_init="pretrained",
        student_name="half",
        student_config={"name": "half", "init": "pretrained"},
        teacher_entry="t1",
        teacher_source={"name": "minilm_l6"},
        teacher=ModelReport(
            path="/cache/t1", metrics=teacher_metrics, params=22_000_000, latency_ms_median=10.0, ece=0.05
        ),
        student=ModelReport(
            path="s", metrics=student_metrics, params=11_000_000, latency_ms_median=5.0 + seed / 10, ece=0.03 * seed
        ),
        retention=student_metrics[main] / teacher_metrics[main],
        speedup=10.0 / (5.0 + seed / 10),
        compression=2.0,
        budget={"max_epochs": 2, "batch_size": 32, "steps_done": 100, "examples_seen": 3200},
        trainer_options={"precision": "32-true"},
        final_losses={"train/loss": 0.5 + seed / 100, "train/loss_kd": 0.25 * seed, "train/gradnorm_kd": 3.0},
        wall_time_s=1.0,
        data={"task": task, "max_train_samples": 2000},
        agreement=0.9 + seed / 100,
        test={"file": "test.tsv", "teacher": {main: 0.9}, "student": {main: 0.7 + seed / 100}},
    )
    return replace(base, **changes)


def write_run(
    folder: Path, rec: RunRecord | None, predictions: dict[str, Any] | None = None, hydra: bool = True
) -> Path:
    """A run folder: ``.hydra/`` (as a Hydra job), results.json, and predictions.json when given."""
    folder.mkdir(parents=True, exist_ok=True)
    if hydra:
        (folder / ".hydra").mkdir(exist_ok=True)
        (folder / ".hydra" / "config.yaml").write_text(f"seed: {rec.seed if rec else 0}\n")
    if rec is not None:
        write_record(folder / "results.json", rec)
    if predictions is not None:
        (folder / "predictions.json").write_text(json.dumps(predictions))
    return folder


def simulated_run(
    folder: Path,
    method: str,
    seed: int,
    labels: np.ndarray,
    accuracy: float,
    task: str = "sst2",
    with_predictions: bool = True,
    **changes: Any,
) -> RunRecord:
    """A run whose student is right on each dev example with probability ``accuracy``
    (regression: gold + noise that shrinks with ``accuracy``); its record's metrics are
    torchmetrics' on those predictions."""
    rng = np.random.default_rng(zlib.crc32(repr((method, seed, accuracy, task, sorted(changes))).encode()))
    if task == "stsb":
        student = labels + rng.normal(0, 2 * (1 - accuracy), len(labels))
        teacher = labels + rng.normal(0, 0.3, len(labels))
    else:
        student = predict_with_accuracy(labels, accuracy, rng)
        teacher = predict_with_accuracy(labels, TEACHER_ACCURACY, np.random.default_rng(99))
    rec = record(
        method,
        seed,
        task,
        torchmetrics_scores(task, labels, student),
        torchmetrics_scores(task, labels, teacher),
        **changes,
    )
    preds = {
        "split": "dev",
        "task": task,
        "labels": labels.tolist(),
        "teacher": teacher.tolist(),
        "student": student.tolist(),
    }
    write_run(folder, rec, preds if with_predictions else None)
    return rec


def simulated_sweep(
    root: Path, accuracies: dict[str, float], seeds: tuple[int, ...] = (1, 2, 3), n: int = 1000, task: str = "sst2"
) -> dict[tuple[str, int], RunRecord]:
    """A Hydra-like sweep ``root/<i>_<method>_seed<s>/`` of every method x seed."""
    labels = dev_labels(n, task)
    runs = {}
    for i, (method, seed) in enumerate((m, s) for m in accuracies for s in seeds):
        runs[(method, seed)] = simulated_run(
            root / f"{i}_{method}_seed{seed}", method, seed, labels, accuracies[method], task
        )
    return runs


def seed_level_experiments(
    experiments: int,
    seeds: int,
    difficulty_sd: float,
    shift_sd: float,
    gain: float = 0.5,
    n: int = 872,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Simulated method-versus-baseline comparisons where whole seeds are lucky or not.

    Each experiment draws its own dev set: example i has a latent easiness
    ``z_i ~ N(mu, difficulty_sd)`` (``mu`` puts the baseline near 0.885 accuracy; a large
    sd makes most examples right or wrong alike in every run). Each run (one method, one
    seed) draws a shift ``u ~ N(0, shift_sd)`` and is right on example i when
    ``a + z_i + u + eps > 0``, ``eps ~ N(0, 1)`` afresh per run and example, ``a = gain``
    for the method and 0 for the baseline (a probit model: the true gain is exact).

    Returns:
        ``(labels, method, baseline, theta)``: (E, n) binary labels, (E, seeds, n) the
        method's and the baseline's predictions (seed s of both in row s), and the true
        expected gain of a seed on the population of examples,
        ``Phi((gain + mu) / r) - Phi(mu / r)`` with ``r^2 = 1 + difficulty_sd^2 + shift_sd^2``.
    """
    rng = np.random.default_rng(seed)
    mu = 1.2 * math.sqrt(1 + difficulty_sd**2)
    latent = rng.standard_normal((experiments, 2, seeds, n), dtype=np.float32)
    latent += rng.normal(mu, difficulty_sd, (experiments, 1, 1, n)).astype(np.float32)
    latent += rng.normal(0.0, shift_sd, (experiments, 2, seeds, 1)).astype(np.float32)
    latent[:, 0] += gain
    labels = rng.integers(0, 2, (experiments, n)).astype(np.int8)
    predicted = labels[:, None, None, :] ^ (latent <= 0)
    r = math.sqrt(1 + difficulty_sd**2 + shift_sd**2)
    theta = _normal_cdf((gain + mu) / r) - _normal_cdf(mu / r)
    return labels, predicted[:, 0], predicted[:, 1], theta


def _normal_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))
