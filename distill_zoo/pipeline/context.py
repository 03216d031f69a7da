"""Resolve a run once: compose-time checks, then the parts every stage receives.

:func:`prepare_run` builds the task spec, tokenizer, data, objective, pretrained
teacher, student and teacher cache entry exactly once, checks every combination that
cannot work, and raises before anything is trained or written. Task runs and corpus
(general) runs take the same path; only the data and the head checks differ.

Random streams: the pretrained teacher's fresh head draws from the teacher's own
seed, the student's init from the run seed, the objective's projections from a
stream of their own, the data order from the datamodule's generator, and the dropout
stream is reseeded right before training, so every method of a seed starts from the
same student and sees the same batches and dropout masks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from distill_zoo.data import GlueDataModule, TaskSpec, get_task
from distill_zoo.data.lm_corpus import LMCorpusDataModule
from distill_zoo.errors import ConfigError
from distill_zoo.models import check_same_vocabulary, encoder_dims, is_causal_lm
from distill_zoo.objectives import Objective
from distill_zoo.objectives.lm_kd import CausalLMObjective
from distill_zoo.pipeline.builders import (
    build,
    build_datamodule,
    build_objective,
    build_pretrained_teacher,
    build_student,
    build_tokenizer,
    container,
)
from distill_zoo.pipeline.lm_sources import wire_source
from distill_zoo.pipeline.record import StageInfo
from distill_zoo.pipeline.teacher_stage import TeacherEntry, is_cached, resolve_teacher

if TYPE_CHECKING:
    from distill_zoo.data.corpus import CorpusDataModule

STAGES = ("teacher", "distill", "eval")
#: student.init values for builders that copy teacher layers.
LAYER_INITS = ("pretrained", "finetuned")
#: File in an exported student folder holding the objective's learned state (projections).
OBJECTIVE_STATE = "objective_state.pt"
#: Folder of a run's (or chain stage's) checkpoints, inside its output folder.
CHECKPOINTS = "checkpoints"
#: Offset of the projections' random stream from the run seed.
PROJECTION_STREAM = 7919


@dataclass
class RunContext:
    """Everything a run's stages need, resolved once by :func:`prepare_run`.

    Attributes:
        student: the student, initialised; None until the teacher stage when
            ``student_init == "finetuned"`` (it is built from the fine-tuned teacher).
        teacher_model: the pretrained teacher until the teacher stage replaces it with
            the fine-tuned one.
    """

    cfg: DictConfig
    stage: StageInfo
    out_dir: Path
    spec: TaskSpec | None
    tokenizer: PreTrainedTokenizerBase
    datamodule: GlueDataModule | CorpusDataModule
    teacher_data: GlueDataModule | CorpusDataModule
    objective: Objective
    teacher_model: PreTrainedModel
    teacher: TeacherEntry
    student: PreTrainedModel | None
    student_init: str
    #: Causal LMs: the vocabulary logit columns both models share (padded rows trimmed).
    vocab_columns: int | None = None

    @property
    def num_labels(self) -> int:
        return num_labels(self.spec)

    @property
    def is_task(self) -> bool:
        return self.spec is not None


def prepare_run(cfg: DictConfig, stage: StageInfo | None = None) -> RunContext:
    """Build and check everything; raise :class:`ConfigError`/``DataError`` before any training."""
    stage = stage or StageInfo()
    unknown = [s for s in cfg.stages if s not in STAGES]
    if unknown:
        raise ConfigError(f"unknown stage(s) {unknown}; stages are {list(STAGES)}")
    spec = get_task(cfg.data.task) if "task" in cfg.data else None
    init = _student_init(cfg, spec)
    tokenizer = build_tokenizer(cfg)
    datamodule = build_datamodule(cfg, tokenizer)
    objective = build_objective(cfg)
    test_file = cfg.eval.get("test_file") if "eval" in cfg else None
    if spec is not None:
        task_data = cast(GlueDataModule, datamodule)
        task_data.held_out_files = (test_file,) if test_file else ()
        # An objective that never reads the teacher learns nothing from unlabelled rows.
        task_data.serve_transfer = objective.needs_teacher
        task_data.load_examples()
    else:  # a corpus run: build(cfg.data) made a CorpusDataModule
        cast("CorpusDataModule", datamodule).lines()
    labels = num_labels(spec)
    teacher_model = pretrained_teacher(cfg, labels)
    student = None if init == "finetuned" else make_student(cfg, teacher_model, labels, task=spec is not None)
    if student is None:
        with torch.random.fork_rng():  # sizes only; the real student comes from the fine-tuned teacher
            student_dims = encoder_dims(build_student(cfg, teacher_model, labels).config)
    else:
        student_dims = encoder_dims(student.config)
    with torch.random.fork_rng():
        torch.manual_seed(cfg.seed + PROJECTION_STREAM)
        objective.bind(student_dims, encoder_dims(teacher_model.config))
    _carry_objective_state(cfg, objective)
    vocab_columns = _check_causal(objective, datamodule, teacher_model, student, tokenizer)
    if vocab_columns is not None:  # a causal-LM run: its training text may come from a model
        wire_source(cast(LMCorpusDataModule, datamodule), objective, teacher_model)
    _check_objective(objective, spec, stage)
    _check_models(cfg, objective, teacher_model, student_dims if student is None else student)
    teacher_data = _teacher_datamodule(cfg, datamodule, tokenizer) if spec is not None else datamodule
    digest = teacher_data.train_digest() if spec is not None else ""
    teacher = resolve_teacher(cfg, digest)
    if spec is None and teacher.key is not None:
        raise ConfigError("a corpus (general) run uses the pre-trained teacher as it is: set teacher.finetune=null")
    if "teacher" not in cfg.stages and teacher.key is not None and not is_cached(teacher.path):
        raise ConfigError(f"no cached teacher at {teacher.path}; add 'teacher' to stages to fine-tune it first")
    if test_file:
        if spec is None:
            raise ConfigError("eval.test_file scores a task's labels; a corpus (general) run has none: drop it")
        datamodule.read_labelled_file(test_file)  # a missing or malformed file fails now, not after training
    out_dir = Path(cfg.paths.output_dir)
    if "distill" not in cfg.stages and "eval" in cfg.stages and not (out_dir / "student" / "config.json").is_file():
        raise ConfigError(f"stage eval needs a distilled student in {out_dir / 'student'}; add 'distill' to stages")
    return RunContext(
        cfg,
        stage,
        out_dir,
        spec,
        tokenizer,
        datamodule,
        teacher_data,
        objective,
        teacher_model,
        teacher,
        student,
        init,
        vocab_columns,
    )


def pretrained_teacher(cfg: DictConfig, labels: int) -> PreTrainedModel:
    """The teacher as configured, before any fine-tuning; a random one is drawn from a fixed seed,
    so every call gives the same weights."""
    with torch.random.fork_rng():
        torch.manual_seed((cfg.teacher.get("finetune") or {}).get("seed", 0))
        return build_pretrained_teacher(cfg, labels)


def _teacher_datamodule(
    cfg: DictConfig, datamodule: GlueDataModule, tokenizer: PreTrainedTokenizerBase
) -> GlueDataModule:
    """The data the teacher is fine-tuned on: the student's, unless ``teacher.finetune.max_train_samples``
    asks for another subset (null: the full training split), as when a budget-limited student
    distils from a teacher fine-tuned on everything."""
    finetune = cfg.teacher.get("finetune")
    if finetune is None or "max_train_samples" not in finetune:
        return datamodule
    wanted = finetune.max_train_samples
    if wanted == cfg.data.get("max_train_samples"):
        return datamodule
    options = container(cfg.data) | {"max_train_samples": wanted, "augment": None, "transfer": None}
    teacher_data = build(OmegaConf.create(options))
    teacher_data.set_tokenizer(tokenizer)
    teacher_data.load_examples()
    return teacher_data


def num_labels(spec: TaskSpec | None) -> int:
    """The task's label count; a corpus run builds a 2-way head it never reads."""
    return spec.num_labels if spec is not None else 2


