"""The schema of a composed run config: every key known, every value in range, checked first.

Two sources of truth, so the schema cannot drift from the code:

* nodes that are built with Hydra (``_target_``: the method, data, trainer, optimisers,
  models, loggers, callbacks) accept exactly the parameters of what they build, read
  from its signature;
* the other nodes (the root, ``teacher``, ``student``, ``eval``, ``checkpoint``,
  ``paths``) are the dataclasses below, checked with OmegaConf's structured configs
  (which also convert and type-check values: ``seed=abc`` is an error).

An unknown key names the nearest valid one (``method.temprature`` -> ``method.temperature``).
Range rules that the config alone decides are in :data:`RANGES`; rules that need a
model (``max_length`` against its positions) are checked where the model is built.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from distill_zoo.errors import ConfigError

#: Keys Hydra's instantiate reads itself.
HYDRA_KEYS = frozenset({"_target_", "_partial_", "_recursive_", "_convert_", "_args_"})
#: Data options of task runs only, and what to do instead when a corpus run sets one.
TASK_ONLY_DATA = {
    "transfer": (
        "data.transfer adds unlabelled text to a task run; a corpus (general) run trains on unlabelled "
        "text already: drop data.transfer, or pick a task (data=sst2 ...) to distil on it with a transfer set"
    ),
}
#: Keys a built node may carry that describe it rather than construct it (builders drop them).
DESCRIPTIVE = frozenset({"name", "init", "group"})


@dataclass
class FinetuneSchema:
    max_epochs: int = 3
    #: The fine-tune's own step limit (null: its epochs decide); never the student's trainer.max_steps.
    max_steps: int | None = None
    seed: int = 0
    max_train_samples: Any = None
    warmup_ratio: float = 0.1
    optimizer: Any = None


@dataclass
class TeacherSchema:
    name: str = "???"
    tokenizer: Any = None
    model: Any = None
    finetune: FinetuneSchema | None = None


@dataclass
class StudentSchema:
    name: str = "???"
    init: str | None = None
    model: Any = None


@dataclass
class EvalSchema:
    latency_runs: int = 50
    latency_warmup: int = 10
    #: Threads torch uses while timing (pinned, restored after): 1 = batch-1 serving on a shared CPU.
    latency_threads: int = 1
    test_file: str | None = None
    #: Causal LMs: tokens generated per call when timing generation.
    generation_new_tokens: int = 32


@dataclass
class CheckpointSchema:
    enabled: bool = True
    every_n_epochs: int = 1
    every_n_minutes: float | None = None
    every_n_steps: int | None = None


@dataclass
class PathsSchema:
    cache_dir: str = "???"
    data_dir: str = "???"
    output_dir: str = "???"


@dataclass
class RunSchema:
    """The root of a run config (``conf/config.yaml`` plus what the groups and experiments add)."""

    seed: int = 1
    stages: list[str] = field(default_factory=list)
    optimizer: Any = None
    warmup_ratio: float = 0.1
    eval: EvalSchema = field(default_factory=EvalSchema)
    checkpoint: CheckpointSchema = field(default_factory=CheckpointSchema)
    resume: bool = True
    resume_mismatch: str = "refuse"
    teacher_cache: str = "auto"
    teacher_cache_verify: str = "quick"
    teacher_cache_max_gb: float = 4.0
    gradnorm_every_n_steps: int = 0
    group: str | None = None
    teacher: TeacherSchema = field(default_factory=TeacherSchema)
    student: StudentSchema = field(default_factory=StudentSchema)
    method: Any = None
    data: Any = None
    trainer: Any = None
    logger: Any = None
    callbacks: Any = None
    paths: PathsSchema = field(default_factory=PathsSchema)
    # Chains (experiment=tinybert_two_step, ...): the stages, the pipeline's name, a second
    # data node a stage reads, and values experiments share by interpolation.
    chain: Any = None
    pipeline: str | None = None
    corpus: Any = None
    general_epochs: int | None = None


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _non_negative_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _unit(value: Any) -> bool:
    return isinstance(value, (int, float)) and 0 <= value <= 1


_ABSENT = object()

#: key -> (test, what it must be, an example of a valid override). Absent keys are skipped.
RANGES: dict[str, tuple[Callable[[Any], bool], str, str]] = {
    "data.batch_size": (_positive_int, "a positive integer", "32"),
    "data.eval_batch_size": (_positive_int, "a positive integer", "64"),
    "data.max_length": (_positive_int, "a positive number of tokens", "128"),
    "data.num_workers": (_non_negative_int, "an integer >= 0", "0"),
    "data.length_pool_batches": (_positive_int, "a positive number of batches", "100"),
    "data.group_by_length": (lambda v: isinstance(v, bool), "true or false", "false"),
    "optimizer.lr": (_positive, "a positive number", "1e-4"),
    "teacher.finetune.optimizer.lr": (_positive, "a positive number", "1e-4"),
    "teacher.finetune.max_epochs": (_positive_int, "a positive integer", "3"),
    "teacher.finetune.warmup_ratio": (_unit, "in [0, 1]", "0.1"),
    "warmup_ratio": (_unit, "in [0, 1]", "0.1"),
    "trainer.max_epochs": (lambda v: v == -1 or _positive_int(v), "a positive integer (or -1 with max_steps)", "3"),
    "trainer.max_steps": (
        lambda v: v == -1 or _positive_int(v),
        "a positive number of steps, or -1 (epochs decide)",
        "-1",
    ),
    "teacher.finetune.max_steps": (
        lambda v: v is None or _positive_int(v),
        "a positive number of steps or null",
        "null",
    ),
    "eval.latency_runs": (_positive_int, "a positive integer", "50"),
    "eval.generation_new_tokens": (_positive_int, "a positive integer", "32"),
    "eval.latency_warmup": (_non_negative_int, "an integer >= 0", "10"),
    "eval.latency_threads": (_positive_int, "a positive number of threads", "1"),
    "teacher_cache": (lambda v: v in ("auto", "off", "logits", "features"), "auto, off, logits or features", "auto"),
    "teacher_cache_verify": (lambda v: v in ("quick", "full"), "quick or full", "quick"),
    "resume_mismatch": (lambda v: v in ("refuse", "accept"), "refuse or accept", "refuse"),
    "teacher_cache_max_gb": (_positive, "a positive number", "4"),
    "gradnorm_every_n_steps": (_non_negative_int, "an integer >= 0 (0 = off)", "0"),
    "checkpoint.every_n_epochs": (_non_negative_int, "an integer >= 0 (0 = never)", "1"),
    "checkpoint.every_n_minutes": (lambda v: v is None or _positive(v), "positive or null", "30"),
    "checkpoint.every_n_steps": (lambda v: v is None or _positive_int(v), "a positive integer or null", "500"),
}


def validate_config(cfg: DictConfig) -> None:
    """Raise one :class:`ConfigError` naming the first unknown key, ill-typed or out-of-range value."""
    _check_node(cfg, RunSchema, "")
    try:
        OmegaConf.merge(OmegaConf.structured(RunSchema), cfg)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "a value"
        default = OmegaConf.select(OmegaConf.structured(RunSchema), str(key), default=None, throw_on_missing=False)
        fix = f" (e.g. {key}={default})" if default is not None and not isinstance(default, DictConfig) else ""
        raise ConfigError(f"{key}: {str(err).splitlines()[0]}; give it a value of that type{fix}") from None
    for key, (test, must_be, example) in RANGES.items():
        try:
            value = OmegaConf.select(cfg, key, default=_ABSENT, throw_on_missing=False)
        except OmegaConfBaseException:  # an interpolation only a chain stage fills in
            continue
        if value is not _ABSENT and not test(value):
            raise ConfigError(f"{key}={value!r} is invalid: it must be {must_be} (e.g. {key}={example})")


def _check_node(node: Any, schema: Any, path: str) -> None:
    """Check ``node`` against ``schema`` (a dataclass, or None: any keys), built nodes by signature."""
    if not isinstance(node, DictConfig):
        return
    if "_target_" in node:
        _check_built(node, path)
        return
    known = {f.name: f for f in fields(schema)} if is_dataclass(schema) else None
    for key in node:
        if known is not None and key not in known:
            raise unknown_key(path, str(key), known)
        sub = _dataclass_of(known[str(key)].type) if known is not None else None
        _check_node(node._get_node(key), sub, f"{path}{key!s}.")


def _dataclass_of(annotation: Any) -> Any:
    """The schema class a field's annotation names (``FinetuneSchema | None`` -> FinetuneSchema)."""
    text = str(annotation)
    for candidate in (FinetuneSchema, TeacherSchema, StudentSchema, EvalSchema, CheckpointSchema, PathsSchema):
        if candidate.__name__ in text:
            return candidate
    return None


