"""One run for ``fsdp`` (Lightning's launcher re-executes it once per extra process).

``python -m distill_zoo.bench.fsdp_worker SIZE STRATEGY DEVICES OUT_PREFIX``: a causal-LM
teacher and its half-depth student, ``method=lm_kd`` (forward KL) with AdamW for
:data:`STEPS` steps on CPU processes (gloo) under ``ddp`` or ``fsdp``. Right before the last
optimiser step every rank counts the bytes of model state it holds (its local shards under
FSDP): teacher parameters, student parameters, their gradients, AdamW's moments. Each rank
writes ``OUT_PREFIX.<rank>.json``.
"""

from __future__ import annotations

import json
import sys
from typing import Any, cast

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader
from transformers import PreTrainedModel

from distill_zoo.bench.ddp_worker import RankSlice
from distill_zoo.bench.harness import QUIET_TRAINER
from distill_zoo.models import load_causal_lm, random_causal_lm
from distill_zoo.models.students import from_teacher_layers
from distill_zoo.objectives.lm_kd import LMKDObjective
from distill_zoo.training import DistillationModule
from distill_zoo.training.fsdp import FullyShardedStrategy

STEPS = 2
BATCH_PER_RANK, LENGTH = 2, 32


def _bytes(tensor: Tensor | None) -> int:
    if tensor is None:
        return 0
    local = cast(Any, tensor).to_local() if type(tensor).__name__ == "DTensor" else tensor
    return int(local.numel() * local.element_size())


class _Count(L.Callback):
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Any) -> None:
        module = cast(DistillationModule, pl_module)
        student = list(module.student.parameters())
        teacher = list(module.teacher.parameters()) if module.teacher is not None else []
        moments = [v for state in optimizer.state.values() for v in state.values() if torch.is_tensor(v) and v.dim()]
        self.counts = {
            "teacher_params": sum(_bytes(p) for p in teacher),
            "student_params": sum(_bytes(p) for p in student),
            "student_grads": sum(_bytes(p.grad) for p in student),
            "optimizer_state": sum(_bytes(v) for v in moments),
        }


def models(size: str) -> tuple[PreTrainedModel, PreTrainedModel]:
    if size == "full":
        teacher = load_causal_lm("smollm2-135m-instruct")
    else:
        torch.manual_seed(0)
        teacher = random_causal_lm("llama", 512, num_layers=4, hidden_size=64, num_heads=4, num_kv_heads=2)
    return teacher.eval(), from_teacher_layers(teacher, 0).train()


def main(size: str, strategy: str, devices: int, prefix: str) -> None:
    L.seed_everything(0, verbose=False)
    teacher, student = models(size)
    vocab = int(teacher.config.vocab_size)
    ids = torch.randint(
        0, vocab, (BATCH_PER_RANK * devices * STEPS, LENGTH), generator=torch.Generator().manual_seed(1)
    )
    examples = [{"input_ids": row, "attention_mask": torch.ones_like(row)} for row in ids]
    module = DistillationModule(
        student=student,
        objective=LMKDObjective(divergence="fkl"),
        teacher=teacher,
        warmup_ratio=0.0,
        optimizer=lambda params: torch.optim.AdamW(params, lr=1e-5),
    )
    counter = _Count()
    trainer = L.Trainer(
        accelerator="cpu",
        devices=devices,
        strategy=FullyShardedStrategy() if strategy == "fsdp" else "ddp",
        max_steps=STEPS,
        use_distributed_sampler=False,
        callbacks=[counter],
        **QUIET_TRAINER,
    )
    loader = DataLoader(cast(Any, examples), batch_size=BATCH_PER_RANK, sampler=RankSlice(len(examples)))
    trainer.fit(module, loader)
    with open(f"{prefix}.{trainer.global_rank}.json", "w") as handle:
        json.dump(counter.counts, handle)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
