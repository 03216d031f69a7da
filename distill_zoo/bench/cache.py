"""``cache``: a distillation epoch with the teacher's outputs read from the cache vs computed live.

Same student steps (framework step: forward, backward, AdamW) over the same batches,
for a method that reads logits and the last hidden state (DistilBERT) and one that
reads Q/K/V of the last layer (MiniLM); the one-time cost of writing the cache is
reported beside (``build_ms``), since a sweep pays it once for all its jobs.
"""

from __future__ import annotations

import copy
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from distill_zoo.bench.harness import emit, interleaved, random_batch, teacher_and_student, training_steps
from distill_zoo.models import FrozenEncoder
from distill_zoo.models.cached import CachedTeacher, write_teacher_outputs
from distill_zoo.objectives import DistilBERTObjective, MiniLMObjective, Objective
from distill_zoo.training import DistillationModule

SIZES: dict[str, dict[str, Any]] = {
    "full": {"batch": 32, "length": 64, "batches": 20, "rounds": 5},
    "tiny": {"batch": 2, "length": 16, "batches": 2, "rounds": 2},
}


def run(size: str) -> dict[str, Any]:
    opts = SIZES[size]
    pair = teacher_and_student(size)
    batches = []
    for i in range(opts["batches"]):
        batch = random_batch(pair.vocab_size, opts["batch"], opts["length"], seed=i)
        batch["example_index"] = torch.arange(opts["batch"]) + i * opts["batch"]
        batches.append(batch)
    examples = opts["batch"] * opts["batches"]
    results: dict[str, Any] = {}
    methods: dict[str, Objective] = {"distilbert": DistilBERTObjective(), "minilm": MiniLMObjective()}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log outside a Trainer warns; the work is the same
        for name, objective in methods.items():
            live = _module(pair, objective, None)
            request = live.objective.teacher_request().resolve(live.teacher.dims.num_layers)  # type: ignore[union-attr]
            started = time.perf_counter()
            folder = Path(tmp) / name
            write_teacher_outputs(FrozenEncoder(pair.teacher), batches, request, examples, opts["length"], folder, {})
            build_ms = (time.perf_counter() - started) * 1000
            dims = live.teacher.dims  # type: ignore[union-attr]
            cached = _module(pair, copy.deepcopy(objective), CachedTeacher(folder, dims.num_layers, dims.num_heads))
            ms = interleaved(
                {"live": training_steps(live, batches), "cached": training_steps(cached, batches)}, opts["rounds"], 1
            )
            results[name] = {"epoch_ms": ms, "ratio": ms["live"] / ms["cached"], "build_ms": build_ms}
    note = "ratio = live / cached epoch time: above 1 the cache is faster"
    return emit(
        "cache",
        size,
        {"batch": opts["batch"], "length": opts["length"], "examples": examples, "results": results, "note": note},
    )


def _module(pair: Any, objective: Objective, cached: CachedTeacher | None) -> DistillationModule:
    return DistillationModule(
        student=copy.deepcopy(pair.student), objective=objective, teacher=pair.teacher, teacher_outputs=cached
    )
