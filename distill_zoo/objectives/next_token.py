"""What causal-LM objectives share: which positions count, the language-modelling loss, the trim
of padded vocabularies.

Position t of a (B, L, V) logits tensor predicts token t + 1, so every term reads positions
0..L-2 and counts position t when token t + 1 is a target (``loss_mask``, 1 on the tokens
the data says count: every real token of a packed corpus block, the completion tokens of a
prompt/completion pair). The last position predicts nothing inside the sequence.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch.nn.functional as F
from torch import Tensor

from distill_zoo.errors import ConfigError
from distill_zoo.losses._reduce import masked_mean


def predicted_positions(batch: Mapping[str, Tensor]) -> Tensor:
    """(B, L-1) mask: 1 where position t's next token is a target."""
    target = batch["loss_mask"] if "loss_mask" in batch else batch["attention_mask"]
    return (target[:, 1:] * batch["attention_mask"][:, :-1]).long()


def next_token_logits(logits: Tensor | None, columns: int | None) -> Tensor:
    """(B, L-1, V') logits of positions 0..L-2, over the first ``columns`` vocabulary entries."""
    if logits is None or logits.dim() != 3:
        raise ConfigError(
            "this objective reads per-token vocabulary logits: use a causal language model "
            "(teacher=smollm2_135m or teacher=hub_causal) with data=lm_corpus"
        )
    return logits[:, :-1, :columns] if columns is not None else logits[:, :-1]


def clm_loss(logits: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
    """Cross-entropy of the next token, mean over predicted positions (as :func:`predicted_positions`).

    Args:
        logits: (B, L-1, V) from :func:`next_token_logits`.
        batch: holds ``input_ids`` (B, L) and the masks.
    """
    targets = batch["input_ids"][:, 1:]
    per_token = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    return masked_mean(per_token, predicted_positions(batch))
