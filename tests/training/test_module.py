"""The shared LightningModule: what it optimises, what it saves, and that it learns."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader

import pytest

from distill_zoo.objectives import (
    DistilBERTObjective,
    KDObjective,
    MiniLMObjective,
    MobileBERTObjective,
    SupervisedObjective,
    TinyBERTObjective,
)
from distill_zoo.training import DistillationModule
from tests.conftest import padded_batch, tiny_bert


def make(objective, teacher=True):
    return DistillationModule(
        student=tiny_bert(seed=1), objective=objective, teacher=tiny_bert(seed=2) if teacher else None,
        metrics=("acc",), optimizer=lambda p: torch.optim.AdamW(p, lr=5e-3),
    )


@pytest.mark.parametrize(
    "objective",
    [DistilBERTObjective(), KDObjective(), TinyBERTObjective(), MobileBERTObjective(), MiniLMObjective(),
     MiniLMObjective(version="v2", relation_heads=4)],
    ids=lambda o: type(o).__name__ + getattr(o, "version", ""),
)
def test_gradients_reach_the_student_and_never_the_teacher(objective):
    module = make(objective)
    module.training_step(padded_batch(), 0).backward()
    student_grads = [p.grad for p in module.student.parameters() if p.grad is not None]
    assert student_grads and any(g.abs().sum() > 0 for g in student_grads)
    assert all(p.grad is None for p in module.teacher.parameters())


def test_teacher_is_excluded_from_optimizer_and_checkpoint():
    module = make(KDObjective())
    trainable = {id(p) for p in module.trainable_parameters()}
    assert not trainable & {id(p) for p in module.teacher.parameters()}
    assert trainable == {id(p) for p in module.student.parameters()}
    checkpoint = {"state_dict": module.state_dict()}
    module.on_save_checkpoint(checkpoint)
    assert checkpoint["state_dict"] and not any(k.startswith("teacher.") for k in checkpoint["state_dict"])


def test_student_trains_with_dropout_and_teacher_stays_eval():
    module = make(KDObjective())
    module.train()
    assert module.student.training and not module.teacher.training


def _fit(objective, steps: int = 30):
    L.seed_everything(0)
    module = make(objective)
    batches = [padded_batch(8, 10, seed=i) for i in range(2)]
    losses: list[float] = []

    class Record(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            losses.append(float(outputs["loss"]))

    trainer = L.Trainer(
        max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu", callbacks=[Record()],
    )
    trainer.fit(module, DataLoader(batches, batch_size=None))
    return losses


def test_every_objective_decreases_its_loss_on_tiny_models():
    for objective in (SupervisedObjective(), KDObjective(), DistilBERTObjective(weights={"kd": 1, "task": 1, "cos": 1})):
        losses = _fit(objective)
        first, last = sum(losses[:4]) / 4, sum(losses[-4:]) / 4
        assert last < 0.7 * first, (type(objective).__name__, first, last)
