"""Stage ``eval``: dev metrics, parameter counts and batch-1 CPU latency of a model."""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from distill_zoo.data import GlueDataModule

from distill_zoo.features import FeatureRequest
from distill_zoo.models import Encoder
from distill_zoo.training.metrics import build_metrics, predictions


@torch.inference_mode()
def dev_metrics(model: PreTrainedModel, loader: DataLoader, metric_names: tuple[str, ...], desc: str) -> dict[str, float]:
    """The task's metrics of ``model`` over every batch of ``loader``."""
    encoder = Encoder(model).eval()
    metrics = build_metrics(metric_names, model.config.num_labels, sync=False)
    device = next(model.parameters()).device
    for batch in tqdm(loader, desc=desc, leave=False):
        logits = encoder({k: v.to(device) for k, v in batch.items()}, FeatureRequest(logits=True)).logits
        metrics.update(predictions(logits).cpu(), batch["labels"])
    return {name: float(value) for name, value in metrics.compute().items()}


def parameter_counts(model: PreTrainedModel) -> dict[str, int]:
    """All parameters, and those outside the embedding tables."""
    total = sum(p.numel() for p in model.parameters())
    embeddings = sum(p.numel() for p in model.get_input_embeddings().parameters())
    position = getattr(model.base_model.embeddings, "position_embeddings", None)
    if position is not None:
        embeddings += position.weight.numel()
    return {"params": total, "params_non_embedding": total - embeddings}


@torch.inference_mode()
def cpu_latency_ms(
    model: PreTrainedModel, examples: list[Mapping[str, torch.Tensor]], runs: int, warmup: int
) -> dict[str, float]:
    """Batch-1 latency of a forward pass on the CPU, over real dev sentences.

    Each timed call runs one example (unpadded), cycling through ``examples``; the
    first ``warmup`` calls are not timed. Reports the median and 90th percentile.
    """
    model = model.to("cpu").eval()
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
) -> dict[str, dict[str, Any]]:
    """Metrics, parameter counts and latency of teacher and student, measured side by side.

    Metrics run on the accelerator when there is one; latency is always batch-1 CPU,
    over the first 32 dev examples.
    """
    spec = datamodule.spec
    datamodule.setup("validate")
    loader = datamodule.val_dataloader()
    texts = [tuple(ex[f] for f in spec.text_fields) for ex in datamodule.load_examples()["dev"][:32]]
    samples = [tokenizer(*t, return_tensors="pt", truncation=True, max_length=datamodule.max_length) for t in texts]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    report: dict[str, dict[str, Any]] = {}
    for role, model in (("teacher", teacher), ("student", student)):
        report[role] = {
            "metrics": dev_metrics(model.to(device), loader, spec.metrics, desc=f"eval {role}"),
            **parameter_counts(model),
            **cpu_latency_ms(model, samples, latency_runs, latency_warmup),
        }
    return report
