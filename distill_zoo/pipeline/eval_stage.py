"""Stage ``eval``: dev metrics, calibration, teacher agreement, parameter counts and batch-1 CPU latency."""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

import torch
from torch import Tensor
from torch.utils.data import DataLoader
from torchmetrics.classification import MulticlassCalibrationError
from torchmetrics.regression import PearsonCorrCoef
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from distill_zoo.data import GlueDataModule
from distill_zoo.features import FeatureRequest
from distill_zoo.models import Encoder
from distill_zoo.pipeline.latency import paired_cpu_latency
from distill_zoo.training.metrics import build_metrics, predictions

#: Confidence bins of the expected calibration error (Guo et al. 2017 use 15).
ECE_BINS = 15


@dataclass
class Predictions:
    """One model's outputs over an evaluation loader, in file order (:meth:`in_file_order`).

    Attributes:
        labels: (N,) gold labels (class ids, or scores for regression).
        predicted: (N,) predicted class ids, or predicted scores for regression.
        probabilities: (N, C) softmax probabilities; None for regression.
    """

    labels: Tensor
    predicted: Tensor
    probabilities: Tensor | None

    def in_file_order(self, example_index: Tensor | None) -> Predictions:
        """The predictions sorted by each example's position in its file (a loader in length
        order serves them otherwise); unchanged when the loader gives no ``example_index``."""
        if example_index is None:
            return self
        order = torch.argsort(example_index)
        probabilities = self.probabilities[order] if self.probabilities is not None else None
        return Predictions(self.labels[order], self.predicted[order], probabilities)

    def metrics(self, names: tuple[str, ...], num_labels: int) -> dict[str, float]:
        """The task's metrics (torchmetrics, as in validation)."""
        collection = build_metrics(names, num_labels, sync=False)
        collection.update(self.predicted, self.labels)
        return {name: float(value) for name, value in collection.compute().items()}

    def calibration_error(self, bins: int = ECE_BINS) -> float | None:
        """Expected calibration error (L1, ``bins`` equal-width confidence bins); None for regression."""
        if self.probabilities is None:
            return None
        ece = MulticlassCalibrationError(num_classes=self.probabilities.shape[-1], n_bins=bins, norm="l1")
        return float(ece(self.probabilities, self.labels.long()))


@torch.inference_mode()
def predict(model: PreTrainedModel, loader: DataLoader, desc: str) -> Predictions:
    """Run ``model`` over every batch of ``loader`` (on the model's device)."""
    encoder = Encoder(model).eval()
    device = next(model.parameters()).device
    labels, predicted, probabilities, index = [], [], [], []
    for batch in tqdm(loader, desc=desc, leave=False):
        logits = encoder({k: v.to(device) for k, v in batch.items()}, FeatureRequest(logits=True)).logits.float()
        labels.append(batch["labels"])
        index.extend([batch["example_index"]] if "example_index" in batch else [])
        predicted.append(predictions(logits).cpu())
        if logits.shape[-1] > 1:
            probabilities.append(logits.softmax(-1).cpu())
    out = Predictions(torch.cat(labels), torch.cat(predicted), torch.cat(probabilities) if probabilities else None)
    return out.in_file_order(torch.cat(index) if index else None)


def agreement(teacher: Predictions, student: Predictions) -> float:
    """Share of examples where the student predicts the teacher's class; for regression,
    the Pearson correlation of the two models' scores."""
    if teacher.probabilities is None:
        return float(PearsonCorrCoef()(student.predicted.float(), teacher.predicted.float()))
    return float((teacher.predicted == student.predicted).float().mean())


def dev_metrics(
    model: PreTrainedModel, loader: DataLoader, metric_names: tuple[str, ...], desc: str
) -> dict[str, float]:
    """The task's metrics of ``model`` over every batch of ``loader``."""
    num_labels = model.config.num_labels
    assert num_labels is not None, "a classifier's config sets num_labels"
    return predict(model, loader, desc).metrics(metric_names, num_labels)


class ParameterCounts(TypedDict):
    params: int
    params_non_embedding: int


