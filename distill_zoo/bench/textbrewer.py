"""``textbrewer``: TextBrewer's ``GeneralDistiller.train`` vs distill_zoo's ``Trainer.fit``, same work.

Needs the optional packages (``pip install --no-deps textbrewer==0.2.1.post1 tensorboardX``,
the ``benchmark`` extra); without them it stops with that command before any model is
built. It is therefore not part of ``python -m distill_zoo.bench all``.

Both sides train a deep copy of the same student (DistilBERT's init from the teacher's
layers) from a deep copy of the same frozen teacher (eval mode, no gradient), on the same
list of batches, minimising the same loss, with T = 2, α = 0.5, β = 0.1:

    L = α · softCE + (1 − α) · CE(y, z_S) + β · Σ_j mean_batch ‖ĥ_S,j − ĥ_T,j‖²
    softCE = mean_batch −Σ_c softmax(z_T/T)_c · log softmax(z_S/T)_c    (no T² factor)

where ĥ is the [CLS] hidden state of a matched layer divided by its L2 norm, over PKD-Skip's
layer pairs (every student layer but the last; 6 → 3: student layers 0, 1 ↔ teacher 1, 3).

- distill_zoo: ``PKDObjective(alpha=0.5, beta=0.1, temperature=2, soft_loss="soft_ce")``
  (BERT-PKD in its written form) in a ``DistillationModule`` run by ``Trainer.fit``.
- TextBrewer: ``GeneralDistiller`` with ``kd_loss_type="ce"`` (exactly softCE above),
  ``kd_loss_weight=α``, ``hard_label_weight=1 − α`` on the ``losses`` its adaptor returns
  (the student's own Hugging Face cross-entropy), and one ``pkd`` intermediate match of
  weight β per layer pair on the ``hidden`` states (index = 0-based layer + 1).

DistilBERT's and KD's objectives are not used: their soft term is T²·KL, which differs from
TextBrewer's soft cross-entropy by T² and by the teacher's entropy (same gradient with
``kd_loss_weight = α·T²``, but not the same loss value). Every run checks that both sides'
first-step losses on the same batch (same dropout seed) agree before it times anything.

A round is one ``N``-step training run per side: AdamW (distill_zoo's default: lr 5e-5,
weight decay 0.01), new each round on both sides as ``Trainer.fit`` makes one per fit,
the learning rate decaying linearly to 0 over the N steps (``warmup_ratio=0``;
``get_linear_schedule_with_warmup(…, 0, N)`` for TextBrewer), gradient norm clipped at 1.
Nothing is logged or saved: Lightning runs with ``QUIET_TRAINER``; TextBrewer with
``log_dir=None`` (no TensorBoard writer) and its end-of-``train()`` checkpoint skipped (it
would write the student's weights once per call into a temporary ``output_dir``).

Timing: rounds are interleaved after one warm-up round, half of them with distill_zoo
first and half with TextBrewer first (the second of a pair ran a few % slower in trials);
a side's round time is the mean of its two medians, both shown in ``by_order``.
samples/s = N · batch / that time. Objects built before timing are frozen out of the
garbage collector (``gc.freeze``), and every round ends with ``gc.collect()`` inside its
timed span, so each side pays for its own cyclic garbage (a finished ``Trainer`` is
some; TextBrewer leaves none) instead of a full collection landing in the other side.

Peak memory (``peak_rss_mib``): at full size each side runs one round in a fresh Python
process; after the models, batches and distiller/module are built, the kernel's peak-RSS
mark is reset (``/proc/self/clear_refs``) and the figure is the peak resident set during
the round minus the resident set just before it: activations, gradients, optimiser state,
framework objects, allocator slack. At tiny size it is measured in this process, after
the timing rounds, so it is only a smoke check. CPU only (the bench's target machine).
"""

from __future__ import annotations

import copy
import gc
import json
import os
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader
from transformers import PreTrainedModel, get_linear_schedule_with_warmup

