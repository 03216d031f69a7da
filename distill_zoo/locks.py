"""One lock per cache entry, taken only to build it: a complete entry is read without one.

Caches (fine-tuned teachers, teacher outputs, tokenised corpora, generated completions) are
built once under a file lock, so parallel jobs and DDP ranks never build the same entry
twice. Every entry appears whole by a final rename, so reading a complete one needs no lock;
taking it anyway opens the lock file for writing, which a shared read-only cache refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock

from distill_zoo.errors import StateError

#: What a check says of an entry that is not there (yet).
MISSING = "missing"


@contextmanager
def lock_unless_complete(entry: Path, problem: Callable[[], str | None]) -> Iterator[str | None]:
    """Yield what ``problem()`` says of the entry (None: usable; :data:`MISSING`; or why it is
    damaged). A usable entry takes no lock and is checked once; any other takes
    ``<entry>.lock`` and is checked again under it (another process may have built it
    meanwhile), so the caller builds only what is still not usable. A cache where the lock
    cannot be created (read-only) is a :class:`StateError` naming it."""
    if problem() is None:
        yield None
        return
    try:
        lock = FileLock(str(entry) + ".lock")
        lock.acquire()
    except OSError as err:
        raise StateError(
            f"{entry} is missing or damaged and must be built, but its cache cannot be written ({err}); point "
            "paths.cache_dir at a writable cache, or rebuild the entry where this one is writable"
        ) from err
    try:
        yield problem()
    finally:
        lock.release()
