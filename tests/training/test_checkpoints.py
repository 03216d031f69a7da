"""The pieces of an exact resume: random streams, per-epoch order, batch skipping, finite saves."""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from distill_zoo.data.sampling import EpochShuffle, ResumableLoader, TrainingPosition
from distill_zoo.errors import NumericalError
from distill_zoo.training.checkpoints import PeriodicCheckpoint, RandomStreams, save_if_finite


def _draws() -> tuple:
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)]


def test_random_streams_come_back_exactly_after_a_weights_only_round_trip(tmp_path):
    torch.manual_seed(5), np.random.seed(5), random.seed(5)
    saved = RandomStreams().state_dict()
    torch.save(saved, tmp_path / "rng.pt")
    want = _draws()
    _draws()  # the streams move on, as they would in the killed process
    restored = RandomStreams()
    restored.load_state_dict(torch.load(tmp_path / "rng.pt", weights_only=True))
    restored.on_train_start(None, None)  # type: ignore[arg-type]
    assert _draws() == want
    restored.on_train_start(None, None)  # type: ignore[arg-type]  # only once: a later start leaves them alone
    assert _draws() != want


def test_epoch_order_depends_on_seed_and_epoch_only():
    sampler = EpochShuffle(50, seed=3)
    orders = []
    for epoch in (0, 1, 2):
        sampler.set_epoch(epoch)
        orders.append(list(sampler))
    assert all(sorted(o) == list(range(50)) for o in orders) and orders[0] != orders[1] != orders[2]
    fresh = EpochShuffle(50, seed=3, epoch=2)  # a resumed process starts at epoch 2 directly
    assert list(fresh) == orders[2]
    assert list(EpochShuffle(50, seed=4, epoch=2)) != orders[2]
    seen = []
    EpochShuffle(50, seed=3, on_epoch=seen.append).set_epoch(7)
    assert seen == [7]


def test_resumable_loader_skips_only_its_first_pass():
    data = list(range(20))
    full = [b.tolist() for b in ResumableLoader(data, batch_size=4)]
    loader = ResumableLoader(data, batch_size=4, skip_batches=2)
    assert [b.tolist() for b in loader] == full[2:]
    assert [b.tolist() for b in loader] == full and len(loader) == 5


def test_training_position_is_saved_and_skipped_once_for_its_epoch():
    class Module(TrainingPosition):
        trainer = None

    progress = SimpleNamespace(processed=7)
    trainer = SimpleNamespace(
        current_epoch=1,
        fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=SimpleNamespace(current=progress))),
    )
    saving = Module()
    assert saving.state_dict() == {}  # not attached to a trainer
    saving.trainer = trainer
    state = saving.state_dict()
    assert state == {"epoch": 1, "batches_done": 7}
    resumed = Module()
    resumed.trainer = trainer
    resumed.load_state_dict(state)
    assert resumed.batches_to_skip(epoch_batches=10) == 7
    assert resumed.batches_to_skip(epoch_batches=10) == 0  # once
    resumed.load_state_dict({"epoch": 1, "batches_done": 10})
    assert resumed.batches_to_skip(epoch_batches=10) == 0  # a finished epoch: the next one starts whole
    resumed.load_state_dict({"epoch": 0, "batches_done": 3})
    assert resumed.batches_to_skip(epoch_batches=10) == 0  # another epoch


def _trainer_with(weight: float, saved: list) -> SimpleNamespace:
    module = torch.nn.Linear(2, 1)
    with torch.no_grad():
        module.weight[0, 0] = weight
    return SimpleNamespace(lightning_module=module, global_step=4, save_checkpoint=lambda path, **_: saved.append(path))


def test_a_checkpoint_is_never_written_from_non_finite_weights(tmp_path):
    saved: list = []
    save_if_finite(_trainer_with(1.0, saved), tmp_path / "last.ckpt")
    assert saved == [tmp_path / "last.ckpt"]
    with pytest.raises(NumericalError, match=r"the weights became non-finite at step 4 \(weight\)"):
        save_if_finite(_trainer_with(float("nan"), saved), tmp_path / "last.ckpt")
    assert len(saved) == 1


def test_periodic_checkpoint_triggers(tmp_path):
    saved: list = []
    trainer = _trainer_with(1.0, saved)
    trainer.strategy = SimpleNamespace(broadcast=lambda value: value)
    callback = PeriodicCheckpoint(tmp_path / "last.ckpt", every_n_epochs=2, every_n_minutes=None, every_n_steps=3)
    for step in range(1, 8):
        trainer.global_step = step
        callback.on_train_batch_end(trainer, None)  # type: ignore[arg-type]
    assert len(saved) == 2  # steps 3 and 6
    for epoch in range(4):
        trainer.current_epoch = epoch
        callback.on_train_epoch_end(trainer, None)  # type: ignore[arg-type]
    assert len(saved) == 4  # after epochs 2 and 4
    with pytest.raises(ValueError, match="checkpoint.every_n_steps must be >= 0"):
        PeriodicCheckpoint(tmp_path / "x", every_n_steps=-1)