def parameter_counts(model: PreTrainedModel) -> ParameterCounts:
    """All parameters, and those outside the embedding tables."""
    total = sum(p.numel() for p in model.parameters())
    embeddings = sum(p.numel() for p in model.get_input_embeddings().parameters())
    base = model.base_model
    # BERT-like encoders keep learned positions in embeddings.position_embeddings, GPT-2 in wpe;
    # rotary models (Llama) have none.
    position = getattr(getattr(base, "embeddings", None), "position_embeddings", None) or getattr(base, "wpe", None)
    if position is not None:
        embeddings += position.weight.numel()
    return {"params": total, "params_non_embedding": total - embeddings}


def _moved(model: PreTrainedModel, device: str) -> PreTrainedModel:
    """``model.to(device)``."""
    # transformers decorates PreTrainedModel.to with functools.wraps, whose stub mypy reads as
    # an unbound function: it takes ``device`` for ``self``.
    return model.to(device)  # type: ignore[arg-type]


@torch.inference_mode()
def cpu_latency_ms(
    model: PreTrainedModel, examples: list[Mapping[str, torch.Tensor]], runs: int, warmup: int
) -> dict[str, float]:
    """Batch-1 latency of a forward pass on the CPU, over real dev sentences.

    Each timed call runs one example (unpadded), cycling through ``examples``; the
    first ``warmup`` calls are not timed. Reports the median and 90th percentile.
    """
    model = _moved(model, "cpu").eval()
    timings = []
    for i in tqdm(range(warmup + runs), desc="latency", leave=False):
        inputs = examples[i % len(examples)]
        start = time.perf_counter()
        model(**inputs)
        if i >= warmup:
            timings.append((time.perf_counter() - start) * 1000.0)
    timings.sort()
    return {
        "latency_ms_median": statistics.median(timings),
        "latency_ms_p90": timings[min(len(timings) - 1, int(0.9 * len(timings)))],
        "latency_threads": torch.get_num_threads(),
    }


def evaluate_pair(
    teacher: PreTrainedModel,
    student: PreTrainedModel,
    datamodule: GlueDataModule,
    tokenizer: PreTrainedTokenizerBase,
    latency_runs: int,
    latency_warmup: int,
    test_file: str | None = None,
    latency_threads: int = 1,
) -> dict[str, Any]:
    """Metrics, calibration, parameter counts and latency of teacher and student, measured
    side by side; their agreement; per-example dev predictions; and, with ``test_file``,
    both models' metrics on that extra labelled file (kept apart from dev).

    Metrics run on the accelerator when there is one; latency is always batch-1 CPU,
    over the first 32 dev examples, teacher and student interleaved round by round on
    ``latency_threads`` threads (:func:`~distill_zoo.pipeline.latency.paired_cpu_latency`).
    """
    spec = datamodule.spec
    datamodule.setup("validate")
    loader = datamodule.val_dataloader()
    texts = [tuple(ex[f] for f in spec.text_fields) for ex in datamodule.load_examples()["dev"][:32]]
    samples = [tokenizer(*t, return_tensors="pt", truncation=True, max_length=datamodule.max_length) for t in texts]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    report: dict[str, Any] = {"test": None}
    outputs: dict[str, Predictions] = {}
    for role, model in (("teacher", teacher), ("student", student)):
        outputs[role] = predict(_moved(model, device), loader, desc=f"eval {role}")
        report[role] = {
            "metrics": outputs[role].metrics(spec.metrics, spec.num_labels),
            "ece": outputs[role].calibration_error(),
            **parameter_counts(model),
        }
        if test_file:
            extra = predict(_moved(model, device), datamodule.labelled_file_loader(test_file), desc=f"test {role}")
            report["test"] = (report["test"] or {"file": str(test_file)}) | {
                role: extra.metrics(spec.metrics, spec.num_labels)
            }
    latency = paired_cpu_latency(
        {"teacher": teacher, "student": student}, samples, latency_runs, latency_warmup, latency_threads
    )
    for role, figures in latency.items():
        report[role].update(figures)
    report["agreement"] = agreement(outputs["teacher"], outputs["student"])
    report["predictions"] = {
        "split": spec.dev_name,
        "task": spec.name,
        "labels": outputs["teacher"].labels.tolist(),
        "teacher": outputs["teacher"].predicted.tolist(),
        "student": outputs["student"].predicted.tolist(),
    }
    return report
