"""A cache entry's lock is taken only to build it; a cache that cannot hold the lock is named."""

from __future__ import annotations

import pytest

from distill_zoo import locks
from distill_zoo.errors import StateError
from distill_zoo.locks import MISSING, lock_unless_complete


class _ReadOnly:
    def __init__(self, path: str) -> None:
        raise OSError(30, "Read-only file system", path)


def test_a_complete_entry_takes_no_lock_and_is_checked_once(tmp_path, monkeypatch):
    monkeypatch.setattr(locks, "FileLock", _ReadOnly)
    checks = []
    with lock_unless_complete(tmp_path / "entry", lambda: checks.append(1)) as found:
        assert found is None
    assert checks == [1] and not (tmp_path / "entry.lock").exists()


def test_an_entry_to_build_is_checked_again_under_its_lock_which_is_released(tmp_path):
    answers = iter([MISSING, "damaged"])  # another process changed it while this one waited
    with lock_unless_complete(tmp_path / "entry", lambda: next(answers)) as found:
        assert found == "damaged" and (tmp_path / "entry.lock").exists()
    with lock_unless_complete(tmp_path / "entry", lambda: MISSING):  # released: taken again at once
        pass


def test_an_entry_to_build_on_a_read_only_cache_is_named_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(locks, "FileLock", _ReadOnly)
    with pytest.raises(StateError, match="must be built, but its cache cannot be written") as caught:
        with lock_unless_complete(tmp_path / "entry", lambda: MISSING):
            raise AssertionError("never reached")
    assert str(tmp_path / "entry") in str(caught.value) and "paths.cache_dir" in str(caught.value)