from distill_zoo.bench.harness import QUIET_TRAINER, TOKENIZER, Pair, emit, interleaved, random_batch
from distill_zoo.bench.harness import teacher_and_student as harness_pair
from distill_zoo.errors import ConfigError
from distill_zoo.models import encoder_dims, random_classifier
from distill_zoo.models.students import from_teacher_layers
from distill_zoo.objectives import PKDObjective
from distill_zoo.objectives.layer_map import patient_map
from distill_zoo.training import DistillationModule
from distill_zoo.training.module import default_optimizer

INSTALL = "pip install --no-deps textbrewer==0.2.1.post1 tensorboardX"
ALPHA, BETA, TEMPERATURE, CLIP = 0.5, 0.1, 2.0, 1.0
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")

SIZES: dict[str, dict[str, Any]] = {
    "full": {"batch": 32, "length": 64, "steps": 6, "rounds": 8, "fresh_process": True},
    "tiny": {"batch": 4, "length": 16, "steps": 2, "rounds": 2, "fresh_process": False},
}


def require_textbrewer() -> Any:
    """The ``textbrewer`` module, or a one-line :class:`ConfigError` naming the install command."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its sources compare strings with `is not` (SyntaxWarning)
            import textbrewer
    except ImportError as err:
        raise ConfigError(
            f"the textbrewer benchmark needs the optional packages textbrewer and tensorboardX ({err}); "
            f"install them with: {INSTALL}"
        ) from None
    return textbrewer


def run(size: str) -> dict[str, Any]:
    textbrewer = require_textbrewer()  # before any model is built
    opts = SIZES[size]
    pair = make_pair(size)
    batches = [random_batch(pair.vocab_size, opts["batch"], opts["length"], seed=i) for i in range(opts["steps"])]
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log outside a Trainer, few batches, ...: the work is the same
        ours = DistillZooSide(pair, opts["steps"])
        theirs = TextBrewerSide(pair, opts["steps"], tmp)
        losses = first_step_losses(ours, theirs, batches[0])
        by_order = timed_rounds(
            {"distill_zoo": lambda: ours.round(batches), "textbrewer": lambda: theirs.round(batches)}, opts["rounds"]
        )
        ms = {
            side: sum(order[side] for order in by_order.values()) / len(by_order)
            for side in ("distill_zoo", "textbrewer")
        }
        memory = {side: peak_rss_mib(side, size, opts["fresh_process"]) for side in ("distill_zoo", "textbrewer")}
    samples = opts["steps"] * opts["batch"]
    per_s = {name: samples / (value / 1000) for name, value in ms.items()}
    return emit(
        "textbrewer",
        size,
        {
            "batch": opts["batch"],
            "length": opts["length"],
            "steps_per_round": opts["steps"],
            "rounds": opts["rounds"],
            "loss": f"{ALPHA}·softCE(T={TEMPERATURE}, no T²) + {1 - ALPHA}·CE + {BETA}·PKD [CLS] pairs {ours.pairs}",
            "compared": {
                "distill_zoo": "Trainer.fit(DistillationModule(PKDObjective(soft_loss='soft_ce')), max_steps=N)",
                "textbrewer": "GeneralDistiller(kd_loss_type='ce', pkd hidden matches).train(num_steps=N)",
            },
            "first_step_loss": losses,
            "median_round_ms": ms,
            "by_order": by_order,
            "samples_per_s": per_s,
            "ratio": per_s["distill_zoo"] / per_s["textbrewer"],
            "peak_rss_mib": memory,
            "memory": "peak RSS during one round minus RSS before it, "
            + ("each side in a fresh process" if opts["fresh_process"] else "in-process after timing (smoke only)"),
            "textbrewer": textbrewer.__version__,
            "note": "ratio = distill_zoo samples/s / textbrewer samples/s: above 1 distill_zoo is faster",
        },
    )


def timed_rounds(variants: dict[str, Callable[[], None]], rounds: int) -> dict[str, dict[str, float]]:
    """Median milliseconds of each variant over ``rounds // 2`` interleaved rounds in each order
    (one warm-up round first), keyed ``"<name> first"``; every call ends with ``gc.collect()``."""

    def collected(fn: Callable[[], None]) -> Callable[[], None]:
        def call() -> None:
            fn()
            gc.collect()

        return call

    gc.collect()
    gc.freeze()
    try:
        results = {}
        for index, names in enumerate((list(variants), list(reversed(variants)))):
            ordered = {name: collected(variants[name]) for name in names}
            results[f"{names[0]} first"] = interleaved(ordered, max(1, rounds // 2), 1 if index == 0 else 0)
        return results
    finally:
        gc.unfreeze()


def make_pair(size: str) -> Pair:
    """Full: the harness's MiniLM-L6 → 3 layers. Tiny: a random 4-layer BERT → 2 of its layers
    (the harness's tiny student has 1 layer, which leaves PKD no layer pair to match)."""
    if size == "full":
        return harness_pair(size)
    teacher = random_classifier(TOKENIZER, 2, num_layers=4, hidden_size=32, num_heads=2)
    student = from_teacher_layers(teacher, 2, num_layers=2)
    return Pair(teacher.eval(), student.train(), int(teacher.config.vocab_size))


def layer_pairs(pair: Pair) -> list[tuple[int, int]]:
    """(student, teacher) 0-based layers of PKD-Skip, as ``PKDObjective`` resolves them."""
    depth = encoder_dims(pair.student.config).num_layers
    return patient_map("skip", depth, encoder_dims(pair.teacher.config).num_layers)


class DistillZooSide:
    """distill_zoo: ``PKDObjective`` in a ``DistillationModule``, ``Trainer.fit`` for N steps per round."""

    def __init__(self, pair: Pair, steps: int) -> None:
        objective = PKDObjective(alpha=ALPHA, beta=BETA, temperature=TEMPERATURE, soft_loss="soft_ce")
        teacher, student = copy.deepcopy(pair.teacher), copy.deepcopy(pair.student)
        self.module = DistillationModule(student=student, objective=objective, teacher=teacher, warmup_ratio=0.0)
        self.pairs = objective.pairs
        self.steps = steps

    def first_loss(self, batch: dict[str, Tensor]) -> float:
        return float(self.module.training_step(batch, 0).detach())

    def round(self, batches: list[dict[str, Tensor]]) -> None:
        trainer = L.Trainer(
            max_steps=self.steps,
            limit_val_batches=0,
            gradient_clip_val=CLIP,
            accelerator="cpu",
            **QUIET_TRAINER,
        )
        trainer.fit(self.module, train_dataloaders=DataLoader(cast(Any, batches), batch_size=None))


class TextBrewerSide:
    """TextBrewer: ``GeneralDistiller.train(num_steps=N)`` per round, checkpoint write skipped."""

    def __init__(self, pair: Pair, steps: int, out_dir: str) -> None:
        textbrewer = require_textbrewer()
        from textbrewer import GeneralDistiller

        class Distiller(GeneralDistiller):
            def save_and_callback(self, *args: Any, **kwargs: Any) -> None:
                """Skip the student checkpoint written at the end of every ``train()``."""

        self.student: PreTrainedModel = copy.deepcopy(pair.student)
        matches = [
            {"layer_T": t + 1, "layer_S": s + 1, "feature": "hidden", "loss": "pkd", "weight": BETA}
            for s, t in layer_pairs(pair)
        ]
        self.distiller = Distiller(
            textbrewer.TrainingConfig(device="cpu", log_dir=None, output_dir=out_dir, ckpt_steps=steps),
            textbrewer.DistillationConfig(
                temperature=TEMPERATURE,
                kd_loss_type="ce",
                kd_loss_weight=ALPHA,
                hard_label_weight=1 - ALPHA,
                intermediate_matches=matches,
            ),
            copy.deepcopy(pair.teacher),
            self.student,
            teacher_outputs,
            student_outputs,
        )
        self.steps = steps

    def first_loss(self, batch: dict[str, Tensor]) -> float:
        total, _ = self.distiller.train_on_batch(split(batch), {"output_hidden_states": True})
        return float(total.detach())

    def round(self, batches: list[dict[str, Tensor]]) -> None:
        optimizer = default_optimizer(self.student.parameters())
        with self.distiller:  # teacher eval, student train (TextBrewer's own context)
            self.distiller.train(
                optimizer,
                [split(b) for b in batches],
                num_steps=self.steps,
                max_grad_norm=CLIP,
                scheduler_class=get_linear_schedule_with_warmup,
                scheduler_args={"num_warmup_steps": 0, "num_training_steps": self.steps},
                output_hidden_states=True,
            )


def split(batch: dict[str, Tensor]) -> dict[str, dict[str, Tensor]]:
    """TextBrewer's two-model batch: the labels go to the student only (its adaptor's ``losses``)."""
    inputs = {k: batch[k] for k in MODEL_INPUTS}
    return {"teacher": inputs, "student": {**inputs, "labels": batch["labels"]}}


def teacher_outputs(batch: Any, outputs: Any) -> dict[str, Any]:
    """TextBrewer adaptor of the teacher: logits and every hidden state (0 = embeddings)."""
    return {"logits": outputs.logits, "hidden": outputs.hidden_states}


def student_outputs(batch: Any, outputs: Any) -> dict[str, Any]:
    """TextBrewer adaptor of the student: also its cross-entropy on the labels (``losses``)."""
    return {"logits": outputs.logits, "hidden": outputs.hidden_states, "losses": outputs.loss}


def first_step_losses(ours: DistillZooSide, theirs: TextBrewerSide, batch: dict[str, Tensor]) -> dict[str, float]:
    """Both sides' loss on ``batch`` before any update, with the same dropout masks (same seed)."""
    state = torch.get_rng_state()
    values = {}
    for name, side in (("distill_zoo", ours), ("textbrewer", theirs)):
        torch.manual_seed(0)
        values[name] = side.first_loss(batch)
    torch.set_rng_state(state)
    diff = abs(values["distill_zoo"] - values["textbrewer"])
    if diff > 1e-4 * max(1.0, abs(values["textbrewer"])):
        raise RuntimeError(f"the two sides compute different losses, so their times are not comparable: {values}")
    return {**values, "abs_diff": diff}


def peak_rss_mib(side: str, size: str, fresh_process: bool) -> float | None:
    """Peak resident memory of one round of ``side`` above the memory before it (see the module doc)."""
    if not fresh_process:
        return measure_round(side, size)
    code = (
        "import json, warnings; warnings.simplefilter('ignore')\n"
        "from distill_zoo.bench.textbrewer import measure_round\n"
        f"print(json.dumps(measure_round({side!r}, {size!r})))"
    )
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"measuring {side}'s memory failed:\n{done.stderr[-2000:]}")
    return cast(float | None, json.loads(done.stdout.strip().splitlines()[-1]))


def measure_round(side: str, size: str) -> float | None:
    """Build ``side`` at ``size``, reset the peak-RSS mark, run one round: peak − RSS before, in MiB.
    None where ``/proc/self/clear_refs`` cannot be written (not Linux)."""
    opts = SIZES[size]
    pair = make_pair(size)
    batches = [random_batch(pair.vocab_size, opts["batch"], opts["length"], seed=i) for i in range(opts["steps"])]
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runner = (
            DistillZooSide(pair, opts["steps"]) if side == "distill_zoo" else TextBrewerSide(pair, opts["steps"], tmp)
        )
        gc.collect()
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            return None
        before = _status_kib("VmRSS")
        runner.round(batches)
        return (_status_kib("VmHWM") - before) / 1024


def _status_kib(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (VmRSS: resident now, VmHWM: peak since the reset)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")
