"""Chains of ordinary runs, each stage's saved student feeding the next stage.

``chain`` in the config is a list of stages::

    chain:
      - name: assistant
        overrides: {student: {...}}     # merged into the run's config for this stage
      - name: student
        previous_as: teacher            # teacher: the previous student teaches this stage
                                        # student: it initialises this stage's student

Each stage is a normal run (teacher, distill, eval) writing into
``<output_dir>/<i>_<name>/``. MiniLM's teacher assistant and TinyBERT's two-step task
distillation are chains (``experiment=minilm_ta``, ``experiment=tinybert_two_step``).
A stage whose ``results.json`` already exists is not run again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from distill_zoo.errors import ConfigError
from distill_zoo.pipeline.report import write_json
from distill_zoo.pipeline.general import run_general
from distill_zoo.pipeline.run import run_pipeline

ROLES = ("teacher", "student")


def stage_config(cfg: DictConfig, stage: DictConfig, out_dir: Path, previous: str | None) -> DictConfig:
    """The run config of one stage: the base config, the stage's overrides, the previous product."""
    base = OmegaConf.to_container(cfg, resolve=True)
    base.pop("chain", None)
    overrides = OmegaConf.to_container(stage.overrides, resolve=True) if stage.get("overrides") else {}
    for key, value in overrides.items():
        if _is_whole_group(value):
            base[key] = value  # a group given with its own _target_ replaces the run's choice
    merged = OmegaConf.merge(base, {k: v for k, v in overrides.items() if not _is_whole_group(v)})
    merged.paths.output_dir = str(out_dir)
    role = stage.get("previous_as")
    if role == "teacher":
        merged.teacher = {
            "name": f"chain-{Path(previous).parent.name}",
            "tokenizer": previous,
            "model": {"_target_": "distill_zoo.models.load_classifier", "_partial_": True, "name_or_path": previous},
            "finetune": None,
        }
    elif role == "student":
        merged.student = {
            "name": "previous",
            "model": {"_target_": "distill_zoo.models.students.from_pretrained", "_partial_": True, "name_or_path": previous},
        }
    return merged


def _is_whole_group(value: Any) -> bool:
    """A full group config (``_target_`` at its top or in its ``model``), not a partial edit."""
    return isinstance(value, dict) and ("_target_" in value or "_target_" in (value.get("model") or {}))


def run_chain(cfg: DictConfig) -> dict[str, Any] | None:
    """Run every stage of ``cfg.chain`` in order; return the last stage's results."""
    out_root = Path(cfg.paths.output_dir)
    stages = list(cfg.chain)
    if not stages:
        raise ConfigError("chain is empty")
    if stages[0].get("previous_as"):
        raise ConfigError("the first chain stage has no previous stage to take a model from")
    for stage in stages:  # every stage is checked before the first one trains
        role = stage.get("previous_as")
        if role is not None and role not in ROLES:
            raise ConfigError(f"chain stage {stage.get('name')!r}: previous_as must be one of {ROLES}, got {role!r}")
    previous: str | None = None
    results: dict[str, Any] | None = None
    summary = []
    for index, stage in enumerate(stages):
        out_dir = out_root / f"{index}_{stage.name}"
        done = out_dir / "results.json"
        if done.is_file():
            print(f"[chain] stage {stage.name} already finished, reusing {out_dir}")
            results = json.loads(done.read_text())
        else:
            print(f"[chain] stage {index}: {stage.name}")
            stage_cfg = stage_config(cfg, stage, out_dir, previous)
            results = (run_pipeline if "task" in stage_cfg.data else run_general)(stage_cfg)
            if results is None:
                return None
        previous = results["student"]["path"]
        summary.append({"stage": stage.name, "student": results["student"].get("metrics", {}), "path": previous})
    out_root.mkdir(parents=True, exist_ok=True)
    write_json(out_root / "chain.json", {"stages": summary})
    return results
