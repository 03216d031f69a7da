"""The teacher-output cache under faults: non-finite outputs are never stored, a damaged entry
is found when opened and computed again, a full disk is refused before any write, and the
temporary folders of killed writers are removed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
import torch

from distill_zoo.errors import NumericalError, StateError
from distill_zoo.features import FeatureRequest
from distill_zoo.models import FrozenEncoder, cache_check
from distill_zoo.models.cache_check import (
    BLOCK,
    SAMPLES,
    ensure_free_space,
    outputs_damage,
    record_checks,
    remove_stale_temporaries,
)
from distill_zoo.models.cached import write_teacher_outputs
from tests.conftest import TINY_RUN, padded_batch, record_at, run_job, tiny_bert


def _write(folder: Path, teacher: torch.nn.Module | None = None, examples: int = 320, length: int = 64) -> Path:
    teacher = teacher or FrozenEncoder(tiny_bert(num_layers=2))
    batches = []
    for i in range(examples // 8):
        batch = padded_batch(batch_size=8, length=length, seed=i)
        batch["example_index"] = torch.arange(8) + 8 * i
        batches.append(batch)
    request = FeatureRequest(logits=True, hidden_states=(0, 1, 2))
    write_teacher_outputs(teacher, batches, request, examples, length, folder, description={})
    return folder


def test_an_entry_records_shape_size_and_digests_of_every_array(tmp_path):
    folder = _write(tmp_path / "entry")
    meta = json.loads((folder / "meta.json").read_text())
    assert sorted(meta["checks"]) == meta["arrays"] == ["hidden_0", "hidden_1", "hidden_2", "logits"]
    assert meta["checks"]["logits"]["shape"] == [320, 2] and meta["checks"]["hidden_1"]["shape"] == [320, 64, 32]
    assert meta["checks"]["logits"]["bytes"] == (folder / "logits.npy").stat().st_size
    assert outputs_damage(folder) is None and outputs_damage(folder, full=True) is None


def _noise(path: Path) -> None:  # the same header, shape and size: only the values change
    array = np.load(path, mmap_mode="r+")
    array[:] = np.random.default_rng(0).normal(size=array.shape)
    array.flush()


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def _unsampled_byte(path: Path) -> None:
    """Flip one byte that no sampled block covers: only the full check sees it."""
    size = path.stat().st_size
    first, second = 0, (size - BLOCK) // (SAMPLES - 1)
    offset = first + BLOCK + (second - first - BLOCK) // 2
    assert BLOCK < offset < second, "the array must be larger than the sampled blocks"
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("spoil", "array", "quick", "full"),
    [
        (_noise, "logits", "digest changed", "digest changed"),
        (_truncate, "hidden_2", "recorded", "recorded"),
        (lambda p: p.unlink(), "hidden_0", "hidden_0.npy is missing", "is missing"),
        (_unsampled_byte, "hidden_1", None, "digest changed"),
    ],
    ids=["noise", "truncated", "missing", "one-byte"],
)
def test_damage_is_found_quickly_or_with_the_full_check(tmp_path, spoil, array, quick, full):
    folder = _write(tmp_path / "entry")
    spoil(folder / f"{array}.npy")
    found = outputs_damage(folder)
    assert (found is None) if quick is None else (quick in found and array in found)
    assert full in outputs_damage(folder, full=True)


def test_a_garbled_meta_is_damage_not_a_traceback(tmp_path):
    folder = _write(tmp_path / "entry")
    (folder / "meta.json").write_text('{"arrays": [')
    assert outputs_damage(folder) == "meta.json does not parse (JSONDecodeError)"


def test_an_entry_without_checks_gets_them_once(tmp_path):
    folder = _write(tmp_path / "entry")
    meta = json.loads((folder / "meta.json").read_text())
    recorded = meta.pop("checks")
    (folder / "meta.json").write_text(json.dumps(meta))
    assert outputs_damage(folder) is None  # what can be checked, is: its arrays load
    assert record_checks(folder) and not record_checks(folder)
    assert json.loads((folder / "meta.json").read_text())["checks"] == recorded


class _Broken(torch.nn.Module):
    """A teacher whose logits are NaN for one example."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = FrozenEncoder(tiny_bert(num_layers=2))
        self.causal = self.inner.causal

    def forward(self, batch, request):
        out = self.inner(batch, request)
        out.logits[0, 0] = float("nan")
        return out


def test_non_finite_teacher_outputs_are_refused_and_nothing_is_stored(tmp_path):
    with pytest.raises(NumericalError, match=r"the teacher's logits output is not finite .* nothing was cached"):
        _write(tmp_path / "entry", teacher=_Broken())
    assert list(tmp_path.iterdir()) == [], "neither the entry nor its temporary folder is left"


def test_a_full_disk_is_refused_before_writing(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(cache_check.shutil, "disk_usage", lambda path: usage(10**12, 10**12 - 10**6, 10**6))
    with pytest.raises(StateError, match=r"needs 0\.50 GB in .* and its disk has 0\.00 GB free.*teacher_cache=off"):
        ensure_free_space(tmp_path, 500_000_000, "the teacher-output cache")


def test_temporary_folders_of_killed_writers_are_removed(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead, alive = tmp_path / f".abc.tmp-{child.pid}", tmp_path / f".def.tmp-{os.getppid()}"
    for folder in (dead, alive):
        folder.mkdir()
        (folder / "logits.npy").write_bytes(b"partial")
    assert remove_stale_temporaries(tmp_path) == [dead]
    assert not dead.exists() and alive.exists()


@pytest.mark.slow
def test_a_damaged_entry_is_computed_again_and_the_run_matches_a_clean_one(tmp_path, capsys):
    common = [*TINY_RUN, "method=kd", "teacher_cache=logits", f"paths.cache_dir={tmp_path / 'cache'}"]
    first = record_at(run_job([*common, f"paths.output_dir={tmp_path / 'a'}"], tmp_path) and tmp_path / "a")
    (entry,) = (tmp_path / "cache" / "teacher_outputs").glob("*/logits.npy")
    _noise(entry)
    capsys.readouterr()
    second = record_at(run_job([*common, f"paths.output_dir={tmp_path / 'b'}"], tmp_path) and tmp_path / "b")
    out = capsys.readouterr().out
    assert (
        f"[teacher outputs] {entry.parent.name} cannot be used (logits.npy differs" in out
        and "computing it again" in out
    )
    assert second.final_losses == first.final_losses and second.student.metrics == first.student.metrics