def _check_built(node: DictConfig, path: str) -> None:
    """Keys of a ``_target_`` node must be parameters of what it builds (unless it takes ``**kwargs``)."""
    target = str(node.get("_target_"))
    try:
        built = get_object(target)
        params = inspect.signature(built).parameters
    except Exception as err:  # noqa: BLE001 - an import error or a target without a signature
        raise ConfigError(f"{path}_target_={target!r} cannot be loaded ({err}); check the spelling") from None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    known = set(params) | HYDRA_KEYS | DESCRIPTIVE
    for key in node:
        if key not in known:
            if path == "data." and key in TASK_ONLY_DATA:
                raise ConfigError(TASK_ONLY_DATA[str(key)])
            raise unknown_key(path, str(key), known, f"{target.rsplit('.', 1)[-1]} takes no such argument")
        child = node._get_node(key)
        if isinstance(child, DictConfig) and "_target_" in child:
            _check_built(child, f"{path}{key}.")


def unknown_key(path: str, key: str, known: Any, why: str = "") -> ConfigError:
    """The error for an unknown key, naming the nearest known key when one is close."""
    candidates = sorted(k for k in known if not k.startswith("_"))
    near = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    hint = f"did you mean {path}{near[0]}?" if near else f"valid keys: {', '.join(candidates)}"
    reason = f" ({why})" if why else ""
    return ConfigError(f"unknown option {path}{key}{reason}; {hint}")
