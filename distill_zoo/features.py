"""What objectives ask of a model, and the typed record the wrapper returns.

Hidden-state indices follow Hugging Face: 0 is the embedding output, i is the output
of transformer layer i (1-based), so a model with N layers has indices 0..N. Negative
indices count from the end (-1 is the last layer). Attention layers are 0-based.
Layer lists in configs (explicit layer maps, ``student.model.layers``) always name
0-based transformer layers; :func:`check_layer_list` validates them.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, field

from torch import Tensor

from distill_zoo.errors import ConfigError


@dataclass(frozen=True)
class EncoderDims:
    """Depth and widths of an encoder: what objectives check and size projections from."""

    num_layers: int
    hidden_size: int
    num_heads: int
    intermediate_size: int


@dataclass(frozen=True)
class FeatureRequest:
    """The features an objective reads from one model.

    Attributes:
        logits: whether the classifier output is needed.
        hidden_states: hidden-state indices (0 = embeddings, -1 = last layer).
        attentions: 0-based layers whose attention probabilities are needed (softmax
            over real keys; padded keys get probability 0).
        scores: 0-based layers whose pre-softmax scores QKᵀ/√d are needed, without any
            mask added (TinyBERT, MiniLM, MobileBERT).
        qkv: 0-based layers whose query, key and value projections (B, L, D) are needed
            (MiniLM value relation, MiniLMv2).
    """

    logits: bool = False
    hidden_states: tuple[int, ...] = ()
    attentions: tuple[int, ...] = ()
    scores: tuple[int, ...] = ()
    qkv: tuple[int, ...] = ()

    def merge(self, other: FeatureRequest) -> FeatureRequest:
        """The union of two requests."""

        def union(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
            return tuple(sorted(set(a) | set(b)))

        return FeatureRequest(
            logits=self.logits or other.logits,
            hidden_states=union(self.hidden_states, other.hidden_states),
            attentions=union(self.attentions, other.attentions),
            scores=union(self.scores, other.scores),
            qkv=union(self.qkv, other.qkv),
        )

    @property
    def attention_layers(self) -> tuple[int, ...]:
        """Layers whose Q/K/V projections must be captured."""
        return tuple(sorted(set(self.attentions) | set(self.scores) | set(self.qkv)))

    def resolve(self, num_layers: int, who: str = "model") -> FeatureRequest:
        """Turn negative indices into absolute ones and check every index exists."""

        def fix(indices: tuple[int, ...], size: int, kind: str) -> tuple[int, ...]:
            out = []
            for i in indices:
                j = i + size if i < 0 else i
                if not 0 <= j < size:
                    raise ConfigError(
                        f"{who} has {num_layers} layers, so {kind} index {i} is out of range "
                        f"(valid: {-size}..{size - 1}); fix the layer map of the method"
                    )
                out.append(j)
            return tuple(sorted(set(out)))

        return FeatureRequest(
            logits=self.logits,
            hidden_states=fix(self.hidden_states, num_layers + 1, "hidden-state"),
            attentions=fix(self.attentions, num_layers, "attention"),
            scores=fix(self.scores, num_layers, "attention"),
            qkv=fix(self.qkv, num_layers, "attention"),
        )


@dataclass
class EncoderFeatures:
    """Exactly the requested outputs of one forward pass.

    Attributes:
        attention_mask: (B, L), 1 for real tokens.
        num_layers: transformer layers of the model (hidden-state indices run 0..num_layers).
        logits: (B, C), or None when not requested.
        hidden_states: {index: (B, L, D)} for the requested indices (absolute).
        attentions: {layer: (B, H, L, L)} probabilities over real keys.
        scores: {layer: (B, H, L, L)} pre-softmax QKᵀ/√d, no mask added.
        queries / keys / values: {layer: (B, L, D)} projections, heads concatenated.
    """

    attention_mask: Tensor
    num_layers: int
    logits: Tensor | None = None
    hidden_states: dict[int, Tensor] = field(default_factory=dict)
    attentions: dict[int, Tensor] = field(default_factory=dict)
    scores: dict[int, Tensor] = field(default_factory=dict)
    queries: dict[int, Tensor] = field(default_factory=dict)
    keys: dict[int, Tensor] = field(default_factory=dict)
    values: dict[int, Tensor] = field(default_factory=dict)

    def layer(self, index: int) -> int:
        """Absolute 0-based layer for a possibly negative layer index."""
        return index + self.num_layers if index < 0 else index

    def requested_logits(self) -> Tensor:
        """The logits, which an objective reads only after requesting them (hence not None)."""
        if self.logits is None:
            raise KeyError("logits were not requested (FeatureRequest.logits is False)")
        return self.logits

    def hidden(self, index: int) -> Tensor:
        """The hidden state at ``index``; negative indices count from the end."""
        absolute = index + self.num_layers + 1 if index < 0 else index
        if absolute not in self.hidden_states:
            raise KeyError(f"hidden state {index} was not requested (have {sorted(self.hidden_states)})")
        return self.hidden_states[absolute]


def check_layer_list(layers: Sequence[int] | str, depth: int, what: str) -> list[int]:
    """An explicit list of 0-based transformer layers of a ``depth``-layer model, checked.

    Layer j's output is hidden-state index j + 1; the embedding output is never listed.
    Rejects, with a :class:`ConfigError` naming the fix: an empty list, entries outside
    0..depth−1 (a list holding ``depth`` whose smallest entry is ≥ 1 was counted from 1,
    and the message offers the 0-based list), repeated layers, and lists that are not
    strictly increasing.

    Args:
        layers: the list as configured (a string, a misspelt map name, is rejected).
        depth: transformer layers of the teacher the list indexes.
        what: the option's name for messages, e.g. ``"method.layer_map"``.
    """
    try:
        if isinstance(layers, str):
            raise TypeError
        layers = [operator.index(x) for x in layers]
    except TypeError:
        raise ConfigError(f"{what} must be a list of integer layers, got {layers!r}") from None
    if not layers:
        raise ConfigError(f"{what} is empty; list at least one 0-based layer in 0..{depth - 1}")
    bad = [x for x in layers if not 0 <= x < depth]
    if bad:
        if depth in layers and min(layers) >= 1:
            fix = f"layers are 0-based: did you mean {[x - 1 for x in layers]}?"
        else:
            fix = f"give 0-based transformer layers in 0..{depth - 1} (the embedding output is never listed)"
        raise ConfigError(
            f"{what} {layers}: layer(s) {bad} out of range 0..{depth - 1} of the {depth}-layer teacher; {fix}"
        )
    repeated = sorted({x for x in layers if layers.count(x) > 1})
    if repeated:
        raise ConfigError(f"{what} {layers} repeats layer(s) {repeated}; list each layer once, in increasing order")
    if any(b <= a for a, b in zip(layers, layers[1:])):
        raise ConfigError(
            f"{what} {layers} is not strictly increasing; list the layers in order, e.g. {sorted(layers)}"
        )
    return layers