def make_student(cfg: DictConfig, source: PreTrainedModel, num_labels: int, task: bool = True) -> PreTrainedModel:
    """The student from ``source``'s layers (or its config), seeded by the run seed.

    With ``student.init=pretrained`` in a task run the task head is fresh (drawn from the
    run seed), as in Patient-KD and DistilBERT task distillation; with ``finetuned`` the
    fine-tuned teacher's pooler and classifier are kept. A corpus run keeps every copied
    weight (a masked-LM head, tied to the embeddings, is part of DistilBERT's init).
    """
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    student = build_student(cfg, source, num_labels)
    if task and cfg.student.get("init") == "pretrained":
        reset_head(student)
    return student


def reset_head(model: PreTrainedModel) -> None:
    """Re-initialise the modules outside the base encoder (classifier, pre-classifier),
    leaving alone any that share a weight with the encoder (a tied output layer)."""
    encoder = {id(p) for p in model.base_model.parameters()}
    for name, child in model.named_children():
        if name != model.base_model_prefix and not any(id(p) in encoder for p in child.parameters()):
            child.apply(model._init_weights)


#: The inits each student builder can give (by the last part of its ``_target_``).
BUILDER_INITS = {
    "from_teacher_layers": LAYER_INITS,
    "distilbert_student": LAYER_INITS,
    "from_config": ("random",),
    "from_pretrained": ("checkpoint",),
}


