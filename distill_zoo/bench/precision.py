"""``precision``: ``trainer.precision=bf16-mixed`` against fp32 on the CPU.

Lightning's ``bf16-mixed`` runs forward and loss under ``torch.autocast(device, bfloat16)``
and keeps weights, gradients and the optimiser in fp32; the timed steps do exactly that.
Two steps are timed, each variant interleaved round by round with its fp32 twin: the
teacher's fine-tuning (the 6-layer MiniLM on gold labels) and a DistilBERT distillation
step (live teacher, the 3-layer student from its layers). Full: real SST-2 training
sentences in length-grouped batches of 32 (``$DISTILL_ZOO_DATA``); tiny: random sentences
and tiny models. A ratio above 1 means bf16 is faster.
"""

from __future__ import annotations

import copy
import itertools
import tempfile
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import torch
from transformers import AutoTokenizer

from distill_zoo.bench.harness import (
    TOKENIZER,
    distilbert_module,
    emit,
    per_batch_ms,
    random_batch,
    task_datamodule,
    teacher_and_student,
    training_steps,
)
from distill_zoo.models import resolve_pretrained
from distill_zoo.objectives import SupervisedObjective
from distill_zoo.training import DistillationModule

SIZES: dict[str, dict[str, Any]] = {
    "full": {"batch": 32, "batches": 8, "rounds": 3, "warmup": 1},
    "tiny": {"batch": 4, "batches": 1, "rounds": 1, "warmup": 0},
}


def run(size: str) -> dict[str, Any]:
    opts = SIZES[size]
    batches = _batches(size, opts)
    pair = teacher_and_student(size)
    finetune = DistillationModule(student=copy.deepcopy(pair.teacher).train(), objective=SupervisedObjective())
    steps: dict[str, Callable[[], None]] = {}
    for name, bf16 in (("fp32", False), ("bf16-mixed", True)):
        steps[f"teacher finetune {name}"] = _under(bf16, training_steps(copy.deepcopy(finetune), batches, clip=1.0))
        module = distilbert_module(pair.teacher, copy.deepcopy(pair.student))
        steps[f"distill {name}"] = _under(bf16, training_steps(module, batches, clip=1.0))
    per_batch = per_batch_ms(steps, opts["rounds"], opts["warmup"], opts["batches"])
    return emit(
        "precision",
        size,
        {
            "batch": opts["batch"],
            "timed_batches": opts["batches"],
            "median_ms_per_batch": per_batch,
            "ratio_teacher_finetune": per_batch["teacher finetune fp32"] / per_batch["teacher finetune bf16-mixed"],
            "ratio_distill": per_batch["distill fp32"] / per_batch["distill bf16-mixed"],
            "cpu_bf16_instructions": _bf16_flags(),
            "note": "ratio = fp32 / bf16-mixed (above 1 bf16 is faster); weights, grads and AdamW in fp32",
        },
    )


def _under(bf16: bool, steps: Callable[[], None]) -> Callable[[], None]:
    """``steps`` run under CPU bf16 autocast (as Lightning's bf16-mixed), or as they are."""

    def timed() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext():
            steps()

    return timed


def _batches(size: str, opts: dict[str, Any]) -> list[dict[str, torch.Tensor]]:
    if size == "tiny":
        vocab = int(AutoTokenizer.from_pretrained(resolve_pretrained(TOKENIZER)).vocab_size)
        return [random_batch(vocab, opts["batch"], 16, seed=i) for i in range(opts["batches"])]
    with tempfile.TemporaryDirectory() as tmp:
        datamodule = task_datamodule("sst2", opts["batch"], tmp, "precision", max_length=64)
        return list(itertools.islice(datamodule.train_dataloader(), opts["batches"]))


def _bf16_flags() -> list[str]:
    """The CPU's bf16 instruction sets (``avx512_bf16``, ``amx_bf16``) as the kernel lists them."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            flags = next((line.split(":", 1)[1].split() for line in handle if line.startswith("flags")), [])
    except OSError:
        return []
    return sorted(f for f in flags if "bf16" in f)
