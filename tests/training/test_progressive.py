"""MobileBERT's progressive schedule trains exactly the layers it should in each phase."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from distill_zoo.errors import ConfigError
from distill_zoo.objectives import MobileBERTObjective
from distill_zoo.training import DistillationModule, ProgressiveTransfer
from tests.conftest import padded_batch, tiny_bert


class Snapshots(L.Callback):
    """Which parts of the student changed in each optimiser step, and the group learning rates."""

    def __init__(self) -> None:
        self.changed: list[set[str]] = []
        self.lrs: list[dict[str, float]] = []

    @staticmethod
    def parts(module) -> dict[str, torch.Tensor]:
        model = module.student.model
        return {
            "layer0": model.bert.encoder.layer[0].output.dense.weight,
            "layer1": model.bert.encoder.layer[1].output.dense.weight,
            "embeddings": model.bert.embeddings.word_embeddings.weight,
            "classifier": model.classifier.weight,
        }

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.before = {k: v.detach().clone() for k, v in self.parts(pl_module).items()}
        self.lrs.append({g["name"]: g["lr"] for g in trainer.optimizers[0].param_groups})

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        after = self.parts(pl_module)
        self.changed.append({k for k, v in after.items() if not torch.equal(v, self.before[k])})


def run(steps: int):
    L.seed_everything(0)
    module = DistillationModule(
        student=tiny_bert(num_layers=2, seed=1), objective=MobileBERTObjective(), teacher=tiny_bert(num_layers=4, seed=2),
        optimizer=lambda groups: torch.optim.AdamW(groups, lr=1e-2, weight_decay=0.0), warmup_ratio=0.0,
    )
    schedule, snaps = ProgressiveTransfer(lower_lr_scale=0.1), Snapshots()
    trainer = L.Trainer(
        max_steps=steps, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[schedule, snaps],
    )
    trainer.fit(module, DataLoader([padded_batch(4, 8, seed=i) for i in range(steps)], batch_size=None))
    return schedule, snaps


def test_each_phase_trains_exactly_its_layers():
    schedule, snaps = run(9)
    assert schedule.phases == [(0, 0), (3, 1), (6, 2)]
    for step in range(0, 3):
        assert snaps.changed[step] == {"layer0"}
        assert snaps.lrs[step]["layer1"] == 0.0 and snaps.lrs[step]["other"] == 0.0
    for step in range(3, 6):
        assert snaps.changed[step] == {"layer0", "layer1"}, step
        assert snaps.lrs[step]["layer0"] == pytest.approx(0.1 * snaps.lrs[step]["layer1"])
    for step in range(6, 9):
        assert snaps.changed[step] == {"layer0", "layer1", "embeddings", "classifier"}, step
        assert snaps.lrs[step]["layer0"] == pytest.approx(snaps.lrs[step]["layer1"])


def test_too_few_steps_is_a_config_error():
    with pytest.raises(ConfigError, match="at least 3 optimiser steps"):
        run(2)
