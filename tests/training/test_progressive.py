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
from tests.training.resumable import quiet_trainer


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


def run(steps: int, prediction_share: float = 1 / 3, warmup_ratio: float = 0.0, **objective):
    L.seed_everything(0)
    module = DistillationModule(
        student=tiny_bert(num_layers=2, seed=1),
        objective=MobileBERTObjective(**objective),
        teacher=tiny_bert(num_layers=4, seed=2),
        optimizer=lambda groups: torch.optim.AdamW(groups, lr=1e-2, weight_decay=0.0),
        warmup_ratio=warmup_ratio,
    )
    schedule = ProgressiveTransfer(lower_lr_scale=0.1, prediction_share=prediction_share)
    snaps = Snapshots()
    trainer = quiet_trainer(max_steps=steps, callbacks=[schedule, snaps])
    trainer.fit(module, DataLoader([padded_batch(4, 8, seed=i) for i in range(steps)], batch_size=None))
    return schedule, snaps


def test_each_phase_trains_exactly_its_layers():
    schedule, snaps = run(9)
    assert schedule.entered == [(0, "layer0"), (3, "layer1"), (6, "prediction")]
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


def test_the_prediction_phase_gets_its_budget_and_its_own_schedule():
    """Half the steps for prediction (the default), each phase with its own warm-up and decay:
    the prediction phase does not start at an already-decayed rate."""
    schedule, snaps = run(16, prediction_share=0.5, warmup_ratio=0.25)
    assert schedule.plan == [("layer0", 0, 4), ("layer1", 4, 4), ("prediction", 8, 8)]
    assert [s for s, name in schedule.entered if name == "prediction"] == [8]
    top = [lrs["layer1"] for lrs in snaps.lrs]
    # Prediction phase: 8 steps, warm-up over 2, then linear decay towards 0.
    assert top[8] == pytest.approx(1e-2 * 1 / 3) and top[9] == pytest.approx(1e-2 * 2 / 3)
    assert top[10] == pytest.approx(1e-2 * 6 / 6) and top[15] == pytest.approx(1e-2 * 1 / 6)
    # Layer phase 1 (steps 4..7) restarted its warm-up too.
    assert top[4] == pytest.approx(1e-2 * 1 / 2) and top[5] == pytest.approx(1e-2)
    assert max(top[8:]) == pytest.approx(max(top[:8]))


@pytest.mark.parametrize("objective", [{"layer_map": "last"}, {"weights": {"fmt": 0.0, "at": 0.0}}])
def test_phases_without_layer_terms_are_skipped_not_crashed(objective):
    """layer_map=last has a term for the last student layer only; with every layer term off
    there is only the prediction phase. Neither may crash at step 0 (the loss was the int 0)."""
    schedule, snaps = run(8, prediction_share=0.5, **objective)
    names = [name for name, _, _ in schedule.plan]
    assert names == (["layer1", "prediction"] if objective.get("layer_map") == "last" else ["prediction"])
    assert len(snaps.changed) == 8 and all(snaps.changed)


def test_no_prediction_phase_without_head_terms():
    """A corpus run or an intermediate stage (kd and task off) has layer phases only."""
    schedule, snaps = run(8, prediction_share=0.5, weights={"kd": 0.0, "task": 0.0})
    assert [name for name, _, _ in schedule.plan] == ["layer0", "layer1"]
    assert [steps for _, _, steps in schedule.plan] == [4, 4] and all(snaps.changed)
