"""A run folder belongs to one config: claim it before training, record what runs in it.

Hydra is told not to write ``.hydra/`` itself (``hydra.output_subdir: null``): a rerun
into a finished run's folder would overwrite the saved config before anything could
refuse. Instead :func:`claim_run_dir` looks first, and :func:`write_snapshot` writes
``.hydra/`` (the config as composed, resolved, the overrides, Hydra's own config) and
``provenance.json`` only once every pre-flight check has passed. ``provenance.json`` keeps
every attempt made in the folder (``attempts``, oldest first, with the failure an attempt
left); its top-level fields are the latest attempt's.

A folder holding:
* ``results.json`` (or a chain's ``chain.json``): a finished run; refused, so it is never
  overwritten;
* a snapshot of the same config: an unfinished run; it is continued from its last
  checkpoint (``resume=true``, the default) or refused (``resume=false``);
* a snapshot of another config: refused, naming the differences;
* other run files without a snapshot: refused (they were not written for this config).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from distill_zoo.errors import ConfigError
from distill_zoo.pipeline.record import FAILED, differences, git_commit, hardware, package_versions, write_json
from distill_zoo.pipeline.secrets import redact

SNAPSHOT = ".hydra"
RESOLVED = "resolved.yaml"
PROVENANCE = "provenance.json"
#: Files whose presence means a run finished in the folder.
FINISHED = ("results.json", "chain.json")
#: What an unfinished run leaves (besides its snapshot).
RUN_FILES = ("checkpoints", "student", "predictions.json")
#: Keys that may differ between a run and its continuation (``stages``: a run may be
#: split, e.g. ``stages=[teacher,distill]`` then ``stages=[eval]`` in the same folder;
#: ``resume_mismatch=accept`` continues a checkpoint written for other inputs).
_RESUME_NEUTRAL = ("resume", "resume_mismatch", "stages")


def resolved_config(cfg: DictConfig) -> dict[str, Any]:
    """The config as the run sees it, resolved, credentials redacted."""
    return redact(OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False))


def claim_run_dir(cfg: DictConfig, out_dir: Path) -> bool:
    """Check that ``out_dir`` may hold this run; True when it continues an unfinished run of it."""
    if not out_dir.is_dir():
        return False
    done = [name for name in FINISHED if (out_dir / name).is_file()]
    if done:
        raise ConfigError(
            f"{out_dir} already holds a finished run ({done[0]}); rerunning would overwrite it. Give this run "
            "its own folder (hydra.run.dir=...), or delete that one to run it again"
        )
    saved = out_dir / SNAPSHOT / RESOLVED
    if not saved.is_file():
        left = [name for name in RUN_FILES if (out_dir / name).exists()]
        if left:
            raise ConfigError(
                f"{out_dir} holds run files ({', '.join(left)}) but no saved config to check them against; "
                "give this run its own folder (hydra.run.dir=...)"
            )
        return False
    before = yaml.safe_load(saved.read_text()) or {}
    now = resolved_config(cfg)
    diff = differences(_without(before), _without(now))
    if diff:
        raise ConfigError(
            f"{out_dir} holds an unfinished run of another config ({'; '.join(diff[:6])}); rerun it with the same "
            "command to continue it, or give this run its own folder (hydra.run.dir=...)"
        )
    if not cfg.get("resume", True):
        raise ConfigError(
            f"{out_dir} holds an unfinished run of this config; set resume=true to continue it from its last "
            "checkpoint, or give this run its own folder (hydra.run.dir=...)"
        )
    print(f"[resume] {out_dir} holds an unfinished run of this config: continuing it")
    return True


def write_snapshot(cfg: DictConfig, out_dir: Path, overrides: list[str], teacher_entry: str | None) -> None:
    """``.hydra/{config,resolved,overrides,hydra}.yaml`` and ``provenance.json`` in ``out_dir``."""
    folder = out_dir / SNAPSHOT
    folder.mkdir(parents=True, exist_ok=True)
    _write_yaml(folder / "config.yaml", redact(OmegaConf.to_container(cfg, resolve=False)))
    _write_yaml(folder / RESOLVED, resolved_config(cfg))
    _write_yaml(folder / "overrides.yaml", redact(list(overrides)))
    hydra_cfg = _hydra_config()
    if hydra_cfg is not None:
        _write_yaml(folder / "hydra.yaml", redact(hydra_cfg))
    attempt = redact(
        {
            "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
            "overrides": list(overrides),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "git_commit": git_commit(),
            "versions": package_versions(),
            "hardware": hardware(),
            "teacher_entry": teacher_entry,
        }
    )
    write_json(out_dir / PROVENANCE, {**attempt, "attempts": [*_earlier_attempts(out_dir), attempt]})


def _earlier_attempts(out_dir: Path) -> list[dict[str, Any]]:
    """The attempts an earlier ``provenance.json`` in ``out_dir`` recorded, the last one with the
    ``failed.json`` it left folded in as ``failure`` (the file goes: this attempt supersedes it)."""
    path, failed = out_dir / PROVENANCE, out_dir / FAILED
    attempts: list[dict[str, Any]] = []
    if path.is_file():
        earlier = json.loads(path.read_text())
        attempts = earlier.get("attempts") or [{k: v for k, v in earlier.items() if k != "attempts"}]
    if failed.is_file():
        failure = json.loads(failed.read_text())
        if attempts:
            attempts[-1] = {**attempts[-1], "failure": failure}
        else:
            attempts.append({"failure": failure})
        failed.unlink()
    return attempts


def _hydra_config() -> dict[str, Any] | None:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    return OmegaConf.to_container(HydraConfig.get(), resolve=False, enum_to_str=True)  # type: ignore[return-value]


def _write_yaml(path: Path, payload: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yaml.safe_dump(payload, sort_keys=False))
    tmp.replace(path)


def _without(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in _RESUME_NEUTRAL}
