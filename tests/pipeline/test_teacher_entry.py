"""A cached teacher is used only when its files are the ones it was made with: altered,
truncated, garbled or missing files are found before the teacher is loaded, the entry is
moved aside and built again, and the rebuilt teacher is the one a clean cache makes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from distill_zoo.errors import StateError
from distill_zoo.pipeline import teacher_entry
from distill_zoo.pipeline.teacher_entry import entry_damage, set_aside
from tests.conftest import TINY_RUN, run_job


def _teacher(cache: Path, tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    capsys.readouterr()
    run_job([*TINY_RUN, "stages=[teacher]", f"paths.cache_dir={cache}"], tmp)
    (entry,) = [p for p in (cache / "teachers").glob("*/entry.json") if not p.parent.name.startswith(".")]
    return entry.parent, capsys.readouterr().out


def _noise(folder: Path) -> None:
    """Overwrite the tensors' bytes in place (the header kept): the file keeps its size."""
    path = folder / "model.safetensors"
    data = bytearray(path.read_bytes())
    start = 8 + int.from_bytes(data[:8], "little")  # safetensors: header length, header, then the tensors
    data[start:] = (
        torch.randint(0, 256, (len(data) - start,), generator=torch.Generator().manual_seed(0))
        .to(torch.uint8)
        .numpy()
        .tobytes()
    )
    path.write_bytes(bytes(data))


def _truncate(folder: Path) -> None:
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garble(folder: Path) -> None:
    (folder / "entry.json").write_text('{"key": "tiny-demo-')


def _drop_config(folder: Path) -> None:
    (folder / "config.json").unlink()


DAMAGE = {
    "weights overwritten": (_noise, "differs from the file the entry was made with"),
    "weights truncated": (_truncate, "model.safetensors has"),
    "entry.json garbled": (_garble, "entry.json does not parse"),
    "config.json missing": (_drop_config, "it is incomplete"),
}


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> dict[str, torch.Tensor]:
    """The teacher a clean cache makes (the fine-tune is deterministic on CPU)."""
    tmp = tmp_path_factory.mktemp("clean")
    run_job([*TINY_RUN, "stages=[teacher]", f"paths.cache_dir={tmp / 'cache'}"], tmp)
    (weights,) = (tmp / "cache" / "teachers").glob("*/model.safetensors")
    return load_file(weights)


def test_an_entry_records_the_size_and_digest_of_every_file(tmp_path, capsys):
    folder, _ = _teacher(tmp_path / "cache", tmp_path, capsys)
    files = json.loads((folder / "entry.json").read_text())["files"]
    on_disk = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != "entry.json")
    assert sorted(files) == on_disk and {"model.safetensors", "config.json"} <= files.keys()
    assert files["model.safetensors"]["bytes"] == (folder / "model.safetensors").stat().st_size
    assert entry_damage(folder) is None


@pytest.mark.slow
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_entry_is_moved_aside_and_built_again(tmp_path, capsys, clean, damage):
    cache = tmp_path / "cache"
    folder, _ = _teacher(cache, tmp_path / "a", capsys)
    spoil, reason = DAMAGE[damage]
    spoil(folder)
    again, out = _teacher(cache, tmp_path / "b", capsys)
    assert again == folder and reason in out and "building it again" in out
    (aside,) = (cache / "teachers").glob(f".{folder.name}.damaged-*")
    assert aside.is_dir()
    rebuilt = load_file(folder / "model.safetensors")
    assert rebuilt.keys() == clean.keys() and all(torch.equal(rebuilt[k], clean[k]) for k in clean)
    assert entry_damage(folder) is None


def test_an_entry_without_digests_gets_them_on_first_reuse(tmp_path, capsys):
    cache = tmp_path / "cache"
    folder, _ = _teacher(cache, tmp_path / "a", capsys)
    entry = json.loads((folder / "entry.json").read_text())
    recorded = entry.pop("files")
    (folder / "entry.json").write_text(json.dumps(entry))
    _, out = _teacher(cache, tmp_path / "b", capsys)
    assert "reusing cached teacher" in out and "recorded them now" in out
    assert json.loads((folder / "entry.json").read_text())["files"] == recorded


def test_a_damaged_entry_that_cannot_be_moved_names_the_fix(tmp_path, monkeypatch):
    folder = tmp_path / "teachers" / "tiny-demo-0123"
    folder.mkdir(parents=True)

    def read_only(self, target):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(teacher_entry.Path, "replace", read_only)
    with pytest.raises(StateError, match=r"cannot be used \(entry.json does not parse\)") as caught:
        set_aside(folder, "entry.json does not parse")
    assert f"rm -r {folder}" in str(caught.value) and "paths.cache_dir" in str(caught.value)
    shutil.rmtree(folder)
