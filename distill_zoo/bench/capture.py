"""``capture``: the features MiniLM and TinyBERT read, through distill_zoo's capture vs plain eager.

distill_zoo's :class:`~distill_zoo.models.Encoder` computes attention features from
hooks on the requested layers' Q/K/V projections, so every layer keeps the fused
(SDPA) attention kernel. The plain alternative asks Hugging Face for
``output_attentions=True, output_hidden_states=True`` (eager attention in every layer)
and recomputes Q/K/V from the hidden states where a method reads them. Each variant
runs the teacher (no grad) and the student (forward and backward through the
features) for each method's real requests, at several sequence lengths.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import torch
from transformers import PreTrainedModel

from distill_zoo.bench.harness import emit, interleaved, random_batch, teacher_and_student
from distill_zoo.features import FeatureRequest
from distill_zoo.models import Encoder, encoder_dims
from distill_zoo.models.capture import qkv_projections
from distill_zoo.objectives import MiniLMObjective, TinyBERTObjective

SIZES: dict[str, dict[str, Any]] = {
    "full": {"lengths": (64, 128, 512), "batch": 16, "rounds": 7},
    "tiny": {"lengths": (16,), "batch": 2, "rounds": 2},
}


def run(size: str) -> dict[str, Any]:
    opts = SIZES[size]
    pair = teacher_and_student(size)
    objectives = {"minilm": MiniLMObjective(), "tinybert": TinyBERTObjective()}
    results: dict[str, Any] = {}
    for name, objective in objectives.items():
        objective.bind(encoder_dims(pair.student.config), encoder_dims(pair.teacher.config))
        ours = (Encoder(pair.teacher), Encoder(pair.student))
        eager = (_eager(pair.teacher), _eager(pair.student))
        requests = (
            objective.teacher_request().resolve(ours[0].dims.num_layers),
            objective.student_request().resolve(ours[1].dims.num_layers),
        )
        for length in opts["lengths"]:
            batch = random_batch(pair.vocab_size, opts["batch"], length)
            ms = interleaved(_variants(ours, eager, requests, batch), opts["rounds"], 2)
            results[f"{name}@{length}"] = {"median_ms": ms, "ratio": ms["eager"] / ms["capture"]}
    note = "ratio = eager / capture: above 1 the hook capture is faster"
    return emit("capture", size, {"batch": opts["batch"], "results": results, "note": note})


def _variants(
    ours: tuple[Encoder, Encoder],
    eager: tuple[PreTrainedModel, PreTrainedModel],
    requests: tuple[FeatureRequest, FeatureRequest],
    batch: dict[str, torch.Tensor],
) -> dict[str, Callable[[], None]]:
    """One training-style pass of (teacher, student) per variant: teacher without grad, student with."""

    def capture() -> None:
        with torch.no_grad():
            ours[0](batch, requests[0])
        _backward(ours[1](batch, requests[1]).__dict__)

    def plain() -> None:
        with torch.no_grad():
            _plain(eager[0], batch, requests[0])
        _backward(_plain(eager[1], batch, requests[1]))

    return {"capture": capture, "eager": plain}


def _eager(model: PreTrainedModel) -> PreTrainedModel:
    copied = copy.deepcopy(model)
    copied.set_attn_implementation("eager")
    return copied


def _plain(model: PreTrainedModel, batch: dict[str, torch.Tensor], request: FeatureRequest) -> dict[str, Any]:
    """The requested features from one eager forward pass, as a hand-written step would get them."""
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    out = model(**inputs, output_attentions=True, output_hidden_states=True)
    heads = model.config.num_attention_heads
    projections = qkv_projections(model)
    features: dict[str, Any] = {"logits": out.logits if request.logits else None}
    features["hidden"] = [out.hidden_states[i] for i in request.hidden_states]
    features["attentions"] = [out.attentions[i] for i in request.attentions]
    qkv_layers = sorted(set(request.qkv) | set(request.scores))
    for i in qkv_layers:
        q, k, v = (proj(out.hidden_states[i]) for proj in projections[i])
        if i in request.scores:
            split = lambda x: x.view(*x.shape[:2], heads, -1).transpose(1, 2)  # noqa: E731
            features[f"scores{i}"] = split(q) @ split(k).transpose(-1, -2) / math.sqrt(q.shape[-1] // heads)
        if i in request.qkv:
            features[f"qkv{i}"] = [q, k, v]
    return features


def _backward(features: dict[str, Any]) -> None:
    """Backpropagate a scalar that reads every returned feature (the work of a loss)."""
    tensors: list[torch.Tensor] = []
    for value in features.values():
        if isinstance(value, torch.Tensor) and value.requires_grad:
            tensors.append(value)
        elif isinstance(value, dict):
            tensors += [v for v in value.values() if isinstance(v, torch.Tensor) and v.requires_grad]
        elif isinstance(value, list):
            tensors += [v for v in value if isinstance(v, torch.Tensor) and v.requires_grad]
            tensors += [w for v in value if isinstance(v, list) for w in v]
    sum(t.float().mean() for t in tensors).backward()  # type: ignore[union-attr]
