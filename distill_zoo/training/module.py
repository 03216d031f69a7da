"""The one LightningModule every method shares: run teacher and student, log, optimise."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities.types import LRSchedulerConfigType, OptimizerLRSchedulerConfig
from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR
from torch.optim.optimizer import ParamsT
from transformers import PreTrainedModel

from distill_zoo.errors import NumericalError
from distill_zoo.features import EncoderFeatures, FeatureRequest
from distill_zoo.losses import task_loss
from distill_zoo.models import Encoder, FrozenEncoder
from distill_zoo.models.cached import CachedTeacher
from distill_zoo.models.dims import transformer_layers
from distill_zoo.objectives import Objective
from distill_zoo.training.fsdp import is_sharded, shard
from distill_zoo.training.metrics import build_metrics, predictions
from distill_zoo.training.on_policy import OnPolicyBatches

# The frozen teacher is in eval mode on purpose; Lightning's warning about it is noise.
warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode at the start of training.*")
# Lightning (2.6) calls a torch pytree API that torch deprecates; nothing a user can act on.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")
# Corpus and causal-LM runs validate nothing during training (their evaluation is the eval
# stage); the shared module keeps its task validation_step, so Lightning's notice is expected.
warnings.filterwarnings("ignore", message=r".*You defined a `validation_step` but have no `val_dataloader`.*")

OptimizerFactory = Callable[[ParamsT], Optimizer]


def default_optimizer(params: ParamsT) -> Optimizer:
    return torch.optim.AdamW(params, lr=5e-5, weight_decay=0.01)


class DistillationModule(L.LightningModule):
    """A system of three parts: a frozen teacher, a student, and an objective.

    The same module fine-tunes a teacher (``objective`` = supervised, ``teacher`` =
    None) and distils a student. Only the student's and the objective's parameters
    (projections) are optimised; the teacher is frozen, kept in eval mode, and left
    out of saved checkpoints.

    Args:
        student: the model being trained.
        objective: what to minimise; declares which features it reads.
        teacher: the frozen teacher, or None for objectives that read none.
        metrics: metric names for validation (``acc``, ``f1``, ``mcc``, ``pearson``, ``spearman``).
        optimizer: a factory ``params -> Optimizer`` (Hydra ``_partial_``).
        warmup_ratio: share of the steps with linear warm-up, then linear decay to 0. With
            phases (``phase_starts``, set by a :class:`~distill_zoo.training.phases.PhaseSchedule`)
            every phase has its own warm-up and decay.
        gradnorm_every_n_steps: every N steps, log ``train/gradnorm_<term>``: the L2 norm of
            the gradient that term alone (weighted, as in the loss) puts on the trainable
            parameters. 0 turns it off. It reads gradients with ``torch.autograd.grad``, so
            training itself (the ``.grad`` the optimiser uses, the random streams) is unchanged.
        teacher_outputs: the teacher's stored outputs for the training examples (see
            :mod:`distill_zoo.models.cached`); read instead of running the teacher when
            they hold what the objective asks for.
        on_policy: replaces a fraction of the batches by the student's own completions
            (GKD; see :mod:`distill_zoo.training.on_policy`); logged as ``train/on_policy``.
    """

    def __init__(
        self,
        student: PreTrainedModel,
        objective: Objective,
        teacher: PreTrainedModel | None = None,
        metrics: tuple[str, ...] = ("acc",),
        optimizer: OptimizerFactory = default_optimizer,
        warmup_ratio: float = 0.1,
        gradnorm_every_n_steps: int = 0,
        teacher_outputs: CachedTeacher | None = None,
        on_policy: OnPolicyBatches | None = None,
    ) -> None:
        super().__init__()
        self.student = Encoder(student.train())  # from_pretrained returns eval mode: dropout on
        self.teacher = FrozenEncoder(teacher) if teacher is not None and objective.needs_teacher else None
        if objective.needs_teacher and self.teacher is None:
            raise ValueError(f"{type(objective).__name__} needs a teacher")
        objective.bind(self.student.dims, self.teacher.dims if self.teacher else None)
        self.objective = objective
        self.teacher_outputs = teacher_outputs
        if on_policy is not None and (self.teacher is None or teacher_outputs is not None):
            raise ValueError("on-policy batches need a live teacher to score the student's samples")
        self.on_policy = on_policy
        self.optimizer_factory = optimizer
        self.warmup_ratio = warmup_ratio
        if gradnorm_every_n_steps < 0:
            raise ValueError(f"gradnorm_every_n_steps must be >= 0, got {gradnorm_every_n_steps}")
        self.gradnorm_every_n_steps = gradnorm_every_n_steps
        #: First optimiser step of each phase; one phase unless a phase schedule sets more.
        self.phase_starts: list[int] = [0]
        self.total_steps = 1
        #: Training examples the student has seen on this process (budget accounting).
        self.examples_seen = 0
        #: Of those, the ones the student completed itself (on-policy batches).
        self.on_policy_examples = 0
        #: The ``train/*`` values last logged before the checkpoint this process resumed from
        #: (empty otherwise): what a run resumed after its last step reports as its final losses.
        self.resumed_train_metrics: dict[str, float] = {}
        num_labels = student.config.num_labels
        assert num_labels is not None, "a classifier's config sets num_labels"
        self.val_metrics = build_metrics(tuple(metrics), num_labels).clone(prefix="val/")

    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        if self.on_policy is not None:
            batch, generated = self.on_policy(self.student.model, batch, self.global_step, batch_idx)
            self.on_policy_examples += batch["input_ids"].shape[0] if generated else 0
            self.log("train/on_policy", float(generated), batch_size=batch["input_ids"].shape[0])
        teacher = self.teacher_features(batch) if self.teacher is not None else None
        student = self.student(batch, self.objective.student_request())
        terms = self.objective(student, teacher, batch)
        check_finite(terms, self.global_step)
        batch_size = batch["input_ids"].shape[0]
        self.examples_seen += batch_size
        self.log("train/loss", terms["loss"], prog_bar=True, batch_size=batch_size)
        self.log_dict({f"train/{k}": v.detach() for k, v in terms.items() if k != "loss"}, batch_size=batch_size)
        if self.gradnorm_every_n_steps and self.global_step % self.gradnorm_every_n_steps == 0:
            self.log_dict(self.term_gradient_norms(terms), batch_size=batch_size)
        return terms["loss"]

    def configure_model(self) -> None:
        """Under ``strategy=fsdp`` (a device mesh is set): shard teacher, student and objective."""
        mesh = self.device_mesh
        if mesh is not None and not is_sharded(self.student):
            reshard = bool(getattr(self.trainer.strategy, "reshard_after_forward", True))
            shard([self.student, *([self.teacher] if self.teacher is not None else []), self.objective], mesh, reshard)

    def teacher_features(self, batch: Mapping[str, Tensor]) -> EncoderFeatures:
        """What the objective reads from the teacher: stored outputs when they cover the request
        (``teacher_outputs``), otherwise a forward pass of the frozen teacher."""
        request = self.objective.teacher_request()
        cached = self.teacher_outputs
        if cached is not None and "example_index" in batch and cached.covers(request):
            return cached(batch, request)
        assert self.teacher is not None
        return self.teacher(batch, request)

    def teacher_signal(self) -> str:
        """Where :meth:`teacher_features` reads the teacher from for the objective's current request:
        ``none`` (no teacher), ``live`` (a forward pass per batch), or ``cache: <arrays>`` (stored outputs)."""
        if self.teacher is None:
            return "none"
        cached = self.teacher_outputs
        if cached is not None and cached.covers(self.objective.teacher_request()):
            return "cache: " + ", ".join(cached.stored)
        return "live"

    def term_gradient_norms(self, terms: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """``train/gradnorm_<term>``: the gradient norm of each weighted term alone over the
        trainable parameters (the graph is kept for the real backward pass)."""
        params = [p for p in self.trainable_parameters() if p.requires_grad]
        norms = {}
        for name, value in terms.items():
            if name == "loss" or not value.requires_grad:
                continue
            grads = torch.autograd.grad(value, params, retain_graph=True, allow_unused=True)
            squares = [g.pow(2).sum() for g in grads if g is not None]
            total = torch.stack(squares).sum().sqrt() if squares else value.new_zeros(())
            norms[f"train/gradnorm_{name.removeprefix('loss_')}"] = total.detach()
        return norms

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        logits = self.student(batch, FeatureRequest(logits=True)).logits
        batch_size = batch["input_ids"].shape[0]
        self.log("val/loss", task_loss(logits, batch["labels"]), batch_size=batch_size, sync_dist=True)
        self.val_metrics.update(predictions(logits), batch["labels"])
        self.log_dict(self.val_metrics, batch_size=batch_size, prog_bar=True)

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        """Student and objective parameters; never the teacher's."""
        return [p for group in self.parameter_groups() for p in group["params"]]

    def parameter_groups(self) -> list[dict[str, Any]]:
        """One optimiser group per student transformer layer (``layer<i>``), one for the rest
        of the student (``other``: embeddings, pooler, head) and one for the objective's
        projections, so schedules such as progressive transfer can set per-layer rates."""
        layers = transformer_layers(self.student.model)
        in_layers = {id(p) for layer in layers for p in layer.parameters()}
        groups = [{"name": f"layer{i}", "params": list(layer.parameters())} for i, layer in enumerate(layers)]
        groups.append({"name": "other", "params": [p for p in self.student.parameters() if id(p) not in in_layers]})
        groups.append({"name": "objective", "params": list(self.objective.parameters())})
        return [g for g in groups if g["params"]]

    def configure_optimizers(self) -> OptimizerLRSchedulerConfig:
        optimizer = self.optimizer_factory(self.parameter_groups())
        self.total_steps = max(int(self.trainer.estimated_stepping_batches), 1)

        def schedule(step: int) -> float:
            return self.lr_factor(step)

        lambdas: list[Callable[[int], float]] = [schedule] * len(optimizer.param_groups)
        scheduler: LRSchedulerConfigType = {"scheduler": LambdaLR(optimizer, lambdas), "interval": "step"}
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    def lr_factor(self, step: int) -> float:
        """Linear warm-up over ``warmup_ratio`` of the current phase, then linear decay to 0 at its end."""
        bounds = [*self.phase_starts, self.total_steps]
        index = max(i for i, start in enumerate(self.phase_starts) if start <= step)
        begin, end = bounds[index], max(bounds[index + 1], bounds[index] + 1)
        length, local = end - begin, step - begin
        warmup = int(self.warmup_ratio * length)
        if local < warmup:
            return (local + 1) / (warmup + 1)
        return max(0.0, (length - local) / max(length - warmup, 1))

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep checkpoints to what training changes: drop the frozen teacher's weights."""
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith("teacher.")]:
            del state[key]
        checkpoint["examples_seen"] = self.examples_seen
        checkpoint["on_policy_examples"] = self.on_policy_examples
        logged = self.trainer.callback_metrics.items() if self._trainer is not None else ()
        checkpoint["train_metrics"] = {
            **self.resumed_train_metrics,
            **{k: float(v) for k, v in logged if k.startswith("train/")},
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """The teacher is not in the checkpoint: keep the frozen one this module was built with."""
        own = self.state_dict()
        checkpoint["state_dict"].update({k: v for k, v in own.items() if k.startswith("teacher.")})
        self.examples_seen = int(checkpoint.get("examples_seen", 0))
        self.on_policy_examples = int(checkpoint.get("on_policy_examples", 0))
        self.resumed_train_metrics = {k: float(v) for k, v in checkpoint.get("train_metrics", {}).items()}


def check_finite(terms: Mapping[str, Tensor], step: int) -> None:
    """Stop at the first NaN or infinite loss term, naming it and the step (one device sync per step)."""
    values = torch.stack([v.detach().float() for v in terms.values()])
    if bool(torch.isfinite(values).all()):
        return
    bad = [(name, float(v)) for name, v in zip(terms, values) if not torch.isfinite(v)]
    shown = ", ".join(f"train/{name} was {value}" for name, value in bad)
    raise NumericalError(
        f"{shown} at step {step}; the run stopped and wrote no results (the last good checkpoint, if any, is "
        "kept). Lower the learning rate (optimizer.lr, teacher.finetune.optimizer.lr), check the loss weights "
        "and temperatures, or try precision=32-true if this is a mixed-precision run"
    )
