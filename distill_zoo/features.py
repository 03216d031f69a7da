"""What objectives ask of a model, and the typed record the wrapper returns.

Hidden-state indices follow Hugging Face: 0 is the embedding output, i is the output
of transformer layer i (1-based), so a model with N layers has indices 0..N. Negative
indices count from the end (-1 is the last layer). Attention layers are 0-based.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

from distill_zoo.errors import ConfigError


@dataclass(frozen=True)
class FeatureRequest:
    """The features an objective reads from one model.

    Attributes:
        logits: whether the classifier output is needed.
        hidden_states: hidden-state indices (0 = embeddings, -1 = last layer).
        attentions: 0-based layers whose post-softmax attention probabilities are needed.
    """

    logits: bool = False
    hidden_states: tuple[int, ...] = ()
    attentions: tuple[int, ...] = ()

    def merge(self, other: FeatureRequest) -> FeatureRequest:
        """The union of two requests."""
        return FeatureRequest(
            logits=self.logits or other.logits,
            hidden_states=tuple(sorted(set(self.hidden_states) | set(other.hidden_states))),
            attentions=tuple(sorted(set(self.attentions) | set(other.attentions))),
        )

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
        )


@dataclass
class EncoderFeatures:
    """Exactly the requested outputs of one forward pass.

    Attributes:
        attention_mask: (B, L), 1 for real tokens.
        num_layers: transformer layers of the model (hidden-state indices run 0..num_layers).
        logits: (B, C), or None when not requested.
        hidden_states: {index: (B, L, D)} for the requested indices (absolute).
        attentions: {layer: (B, H, L, L)} post-softmax probabilities.
    """

    attention_mask: Tensor
    num_layers: int
    logits: Tensor | None = None
    hidden_states: dict[int, Tensor] = field(default_factory=dict)
    attentions: dict[int, Tensor] = field(default_factory=dict)

    def hidden(self, index: int) -> Tensor:
        """The hidden state at ``index``; negative indices count from the end."""
        absolute = index + self.num_layers + 1 if index < 0 else index
        if absolute not in self.hidden_states:
            raise KeyError(f"hidden state {index} was not requested (have {sorted(self.hidden_states)})")
        return self.hidden_states[absolute]
