"""The shared LightningModule: what it optimises, what it saves, and that it learns."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

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
        student=tiny_bert(seed=1),
        objective=objective,
        teacher=tiny_bert(seed=2) if teacher else None,
        metrics=("acc",),
        optimizer=lambda p: torch.optim.AdamW(p, lr=5e-3),
    )


@pytest.mark.parametrize(
    "objective",
    [
        DistilBERTObjective(),
        KDObjective(),
        TinyBERTObjective(),
        MobileBERTObjective(),
        MiniLMObjective(),
        MiniLMObjective(version="v2", relation_heads=4),
    ],
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


def _train(module: DistillationModule, steps: int, callbacks=()) -> L.Trainer:
    batches = [padded_batch(8, 10, seed=i) for i in range(2)]
    trainer = L.Trainer(
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        callbacks=list(callbacks),
    )
    trainer.fit(module, DataLoader(batches, batch_size=None))
    return trainer


def _fit(objective, steps: int = 30):
    L.seed_everything(0)
    losses: list[float] = []

    class Record(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            losses.append(float(outputs["loss"]))

    _train(make(objective), steps, [Record()])
    return losses


def test_objective_projections_are_optimised_with_the_student():
    """A narrower student: TinyBERT's W_e and W_h belong to the objective and must train."""
    module = DistillationModule(
        student=tiny_bert(hidden_size=16, seed=1),
        objective=TinyBERTObjective(),
        teacher=tiny_bert(seed=2),
        optimizer=lambda p: torch.optim.AdamW(p, lr=1e-2),
    )
    projections = dict(module.objective.named_parameters())
    assert sorted(projections) == ["proj_embd.bias", "proj_embd.weight", "proj_hidn.bias", "proj_hidn.weight"]
    groups = module.parameter_groups()
    assert [g["name"] for g in groups] == ["layer0", "layer1", "other", "objective"]
    assert [id(p) for p in groups[-1]["params"]] == [id(p) for p in module.objective.parameters()]
    trainable = [id(p) for p in module.trainable_parameters()]
    assert len(trainable) == len(set(trainable))
    assert set(trainable) == {id(p) for p in [*module.student.parameters(), *module.objective.parameters()]}
    before = {name: p.detach().clone() for name, p in projections.items()}
    trainer = _train(module, steps=1)
    optimised = {id(p) for g in trainer.optimizers[0].param_groups for p in g["params"]}
    assert {id(p) for p in projections.values()} <= optimised
    unchanged = [name for name, p in projections.items() if torch.equal(p.detach(), before[name])]
    assert not unchanged, f"one optimiser step left {unchanged} untouched"


#: lr_factor over 8 steps with warmup_ratio 0.25: warm-up over int(0.25·8) = 2 steps, peak 1 at step 2,
#: then linear decay reaching 0 at step 8 (the end).
EIGHT_STEPS = [1 / 3, 2 / 3, 1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6]


def test_lr_factor_warms_up_then_decays_linearly_to_zero():
    module = make(KDObjective())
    module.warmup_ratio, module.total_steps = 0.25, 8
    assert [module.lr_factor(s) for s in range(8)] == pytest.approx(EIGHT_STEPS)
    assert module.lr_factor(8) == 0.0
    module.warmup_ratio = 0.0
    assert [module.lr_factor(s) for s in range(9)] == pytest.approx([(8 - s) / 8 for s in range(9)])


def test_every_phase_has_its_own_warm_up_and_decay():
    module = make(KDObjective())
    module.warmup_ratio, module.total_steps, module.phase_starts = 0.25, 12, [0, 4]
    first = [1 / 2, 1.0, 2 / 3, 1 / 3]  # 4 steps, warm-up over int(0.25·4) = 1
    assert [module.lr_factor(s) for s in range(12)] == pytest.approx(first + EIGHT_STEPS)
    assert module.lr_factor(12) == 0.0


def test_trainer_applies_the_schedule_to_every_group():
    module = DistillationModule(
        student=tiny_bert(hidden_size=16, seed=1),
        objective=TinyBERTObjective(),
        teacher=tiny_bert(seed=2),
        optimizer=lambda p: torch.optim.AdamW(p, lr=1e-2),
        warmup_ratio=0.25,
    )
    lrs: list[dict[str, float]] = []

    class Record(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            lrs.append({g["name"]: g["lr"] for g in trainer.optimizers[0].param_groups})

    _train(module, steps=8, callbacks=[Record()])
    assert module.total_steps == 8
    for step, groups in enumerate(lrs):
        assert set(groups) == {"layer0", "layer1", "other", "objective"}
        assert list(groups.values()) == pytest.approx([1e-2 * EIGHT_STEPS[step]] * 4), step


@pytest.mark.slow
def test_every_objective_decreases_its_loss_on_tiny_models():
    for objective in (
        SupervisedObjective(),
        KDObjective(),
        DistilBERTObjective(weights={"kd": 1, "task": 1, "cos": 1}),
    ):
        losses = _fit(objective)
        first, last = sum(losses[:4]) / 4, sum(losses[-4:]) / 4
        assert last < 0.7 * first, (type(objective).__name__, first, last)
