"""Chains of ordinary runs, each stage's saved student feeding the next stage.

``chain`` in the config is a list of stages, each a list of ordinary Hydra overrides
composed on top of the run's own overrides with Hydra's compose API::

    pipeline: tinybert_two_step
    chain:
      - name: intermediate
        overrides: [method.stage=intermediate]
      - name: prediction
        previous_as: student            # student: it initialises this stage's student
        overrides: [method.stage=prediction]    # teacher: it teaches this stage

A stage may take its data from a node of the run's config composed from a ``data``
option (``data: corpus`` with ``defaults: [/data@corpus: corpus]`` in the experiment):
the stage then runs ``data=corpus`` with every value of that node, so ``corpus.*``
overrides on the command line reach the stage.

Each stage is a normal run (teacher, distill, eval) writing into
``<output_dir>/<i>_<name>/`` and a results record that names the pipeline, the stage and
its index; only the last stage's student is the pipeline's product. A stage whose
``results.json`` already exists is not run again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, ListConfig

from distill_zoo.errors import ConfigError
from distill_zoo.pipeline.builders import container
from distill_zoo.pipeline.record import RunRecord, StageInfo, differences, read_record, write_json
from distill_zoo.pipeline.schema import validate_config
from distill_zoo.pipeline.stages import run_pipeline

ROLES = ("teacher", "student")
CONFIG_DIR = Path(__file__).resolve().parents[2] / "conf"


def stage_overrides(
    run_overrides: list[str], stage: DictConfig, out_dir: Path, previous: str | None, data: Sequence[str] = ()
) -> list[str]:
    """The overrides of one stage: the run's, the stage's, then where its model comes from.

    A stage that picks a group option itself (``data=corpus``, ``method=none``,
    ``teacher=previous``) takes that group whole: the run's overrides of that group
    (``data=sst2``, ``data.max_train_samples=...``) do not apply to the stage.
    """
    own = [*data, *(str(o) for o in stage.get("overrides", []))]
    role = stage.get("previous_as")
    if role == "teacher":
        own += ["teacher=previous", f"teacher.model.name_or_path={_override_value(previous)}"]
    elif role == "student":
        own += ["student=previous", f"student.model.name_or_path={_override_value(previous)}"]
    groups = {o.split("=", 1)[0] for o in own if "=" in o and "." not in o.split("=", 1)[0]}
    kept = [o for o in run_overrides if o.split("=", 1)[0].split(".", 1)[0].lstrip("+~") not in groups]
    return [*kept, *own, f"paths.output_dir={_override_value(str(out_dir))}"]


def compose_stage(overrides: list[str]) -> DictConfig:
    """Compose ``conf/`` with ``overrides``, inside a running Hydra app or on its own."""
    if GlobalHydra.instance().is_initialized():
        return compose(config_name="config", overrides=overrides)
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def validate_chain(cfg: DictConfig) -> list[DictConfig]:
    stages = list(cfg.chain)
    if not stages:
        raise ConfigError("chain is empty")
    if stages[0].get("previous_as"):
        raise ConfigError("the first chain stage has no previous stage to take a model from")
    for stage in stages:  # every stage is checked before the first one trains
        role = stage.get("previous_as")
        if role is not None and role not in ROLES:
            raise ConfigError(f"chain stage {stage.get('name')!r}: previous_as must be one of {ROLES}, got {role!r}")
        if not isinstance(stage.get("overrides", []), (list, ListConfig)):
            raise ConfigError(f"chain stage {stage.get('name')!r}: overrides must be a list of Hydra overrides")
    return stages


def data_overrides(cfg: DictConfig, stage: DictConfig) -> list[str]:
    """``data=<node>`` and every value of the run-config node a stage takes its data from."""
    if not stage.get("data"):
        return []
    node = cfg.get(stage.data)
    if node is None:
        raise ConfigError(f"chain stage {stage.name!r} takes its data from {stage.data!r}, which the config lacks")
    values = container(node)
    return [f"data={stage.data}", *(f"data.{k}={_override_value(v)}" for k, v in values.items() if k != "_target_")]


def _override_value(value: object) -> str:
    """A value written in Hydra's override grammar."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ",".join(_override_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_override_value(v)}" for k, v in value.items()) + "}"
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


#: Config sections that decide what a stage trains (a finished stage is reused only if they match).
_STAGE_SECTIONS = ("seed", "teacher", "student", "method", "callbacks", "data", "trainer", "optimizer", "warmup_ratio")


def _check_reuse(record: RunRecord, stage_cfg: DictConfig, out_dir: Path) -> None:
    """Refuse to reuse a finished stage that was run with another config."""
    now = container(stage_cfg)
    diff = differences({k: record.config.get(k) for k in _STAGE_SECTIONS}, {k: now.get(k) for k in _STAGE_SECTIONS})
    if diff:
        raise ConfigError(
            f"{out_dir} holds a finished stage run with another config ({'; '.join(diff[:6])}); "
            "give this run its own output folder (hydra.run.dir=...) or delete that stage"
        )


def run_chain(
    cfg: DictConfig, run_overrides: list[str], on_ready: Callable[[str | None], None] | None = None
) -> RunRecord | None:
    """Run every stage of ``cfg.chain`` in order; return the last stage's record.

    ``run_overrides`` are the command line's overrides of this run (each stage composes
    the same config again with them plus its own).
    """
    stages = validate_chain(cfg)
    out_root = Path(cfg.paths.output_dir)
    run_overrides = [o for o in run_overrides if not o.startswith(("paths.output_dir=", "hydra."))]
    pipeline = cfg.get("pipeline") or "chain"
    previous: str | None = None
    record: RunRecord | None = None
    summary = []
    for index, stage in enumerate(stages):
        out_dir = out_root / f"{index}_{stage.name}"
        info = StageInfo(pipeline=pipeline, name=stage.name, index=index, count=len(stages))
        done = out_dir / "results.json"
        overrides = stage_overrides(run_overrides, stage, out_dir, previous, data_overrides(cfg, stage))
        stage_cfg = compose_stage(overrides)
        validate_config(stage_cfg)  # as run.py checks a run's own config
        if done.is_file():
            record = read_record(done)
            _check_reuse(record, stage_cfg, out_dir)
            print(f"[chain] stage {stage.name} already finished, reusing {out_dir}")
        else:
            print(f"[chain] stage {index}: {stage.name}")
            record = run_pipeline(stage_cfg, info, on_ready)
            if record is None:
                return None
        previous = record.student.path
        summary.append({"stage": stage.name, "student": record.student.metrics, "path": previous})
    out_root.mkdir(parents=True, exist_ok=True)
    write_json(out_root / "chain.json", {"pipeline": pipeline, "stages": summary})
    return record
