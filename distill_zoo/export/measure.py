"""Score and time an exported artefact the way the eval stage scored and timed the run's student.

A Hugging Face model goes through the eval stage's own :func:`predict`; an ONNX session through
the same loop over the same dev loader, its logits turned into predictions by the same function.
Latency is the eval stage's :func:`cpu_latency_ms` for both (batch 1, CPU, the first dev
sentences, the run's number of timed and warm-up calls).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import PreTrainedModel

from distill_zoo.data import GlueDataModule
from distill_zoo.export.onnx import OnnxClassifier
from distill_zoo.export.run_folder import latency_inputs
from distill_zoo.pipeline.eval_stage import Predictions, cpu_latency_ms, predict
from distill_zoo.training.metrics import predictions


@dataclass(frozen=True)
class Measurement:
    """Dev metrics and batch-1 CPU latency of one artefact."""

    metrics: dict[str, float]
    examples: int
    latency_ms_median: float
    latency_ms_p90: float
    latency_threads: int


def measure(model: PreTrainedModel | OnnxClassifier, datamodule: GlueDataModule, runs: int, warmup: int) -> Measurement:
    """Dev metrics over the whole dev loader and the latency of ``model`` on the CPU."""
    loader = datamodule.val_dataloader()
    if isinstance(model, OnnxClassifier):
        outputs = predict_onnx(model, loader)
    else:
        outputs = predict(model, loader, desc="eval export")
    spec = datamodule.spec
    # The session is timed through the same function as a model: it answers model(**inputs).
    latency = cpu_latency_ms(cast(PreTrainedModel, model), latency_inputs(datamodule), runs, warmup)
    return Measurement(
        metrics=outputs.metrics(spec.metrics, spec.num_labels),
        examples=len(outputs.labels),
        latency_ms_median=latency["latency_ms_median"],
        latency_ms_p90=latency["latency_ms_p90"],
        latency_threads=int(latency["latency_threads"]),
    )


def points(run: float, export: float) -> float:
    """The export's change on a metric in points (hundredths: every task metric lies in [-1, 1])."""
    return 100.0 * (export - run)


def predict_onnx(model: OnnxClassifier, loader: DataLoader) -> Predictions:
    """:func:`~distill_zoo.pipeline.eval_stage.predict` for an ONNX session."""
    labels, predicted, probabilities, index = [], [], [], []
    for batch in tqdm(loader, desc="eval export", unit="batch", leave=False):
        logits = model(**batch).float()
        labels.append(batch["labels"])
        index.extend([batch["example_index"]] if "example_index" in batch else [])
        predicted.append(predictions(logits))
        if logits.shape[-1] > 1:
            probabilities.append(logits.softmax(-1))
    out = Predictions(torch.cat(labels), torch.cat(predicted), torch.cat(probabilities) if probabilities else None)
    return out.in_file_order(torch.cat(index) if index else None)