def _student_init(cfg: DictConfig, spec: TaskSpec | None) -> str:
    init = cfg.student.get("init")
    builder = str(cfg.student.model.get("_target_", "")).rsplit(".", 1)[-1]
    allowed = BUILDER_INITS.get(builder)
    if allowed is not None and init not in allowed:
        raise ConfigError(
            f"student.init must be one of {list(allowed)} for student={cfg.student.name} ({builder}), got {init!r}"
        )
    if init == "finetuned" and spec is None:
        raise ConfigError("student.init=finetuned needs a task run (a corpus run has no fine-tuned teacher)")
    if init == "finetuned" and cfg.teacher.get("finetune") is None:
        raise ConfigError("student.init=finetuned needs a teacher that is fine-tuned (teacher.finetune is null)")
    return str(init)


def _check_objective(objective: Objective, spec: TaskSpec | None, stage: StageInfo) -> None:
    name = type(objective).__name__
    if spec is None:
        if objective.vocabulary_logits:
            return
        for request in (objective.student_request(), objective.teacher_request()):
            if request.logits:
                raise ConfigError(
                    f"{name} reads task logits or labels, which a general (corpus) run does not have; drop "
                    "those terms (e.g. method.weights.task=0 method.weights.kd=0 callbacks=none for minilm, "
                    "method.stage=intermediate for tinybert)"
                )
        return
    if objective.vocabulary_logits:
        raise ConfigError(f"{name} distils vocabulary logits on raw text; use it with data=corpus")
    if stage.final and not objective.trains_head:
        raise ConfigError(
            f"{name} as configured trains no term that reaches the classifier ({objective.weights}), so the "
            "run would be scored with an untrained head; give a head term a weight (e.g. method.weights.task=1), "
            "or run it as an intermediate stage of a chain (experiment=tinybert_two_step)"
        )


def _check_models(cfg: DictConfig, objective: Objective, teacher: PreTrainedModel, student: object) -> None:
    """Inputs the models cannot take: sequences longer than their position tables, and
    vocabulary logits compared across different vocabularies."""
    configs = [("teacher", teacher.config)]
    length_key = "data.max_length" if cfg.data.get("max_length") else "data.block_size"
    if isinstance(student, PreTrainedModel):
        configs.append(("student", student.config))
    max_length = cfg.data.get("max_length") or cfg.data.get("block_size")
    for role, config in configs:
        positions = getattr(config, "max_position_embeddings", None)
        if max_length is not None and positions is not None and max_length > positions:
            raise ConfigError(
                f"{length_key}={max_length} is longer than the {role}'s {positions} positions; "
                f"set {length_key}={positions} or less"
            )
    if objective.vocabulary_logits and len(configs) == 2 and teacher.config.vocab_size != configs[1][1].vocab_size:
        raise ConfigError(
            f"{type(objective).__name__} compares vocabulary logits, but the teacher has {teacher.config.vocab_size} "
            f"tokens and the student {configs[1][1].vocab_size}; use a student built on the teacher's tokenizer"
        )


def _check_causal(
    objective: Objective,
    datamodule: object,
    teacher: PreTrainedModel,
    student: PreTrainedModel | None,
    tokenizer: PreTrainedTokenizerBase,
) -> int | None:
    """Causal-LM runs: a causal objective, teacher and data together, and one vocabulary.

    Returns the logit columns the objective compares (the tokenizer's length; padded
    vocabulary rows are trimmed), or None for encoder runs."""
    name = type(objective).__name__
    causal_objective = isinstance(objective, CausalLMObjective)
    if is_causal_lm(teacher) != causal_objective:
        raise ConfigError(
            f"{name} distils causal language models (teacher=smollm2_135m or hub_causal)"
            if causal_objective
            else f"{name} distils encoders, but the teacher is a causal language model; "
            "use method=distilgpt2, lm_kd or clm"
        )
    if not isinstance(objective, CausalLMObjective):
        return None
    if not isinstance(datamodule, LMCorpusDataModule):
        raise ConfigError(f"{name} trains on raw text: use data=lm_corpus")
    assert student is not None, "a causal-LM student is built from the pre-trained teacher in prepare_run"
    if not is_causal_lm(student):
        raise ConfigError(f"the student ({type(student).__name__}) is not a causal language model")
    columns = check_same_vocabulary(teacher, student, tokenizer, tokenizer)
    objective.vocab_columns = columns
    return columns


def _carry_objective_state(cfg: DictConfig, objective: Objective) -> None:
    """A student from an earlier stage brings that stage's learned projections along
    (TinyBERT's reference keeps its fitting layers from general to task distillation)."""
    source = cfg.student.model.get("name_or_path") if cfg.student.name == "previous" else None
    state_file = Path(source) / OBJECTIVE_STATE if source else None
    if state_file is None or not state_file.is_file():
        return
    saved = torch.load(state_file, map_location="cpu", weights_only=True)
    if saved.get("objective") != type(objective).__name__:
        return
    own = objective.state_dict()
    matching = {k: v for k, v in saved["state"].items() if k in own and own[k].shape == v.shape}
    if matching:
        objective.load_state_dict(matching, strict=False)
        print(f"[objective] carried {sorted(matching)} from {state_file.parent}")
