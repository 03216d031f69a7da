"""One DDP training run for ``ddp`` (Lightning's launcher re-executes it once per extra process).

``python -m distill_zoo.bench.ddp_worker SIZE DEVICES STEPS OUT.json``: DistilBERT-objective
steps on a fixed global batch split across ``DEVICES`` CPU processes (gloo), dropout
off; rank 0 writes the per-step loss (mean over the global batch) and the throughput of
the steps after the first.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, cast

import lightning as L
import torch
from torch.utils.data import DataLoader, Sampler

from distill_zoo.bench.harness import QUIET_TRAINER, random_batch, teacher_and_student
from distill_zoo.objectives import DistilBERTObjective
from distill_zoo.training import DistillationModule

GLOBAL_BATCH = {"full": 32, "tiny": 4}
LENGTH = {"full": 64, "tiny": 16}


class RankSlice(Sampler[int]):
    """Rank r of W takes examples r, r + W, ...: each step's global batch is the same whatever W."""

    def __init__(self, size: int) -> None:
        self.size = size

    def _world(self) -> tuple[int, int]:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def __iter__(self) -> Any:
        rank, world = self._world()
        return iter(range(rank, self.size, world))

    def __len__(self) -> int:
        return self.size // self._world()[1]


class _Timer(L.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []
        self.started = 0.0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, *args: Any) -> None:
        self.losses.append(float(trainer.strategy.reduce(outputs["loss"].detach(), reduce_op="mean")))
        if len(self.losses) == 1:
            self.started = time.perf_counter()


def main(size: str, devices: int, steps: int, out: str) -> None:
    L.seed_everything(0, verbose=False)
    pair = teacher_and_student(size)
    for layer in pair.student.modules():  # no dropout: the two runs must draw nothing random
        if isinstance(layer, torch.nn.Dropout):
            layer.p = 0.0
    full = random_batch(pair.vocab_size, GLOBAL_BATCH[size] * steps, LENGTH[size], seed=3)
    examples = [{k: v[i] for k, v in full.items()} for i in range(len(full["labels"]))]
    module = DistillationModule(
        student=pair.student,
        objective=DistilBERTObjective(),
        teacher=pair.teacher,
        warmup_ratio=0.0,
        optimizer=lambda params: torch.optim.SGD(params, lr=0.05),
    )
    timer = _Timer()
    strategy = "ddp" if devices > 1 else "auto"
    trainer = L.Trainer(
        accelerator="cpu",
        devices=devices,
        strategy=strategy,
        max_steps=steps,
        use_distributed_sampler=False,
        callbacks=[timer],
        **QUIET_TRAINER,
    )
    loader = DataLoader(cast(Any, examples), batch_size=GLOBAL_BATCH[size] // devices, sampler=RankSlice(len(examples)))
    trainer.fit(module, loader)
    if trainer.is_global_zero:
        elapsed = time.perf_counter() - timer.started
        samples = GLOBAL_BATCH[size] * (steps - 1)
        with open(out, "w") as handle:
            json.dump({"losses": timer.losses, "samples_per_s": samples / elapsed, "devices": devices}, handle)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
