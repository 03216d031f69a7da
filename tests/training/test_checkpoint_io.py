"""Checkpoints under faults: a full disk or a kill while writing never leaves a partial
``last.ckpt``, and one that does not load is named (a run) or set aside (a teacher)."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys

import pytest
import torch

from distill_zoo.errors import StateError
from distill_zoo.objectives import SupervisedObjective
from distill_zoo.training import checkpoint_io
from distill_zoo.training.checkpoint_io import (
    AtomicCheckpointIO,
    DamagedCheckpoint,
    load_checkpoint_file,
    remove_stale_temporaries,
    temporary_name,
)
from tests.training.resumable import differing, train


def _checkpoint(step: int) -> dict:
    return {"state_dict": {"w": torch.full((64, 64), float(step))}, "global_step": step}


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_full_disk_mid_write_keeps_the_last_checkpoint_whole_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint(_checkpoint(4), path)
    before = path.read_bytes()

    def half_then_full(obj, stream):  # writes part of the file, then the disk is full
        stream.write(before[: len(before) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_io.torch, "save", half_then_full)
    with pytest.raises(StateError, match="no space left") as caught:
        io.save_checkpoint(_checkpoint(6), path)
    assert str(path) in str(caught.value) and "keeps the last complete checkpoint" in str(caught.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_an_interrupted_write_never_replaces_the_file(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint(_checkpoint(2), path)

    def interrupted(obj, stream):
        stream.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint_io.torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        AtomicCheckpointIO().save_checkpoint(_checkpoint(3), path)
    assert load_checkpoint_file(path)["global_step"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_the_file_is_synced_in_its_own_folder_then_moved_into_place_and_the_folder_synced(tmp_path, monkeypatch):
    path, events = tmp_path / "last.ckpt", []
    real_replace, real_fsync = os.replace, os.fsync
    monkeypatch.setattr(
        checkpoint_io.os, "replace", lambda a, b: (events.append(("replace", a, b)), real_replace(a, b))
    )

    def fsync(handle: int) -> None:
        events.append(("fsync", os.path.realpath(f"/proc/self/fd/{handle}")))
        real_fsync(handle)

    monkeypatch.setattr(checkpoint_io.os, "fsync", fsync)
    AtomicCheckpointIO().save_checkpoint(_checkpoint(1), path)
    tmp = temporary_name(path, os.getpid())
    assert events == [("fsync", str(tmp)), ("replace", tmp, path), ("fsync", str(tmp_path))]


def test_temporaries_of_killed_writers_are_removed_and_live_or_foreign_ones_kept(tmp_path):
    path = tmp_path / "last.ckpt"
    dead = temporary_name(path, _dead_pid())
    alive = temporary_name(path, os.getppid())
    foreign = path.with_name(f".last.ckpt.{socket.gethostname()}-other.{_dead_pid()}.tmp")
    other_file = temporary_name(tmp_path / "model.ckpt", _dead_pid())
    for tmp in (dead, alive, foreign, other_file):
        tmp.write_bytes(b"partial")
    assert remove_stale_temporaries(path) == [dead]
    assert not dead.exists() and alive.exists() and foreign.exists() and other_file.exists()
    AtomicCheckpointIO().save_checkpoint(_checkpoint(1), path)  # a save cleans up as well
    assert alive.exists()


@pytest.mark.parametrize("content", [None, b"", b"not a checkpoint"], ids=["truncated", "empty", "garbage"])
def test_a_file_that_does_not_load_is_named(tmp_path, content):
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint(_checkpoint(1), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2] if content is None else content)
    with pytest.raises(DamagedCheckpoint, match=r"does not load \(\w+Error") as caught:
        load_checkpoint_file(path)
    assert caught.value.path == path and str(path) in str(caught.value)


def test_a_torch_file_that_is_not_a_training_checkpoint_is_refused(tmp_path):
    path = tmp_path / "last.ckpt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(DamagedCheckpoint, match="holds no state_dict, global_step"):
        load_checkpoint_file(path)


def _truncate(path) -> bytes:
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    return path.read_bytes()


def test_a_run_refuses_a_truncated_checkpoint_and_names_it_with_the_fix(tmp_path):
    train(tmp_path, SupervisedObjective, list, steps=4)
    cut = _truncate(tmp_path / "last.ckpt")
    with pytest.raises(DamagedCheckpoint) as caught:
        train(tmp_path, SupervisedObjective, list, steps=6)
    message = str(caught.value)
    assert str(tmp_path / "last.ckpt") in message and f"mv {tmp_path / 'last.ckpt'}" in message
    assert isinstance(caught.value, StateError) and caught.value.exit_code == 4
    assert (tmp_path / "last.ckpt").read_bytes() == cut, "the refused file is left as it was"


def test_set_aside_trains_from_step_zero_as_a_fresh_run(tmp_path, capsys):
    fresh = train(tmp_path / "fresh", SupervisedObjective, list, steps=6)[1]
    folder = tmp_path / "teacher"
    train(folder, SupervisedObjective, list, steps=4)
    _truncate(folder / "last.ckpt")
    capsys.readouterr()
    trainer, weights = train(folder, SupervisedObjective, list, steps=6, damaged="set_aside")
    assert trainer.global_step == 6 and differing(weights, fresh) == []
    (aside,) = folder.glob("last.ckpt.damaged-*")
    assert f"set aside as {aside.name}, training from step 0" in capsys.readouterr().out
