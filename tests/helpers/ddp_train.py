"""Train a tiny student with KD for a few steps on N CPU processes; save its weights.

Run as a script (Lightning's launcher re-executes it once per extra process):
    python tests/helpers/ddp_train.py <devices> <global_batch> <out.pt> [ddp|fsdp]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import lightning as L  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from distill_zoo.bench.ddp_worker import RankSlice  # noqa: E402
from distill_zoo.objectives import KDObjective  # noqa: E402
from distill_zoo.training import DistillationModule  # noqa: E402
from distill_zoo.training.fsdp import FullyShardedStrategy, full_state_dict  # noqa: E402
from tests.conftest import padded_batch, tiny_bert  # noqa: E402


def examples(n: int = 16) -> list[dict[str, torch.Tensor]]:
    """Equal-length examples, so per-process means combine exactly into the global mean."""
    full = padded_batch(batch_size=n, length=8, seed=7)
    full["attention_mask"][:] = 1
    return [{k: v[i] for k, v in full.items()} for i in range(n)]


def main(devices: int, global_batch: int, out: str, strategy: str = "ddp") -> None:
    L.seed_everything(0)
    module = DistillationModule(
        student=tiny_bert(seed=1),
        objective=KDObjective(alpha=0.7),
        teacher=tiny_bert(seed=2),
        optimizer=lambda p: torch.optim.SGD(p, lr=0.5),
    )
    trainer = L.Trainer(
        accelerator="cpu",
        devices=devices,
        strategy=FullyShardedStrategy() if strategy == "fsdp" else "ddp" if devices > 1 else "auto",
        max_steps=4,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        gradient_clip_val=1.0,
        use_distributed_sampler=False,
    )
    data = examples()
    loader = DataLoader(data, batch_size=global_batch // devices, sampler=RankSlice(len(data)))
    trainer.fit(module, loader)
    if strategy == "fsdp":  # every rank joins the gathering of the shards
        state = {k.removeprefix("model."): v for k, v in full_state_dict(module.student).items()}
    else:
        state = module.student.model.state_dict()
    if trainer.is_global_zero:
        torch.save(state, out)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], *sys.argv[4:])
