"""Stage helper: the teacher's outputs for every training example, computed once and shared.

``teacher_cache`` decides what is stored (see :mod:`distill_zoo.models.cached`):

* ``off``: the teacher runs on every batch;
* ``logits``: store its logits (objectives that read more still run the teacher);
* ``features``: store everything the objective reads (logits, hidden states, Q/K/V);
* ``auto`` (default): ``features`` when they fit in ``teacher_cache_max_gb``, else
  ``logits`` when that is all the objective reads, else ``off``.

An entry is content-addressed under ``<cache_dir>/teacher_outputs/<key>``: the key hashes
the teacher (its class, config and a digest of its weights, wherever they were read
from: :mod:`distill_zoo.models.fingerprint`), the served training split exactly as
tokenised (token and type ids, in order: examples, subset, augmentation, tokenizer and
``max_length`` all show there), the trainer's precision, and what is stored. So every
epoch, and every method and seed of a sweep that reads the same outputs, reuses one
entry; anything that changes what the teacher sees or computes makes a new one. Entries
are written into a temporary folder and renamed into place under a file lock.

The outputs are computed on the trainer's device in full precision, as the live teacher
runs in training, so a cached run trains the student the live run does. Every other
precision is refused: the teacher runs live and a one-line notice says why (the
record's ``teacher_signal`` reads ``live``). Those whose plugin converts the models
(``bf16-true``, ``64-true``, sharded mixed precision) change the teacher itself; under
autocast (``16-mixed``, ``bf16-mixed``) a real token's output moves with how far its
batch is padded (about 6e-5 on a tiny BERT between 3 and 20 padding positions, against
1e-7 in float32), and a cached entry cannot know the padding of the training batch that
will read it, least of all with length-grouped batches.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.plugins.precision import MixedPrecision
from omegaconf import DictConfig

from distill_zoo.data import GlueDataModule
from distill_zoo.errors import ConfigError
from distill_zoo.features import FeatureRequest
from distill_zoo.locks import MISSING, lock_unless_complete
from distill_zoo.models import FrozenEncoder
from distill_zoo.models.cache_check import ensure_free_space, outputs_damage, record_checks, remove_stale_temporaries
from distill_zoo.models.cached import (
    PAD_VALUES,
    CachedTeacher,
    is_complete,
    storage_bytes,
    stored_request,
    write_teacher_outputs,
)
from distill_zoo.models.fingerprint import model_identity
from distill_zoo.objectives import Objective

MODES = ("auto", "off", "logits", "features")


def cached_teacher(
    cfg: DictConfig, datamodule: Any, objective: Objective, teacher: Any, trainer: L.Trainer
) -> CachedTeacher | None:
    """The stored outputs the distillation reads, made first if needed; None when the teacher runs live.

    ``trainer`` is the one that will train: its device and precision are the live teacher's."""
    mode = str(cfg.get("teacher_cache", "auto"))
    if mode not in MODES:
        raise ConfigError(f"teacher_cache must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "off" or not isinstance(datamodule, GlueDataModule) or not objective.needs_teacher:
        return None
    refusal = _precision_refusal(trainer)
    if refusal is not None:
        print(f"[teacher outputs] not cached: trainer.precision={trainer.precision} {refusal}; it runs live")
        return None
    encoder = FrozenEncoder(teacher)
    wanted = objective.teacher_request().resolve(encoder.dims.num_layers, "teacher")
    datamodule.setup("fit")
    digest, longest = datamodule.train_tokens_digest()
    request = _choose(mode, wanted, cfg, len(datamodule.datasets[datamodule.train_split]), longest, encoder)
    if request is None:
        return None
    stored = stored_request(request)
    key_source = {
        "teacher": model_identity(teacher),
        "train_tokens": digest,
        "precision": str(trainer.precision),
        "stored": _describe(stored),
    }
    key = hashlib.sha256(json.dumps(key_source, sort_keys=True, default=str).encode()).hexdigest()[:16]
    folder = Path(cfg.paths.cache_dir) / "teacher_outputs" / key
    folder.parent.mkdir(parents=True, exist_ok=True)
    examples = len(datamodule.datasets[datamodule.train_split])
    full = cfg.get("teacher_cache_verify", "quick") == "full"

    def problem() -> str | None:
        return outputs_damage(folder, full) if is_complete(folder) else MISSING

    with lock_unless_complete(folder, problem) as found:
        if found is None:
            print(f"[teacher outputs] reusing {folder.name}")
            if record_checks(folder):
                print(f"[teacher outputs] {folder.name} was made before entries recorded checks: recorded them now")
        else:
            if found != MISSING:
                print(f"[teacher outputs] {folder.name} cannot be used ({found}); computing it again")
            for stale in remove_stale_temporaries(folder.parent):
                print(f"[teacher outputs] removed {stale.name}, left by a process killed while writing it")
            labels = int(encoder.model.config.num_labels or 2)
            needed = storage_bytes(stored, examples, longest, encoder.dims.hidden_size, labels)
            ensure_free_space(folder.parent, needed, "the teacher-output cache")
            print(f"[teacher outputs] computing {_describe(stored)} for {examples} examples once")
            device = next(encoder.parameters()).device
            encoder.to(trainer.strategy.root_device)
            try:
                write_teacher_outputs(  # full precision: every other one is refused above
                    encoder,
                    datamodule.ordered_train_loader(),
                    stored,
                    examples,
                    longest,
                    folder,
                    key_source,
                    _pad_values(datamodule.tokenizer),
                )
            finally:
                encoder.to(device)
    return CachedTeacher(folder, encoder.dims.num_layers, encoder.dims.num_heads)


def _precision_refusal(trainer: L.Trainer) -> str | None:
    """Why stored outputs could not equal the live teacher's under the trainer's precision
    (None in full precision, where they do)."""
    if str(trainer.precision) in ("32-true", "32"):
        return None
    if isinstance(trainer.precision_plugin, MixedPrecision):
        return (
            "computes the teacher in 16 bits, where an output depends on how far its batch is padded, "
            "so stored outputs could not equal the live teacher's"
        )
    return "converts the models themselves, so stored outputs could not equal the live teacher's"


def _pad_values(tokenizer: Any) -> dict[str, int]:
    """What the training loader pads each per-token input with (the tokenizer's pad ids)."""
    pad_id = getattr(tokenizer, "pad_token_id", None)
    type_id = getattr(tokenizer, "pad_token_type_id", None)
    return {
        **PAD_VALUES,
        "input_ids": int(pad_id) if pad_id is not None else PAD_VALUES["input_ids"],
        "token_type_ids": int(type_id) if type_id is not None else PAD_VALUES["token_type_ids"],
    }


def _choose(
    mode: str, wanted: FeatureRequest, cfg: DictConfig, examples: int, longest: int, encoder: FrozenEncoder
) -> FeatureRequest | None:
    logits_only = FeatureRequest(logits=wanted.logits)
    if mode == "logits":
        return logits_only if wanted.logits else None
    labels = int(encoder.model.config.num_labels or 2)
    size = storage_bytes(stored_request(wanted), examples, longest, encoder.dims.hidden_size, labels)
    fits = size <= float(cfg.get("teacher_cache_max_gb", 4)) * 2**30
    if mode == "features" or fits:
        return wanted
    reads_more = bool(wanted.hidden_states or wanted.qkv or wanted.attentions or wanted.scores)
    return logits_only if wanted.logits and not reads_more else None


def _describe(request: FeatureRequest) -> dict[str, Any]:
    return {"logits": request.logits, "hidden_states": list(request.hidden_states), "qkv": list(request.qkv)}
