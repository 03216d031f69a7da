"""A cached teacher's files, checked before they are trusted.

``entry.json`` (written last, after the weights and tokenizer) records, besides the key and
the dev metrics, every other file of the entry with its size and SHA-256 (``files``). On
reuse :func:`entry_damage` checks them: a weight file overwritten, truncated or replaced,
a missing tokenizer file or an ``entry.json`` that does not parse makes the entry damaged,
and the teacher stage moves it aside (``.<name>.damaged-<time>``) and fine-tunes it again,
so the metrics a record quotes always come from the weights the student learned from.

An entry made before digests were recorded is verified by what can still be checked (it
parses and names its key) and gets its digests recorded on first reuse.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from distill_zoo.errors import StateError
from distill_zoo.files import sha256_of
from distill_zoo.pipeline.record import write_json

ENTRY = "entry.json"
#: What every ``entry.json`` holds.
REQUIRED = ("key", "metrics", "description")


def file_digests(folder: Path) -> dict[str, dict[str, Any]]:
    """``{name: {"bytes": size, "sha256": digest}}`` for every file of ``folder`` but ``entry.json``."""
    return {
        str(path.relative_to(folder)): {"bytes": path.stat().st_size, "sha256": sha256_of(path)}
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != ENTRY
    }


def read_entry_json(folder: Path) -> dict[str, Any]:
    """The parsed ``entry.json``; :class:`StateError` naming the file when it does not parse."""
    path = folder / ENTRY
    try:
        entry = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise StateError(f"{path} does not parse ({type(err).__name__}: {err})") from err
    missing = [key for key in REQUIRED if not isinstance(entry, dict) or key not in entry]
    if missing:
        raise StateError(f"{path} holds no {', '.join(missing)}")
    return entry


def entry_damage(folder: Path) -> str | None:
    """Why the entry in ``folder`` cannot be trusted, or None when every recorded file is there
    with its recorded size and digest."""
    try:
        entry = read_entry_json(folder)
    except StateError as err:
        return str(err)
    for name, want in (entry.get("files") or {}).items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        size = path.stat().st_size
        if size != want["bytes"]:
            return f"{name} has {size} bytes, {want['bytes']} recorded"
        if sha256_of(path) != want["sha256"]:
            return f"{name} differs from the file the entry was made with (its SHA-256 changed)"
    return None


def record_digests(folder: Path) -> None:
    """Add ``files`` to an entry made before digests were recorded (trusting its files as they
    are now); a read-only cache is left as it is."""
    entry = read_entry_json(folder)
    if "files" in entry:
        return
    try:
        write_json(folder / ENTRY, {**entry, "files": file_digests(folder)})
    except OSError:
        return
    print(f"[teacher] {folder.name} was made before entries recorded digests: recorded them now")


def set_aside(folder: Path, reason: str) -> Path:
    """Move the entry in ``folder`` out of the way (``.<name>.damaged-<time>`` beside it) so it is
    built again; :class:`StateError` with the fix when the cache cannot be written."""
    aside = folder.with_name(f".{folder.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        folder.replace(aside)
    except OSError as err:
        raise StateError(
            f"the cached teacher {folder} cannot be used ({reason}) and cannot be moved aside ({err}); "
            f"delete it (rm -r {folder}) where the cache is writable, or point paths.cache_dir at another cache"
        ) from err
    print(f"[teacher] {folder.name} cannot be used ({reason}); moved aside to {aside.name}, building it again")
    return aside
