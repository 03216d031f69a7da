"""Checks of a teacher-output cache entry: what its ``meta.json`` records, and whether the
arrays on disk still match it.

``meta.json`` is written last and records per array its shape, size in bytes, a SHA-256 of
the whole file and a *sampled* digest (:data:`SAMPLES` evenly spaced blocks of
:data:`BLOCK` bytes, plus the size). Every open checks sizes, shapes and the sampled digest,
which reads a few hundred kilobytes whatever the entry's size and catches a truncated,
replaced or overwritten array; ``full=True`` (``teacher_cache_verify=full``) also rehashes
every byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from distill_zoo.errors import StateError
from distill_zoo.files import process_running, sha256_of

META = "meta.json"
SAMPLES = 16
BLOCK = 1 << 16


def array_checks(path: Path) -> dict[str, Any]:
    """What ``meta.json`` records of one ``.npy`` array."""
    return {
        "shape": list(_shape(path)),
        "bytes": path.stat().st_size,
        "sampled": sampled_digest(path),
        "sha256": sha256_of(path),
    }


def sampled_digest(path: Path) -> str:
    """SHA-256 of the size and :data:`SAMPLES` evenly spaced blocks of ``path``."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as stream:
        for i in range(SAMPLES):
            stream.seek(max(0, (size - BLOCK) * i // max(SAMPLES - 1, 1)))
            digest.update(stream.read(BLOCK))
    return digest.hexdigest()


def outputs_damage(folder: Path, full: bool = False) -> str | None:
    """Why the entry in ``folder`` cannot be used, or None. An entry made before checks were
    recorded passes on what can still be checked (its arrays exist and load)."""
    try:
        meta = json.loads((folder / META).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        return f"{META} does not parse ({type(err).__name__})"
    checks: dict[str, Any] = meta.get("checks") or {}
    for name in meta.get("arrays", []):
        path = folder / f"{name}.npy"
        if not path.is_file():
            return f"{path.name} is missing"
        want = checks.get(name)
        try:
            shape = _shape(path)
        except (OSError, ValueError) as err:
            return f"{path.name} does not load ({type(err).__name__})"
        if want is None:
            continue
        size = path.stat().st_size
        if size != want["bytes"] or list(shape) != want["shape"]:
            return f"{path.name} is {size} bytes of shape {list(shape)}, {want['bytes']} of {want['shape']} recorded"
        if sampled_digest(path) != want["sampled"] or (full and sha256_of(path) != want["sha256"]):
            return f"{path.name} differs from the array that was written (its digest changed)"
    return None


def record_checks(folder: Path) -> bool:
    """Add ``checks`` to the ``meta.json`` of an entry made before they were recorded (trusting
    its arrays as they are now); False when the cache cannot be written or has them already."""
    meta = json.loads((folder / META).read_text())
    if "checks" in meta:
        return False
    meta["checks"] = {name: array_checks(folder / f"{name}.npy") for name in meta["arrays"]}
    tmp = folder / f".{META}.{os.getpid()}"
    try:
        tmp.write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
        tmp.replace(folder / META)
    except OSError:
        tmp.unlink(missing_ok=True)
        return False
    return True


def ensure_free_space(folder: Path, needed: int, what: str) -> None:
    """Refuse before writing ``needed`` bytes under ``folder``'s disk when it has less free
    (with a margin): through a memory map a full disk is a SIGBUS, not an error."""
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < needed * 1.05 + (64 << 20):
        raise StateError(
            f"{what} needs {needed / 1e9:.2f} GB in {folder} and its disk has {free / 1e9:.2f} GB free; free some "
            "space, point paths.cache_dir at a larger disk, or run the teacher live (teacher_cache=off)"
        )


def remove_stale_temporaries(parent: Path) -> list[Path]:
    """Remove the ``.<entry>.tmp-<pid>`` folders under ``parent`` whose process is gone (killed
    while writing, even with ``kill -9``); return them."""
    removed = []
    for tmp in parent.glob(".*.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if tmp.is_dir() and pid.isdigit() and int(pid) != os.getpid() and not process_running(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
    return removed


def _shape(path: Path) -> tuple[int, ...]:
    with path.open("rb") as stream:
        version = np.lib.format.read_magic(stream)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, _ = read(stream)  # the header only
    return tuple(shape)
