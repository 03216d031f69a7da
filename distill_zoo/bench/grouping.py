"""``grouping``: length-grouped training batches against random ones (``data.group_by_length``).

Counted over one whole epoch of the training split: the token positions the models run
on (batch size × longest row, summed over batches) for the two orders, against the real
tokens. Timed: DistilBERT training steps (live teacher, the student built from its layers)
on the first ``batches`` batches of each order, the variants interleaved round by round.
The grouped batches are shuffled over the epoch, so the first ones are a fair sample of
them, as the first random batches are of theirs; the epoch estimate is milliseconds per
batch times the epoch's batches.

Full: SST-2's training split (``$DISTILL_ZOO_DATA``), batches of 32, MiniLM-L6 -> its
layers [0, 2, 5]. Tiny (keeping it working): the built-in demo set and tiny models.
"""

from __future__ import annotations

import copy
import itertools
import tempfile
from typing import Any

from distill_zoo.bench.harness import (
    distilbert_module,
    emit,
    per_batch_ms,
    task_datamodule,
    teacher_and_student,
    training_steps,
)

SIZES: dict[str, dict[str, Any]] = {
    "full": {"task": "sst2", "batch": 32, "batches": 30, "rounds": 3, "warmup": 1},
    "tiny": {"task": "demo", "batch": 8, "batches": 2, "rounds": 1, "warmup": 0},
}


def run(size: str) -> dict[str, Any]:
    opts = SIZES[size]
    with tempfile.TemporaryDirectory() as tmp:
        datamodule = task_datamodule(opts["task"], opts["batch"], tmp, "grouping")
        lengths = [len(row) for row in datamodule.datasets["train"]["input_ids"]]
        epoch_batches = -(-len(lengths) // opts["batch"])
        positions, samples = {}, {}
        for name, grouped in (("random", False), ("grouped", True)):
            datamodule.group_by_length = grouped
            order = list(datamodule.train_sampler("train", 0))
            positions[name] = padded_positions(order, lengths, opts["batch"])
            samples[name] = list(itertools.islice(datamodule.train_dataloader(), opts["batches"]))
    pair = teacher_and_student(size)
    steps = {
        name: training_steps(distilbert_module(pair.teacher, copy.deepcopy(pair.student)), batches, clip=1.0)
        for name, batches in samples.items()
    }
    per_batch = per_batch_ms(steps, opts["rounds"], opts["warmup"], opts["batches"])
    return emit(
        "grouping",
        size,
        {
            "task": opts["task"],
            "batch": opts["batch"],
            "examples": len(lengths),
            "real_tokens": sum(lengths),
            "token_positions": positions,
            "timed_batches": opts["batches"],
            "median_ms_per_batch": per_batch,
            "epoch_estimate_s": {name: value * epoch_batches / 1000 for name, value in per_batch.items()},
            "ratio_positions": positions["random"] / positions["grouped"],
            "ratio_step_time": per_batch["random"] / per_batch["grouped"],
            "note": "ratio = random / grouped (above 1 grouping does less work); live teacher, DistilBERT loss",
        },
    )


def padded_positions(order: list[int], lengths: list[int], batch_size: int) -> int:
    """Token positions of an epoch served in ``order``: each batch padded to its longest row."""
    total = 0
    for first in range(0, len(order), batch_size):
        batch = order[first : first + batch_size]
        total += len(batch) * max(lengths[i] for i in batch)
    return total
