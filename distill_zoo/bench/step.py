"""``step``: one DistilBERT training step through distill_zoo vs a hand-written PyTorch step.

Same teacher, student, batch and math (0.5·T²·KL + 0.5·CE + 0.1·(1 − cos) on the last
hidden states of real tokens, T = 2, AdamW, gradient clipping at 1): the framework's
``DistillationModule.training_step``, and ``Trainer.fit`` for ``fit_steps`` steps, each
against the hand loop doing the same number of steps.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any, cast

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from distill_zoo.bench.harness import (
    QUIET_TRAINER,
    distilbert_module,
    emit,
    interleaved,
    random_batch,
    teacher_and_student,
    training_steps,
)

SIZES: dict[str, dict[str, Any]] = {
    "full": {"batch": 32, "length": 64, "rounds": 15, "fit_steps": 9},
    "tiny": {"batch": 4, "length": 16, "rounds": 2, "fit_steps": 2},
}


def run(size: str) -> dict[str, Any]:
    opts = SIZES[size]
    pair = teacher_and_student(size)
    batch = random_batch(pair.vocab_size, opts["batch"], opts["length"])
    hand = _HandLoop(pair.teacher, copy.deepcopy(pair.student))
    framework_step = training_steps(distilbert_module(pair.teacher, copy.deepcopy(pair.student)), [batch], clip=1.0)

    fit_module = distilbert_module(pair.teacher, copy.deepcopy(pair.student))
    steps = opts["fit_steps"]

    def fit() -> None:
        device = "auto" if torch.cuda.is_available() else "cpu"
        trainer = L.Trainer(
            max_steps=steps, limit_val_batches=0, gradient_clip_val=1.0, accelerator=device, **QUIET_TRAINER
        )
        trainer.fit(fit_module, train_dataloaders=DataLoader(cast(Any, [batch] * steps), batch_size=None))

    def hand_steps() -> None:
        for _ in range(steps):
            hand.step(batch)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log outside a Trainer warns; the work is the same
        step_ms = interleaved({"framework": framework_step, "hand": lambda: hand.step(batch)}, opts["rounds"], 3)
        fit_ms = interleaved({"fit": fit, "hand_loop": hand_steps}, max(3, opts["rounds"] // 3), 1)
    return emit(
        "step",
        size,
        {
            "batch": opts["batch"],
            "length": opts["length"],
            "median_ms": {**step_ms, **fit_ms},
            "ratio_step": step_ms["hand"] / step_ms["framework"],
            "ratio_fit": fit_ms["hand_loop"] / fit_ms["fit"],
            "fit_steps": steps,
            "note": "ratio = hand / framework: 1.0 is on par, above 1 the framework is faster",
        },
    )


class _HandLoop:
    """The same step written directly against the Hugging Face models."""

    def __init__(self, teacher: Any, student: Any) -> None:
        self.teacher, self.student = teacher, student
        self.optimizer = torch.optim.AdamW(student.parameters(), lr=5e-5, weight_decay=0.01)

    def step(self, batch: dict[str, torch.Tensor]) -> None:
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
        with torch.no_grad():
            t = self.teacher(**inputs, output_hidden_states=True)
        s = self.student(**inputs, output_hidden_states=True)
        temperature = 2.0
        kd = (
            F.kl_div(
                F.log_softmax(s.logits / temperature, -1), F.softmax(t.logits / temperature, -1), reduction="batchmean"
            )
            * temperature**2
        )
        ce = F.cross_entropy(s.logits, batch["labels"])
        real = batch["attention_mask"].bool()
        cos = (1 - F.cosine_similarity(s.hidden_states[-1][real], t.hidden_states[-1][real], dim=-1)).mean()
        loss = 0.5 * kd + 0.5 * ce + 0.1 * cos
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.student.parameters(), 1.0)
        self.optimizer.step()
