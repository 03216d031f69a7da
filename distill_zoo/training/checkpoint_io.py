"""Checkpoint files that are whole under their final name, or absent.

Lightning's :class:`~lightning.pytorch.plugins.io.TorchCheckpointIO` writes a checkpoint
into a temporary file under ``$TMPDIR`` and moves it into place; across filesystems that
move is a copy, so a full disk or a kill during it leaves a truncated ``last.ckpt`` that
every later resume fails on. :class:`AtomicCheckpointIO` (the trainer's checkpoint plugin,
see ``pipeline.builders.build_trainer``) writes into the checkpoint's own folder instead:

1. ``.<name>.<host>.<pid>.tmp`` beside the target, flushed and fsynced;
2. ``os.replace`` onto the target (atomic on one filesystem);
3. an fsync of the folder, so the rename itself survives a power cut.

A failed write removes its temporary file and leaves the previous checkpoint as it was. A
temporary file whose writer was killed (``kill -9``: no cleanup ran) is removed by the next
save or resume on the same host, once its process is gone.

Reading goes through :func:`load_checkpoint_file`, which names the file when it does not load.
"""

from __future__ import annotations

import errno
import os
import pickle
import socket
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from distill_zoo.errors import StateError
from distill_zoo.files import process_running

#: The keys every checkpoint ``Trainer.save_checkpoint`` writes; one without them is not ours.
REQUIRED_KEYS = ("state_dict", "global_step")


class DamagedCheckpoint(StateError):
    """A checkpoint file that exists but does not load (truncated, overwritten, not a checkpoint)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"the checkpoint {path} does not load ({reason})")


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` into the checkpoint's folder, fsync, ``os.replace``: never a partial file
    under the final name (see the module docstring)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        write_atomically(Path(path), lambda stream: torch.save(checkpoint, stream))

    def load_checkpoint(
        self, path: Any, map_location: Any | None = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        return load_checkpoint_file(Path(path), map_location=map_location, weights_only=weights_only)


def write_atomically(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write`` on a temporary file beside ``path`` and move it onto ``path`` once it is
    whole and on disk. On any failure ``path`` keeps what it held before."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = temporary_name(path, os.getpid())
    try:
        with open(tmp, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            kept = "keeps the last complete checkpoint" if path.is_file() else "was not written"
            raise StateError(
                f"no space left on the disk of {path.parent} while writing {path.name}; {path} {kept}. "
                "Free some space and rerun the same command to resume"
            ) from err
        raise
    _fsync_folder(path.parent)


def temporary_name(path: Path, pid: int) -> Path:
    """Where process ``pid`` of this host writes ``path`` before moving it into place."""
    return path.with_name(f".{path.name}.{socket.gethostname()}.{pid}.tmp")


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporary files of ``path`` left by processes of this host that no longer
    run (killed mid-write); return them. Another host's files are left alone: its processes
    cannot be seen from here."""
    host = socket.gethostname()
    removed = []
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        owner, _, pid = tmp.name[len(path.name) + 2 : -len(".tmp")].rpartition(".")
        if owner == host and pid.isdigit() and int(pid) != os.getpid() and not process_running(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def load_checkpoint_file(
    path: Path, map_location: Any | None = "cpu", weights_only: bool | None = True
) -> dict[str, Any]:
    """``torch.load`` of a Lightning checkpoint, raising :class:`DamagedCheckpoint` (which names
    ``path``) when the file is cut short, garbled or not a checkpoint."""
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=weights_only)
    except FileNotFoundError:
        raise
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as err:
        raise DamagedCheckpoint(path, f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from err
    missing = [key for key in REQUIRED_KEYS if not isinstance(checkpoint, dict) or key not in checkpoint]
    if missing:
        raise DamagedCheckpoint(path, f"it holds no {', '.join(missing)}: not a training checkpoint")
    return checkpoint


def _fsync_folder(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)
