"""DistilBERT's masking for masked-LM distillation (Sanh et al. 2019, HF ``distillation/`` code).

Per batch: 15 % of the non-pad tokens are chosen, without replacement, with probability
∝ count(token)^−0.7 over the corpus (rare tokens favoured; ``uniform`` as an option),
special tokens never; then 80 % become [MASK], 10 % a random token, 10 % stay. Labels
are the original ids at chosen positions and −100 elsewhere.

New masks every epoch, as in the paper: :func:`mask_generator` gives each (seed, epoch,
rank, DataLoader worker) its own random stream, so epochs, workers and ranks never
repeat each other's masks while one seed still reproduces a run.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable

import torch
from torch import Tensor

IGNORE_INDEX = -100


def mask_generator(seed: int, epoch: int, worker: int = 0, rank: int = 0) -> torch.Generator:
    """A generator seeded from (seed, epoch, worker, rank), independent for every distinct tuple.

    The four numbers are hashed (SHA-256) rather than added, so (seed 1, epoch 0) and
    (seed 0, epoch 1) do not share a stream.
    """
    digest = hashlib.sha256(f"distilbert-mask/{seed}/{epoch}/{worker}/{rank}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))


class DistilBertMasker:
    """Choose and corrupt positions of a batch for masked-LM training.

    Args:
        vocab_size: size of the vocabulary (random replacements are drawn from it).
        mask_id: the [MASK] token id.
        special_ids: ids never chosen (CLS, SEP, PAD, ...).
        token_counts: (V,) corpus counts for frequency weighting; None or ``mode="uniform"``
            gives every non-special token the same weight.
        mlm_probability: share of the batch's non-pad tokens to choose (0.15).
        smoothing: exponent of the counts (0.7: probability ∝ count^−0.7).
        replace_probs: probabilities of [MASK], random token, unchanged (0.8, 0.1, 0.1).
        mode: ``frequency`` (default) or ``uniform``.
    """

    def __init__(
        self,
        vocab_size: int,
        mask_id: int,
        special_ids: Iterable[int],
        token_counts: Tensor | None = None,
        mlm_probability: float = 0.15,
        smoothing: float = 0.7,
        replace_probs: tuple[float, float, float] = (0.8, 0.1, 0.1),
        mode: str = "frequency",
    ) -> None:
        if mode not in ("frequency", "uniform"):
            raise ValueError(f"masking mode must be 'frequency' or 'uniform', got {mode!r}")
        if not math.isclose(sum(replace_probs), 1.0):
            raise ValueError(f"replace_probs must sum to 1, got {replace_probs}")
        weights = torch.ones(vocab_size)
        if mode == "frequency" and token_counts is not None:
            weights = token_counts.float().clamp_min(1.0).pow(-smoothing)
        weights[list(special_ids)] = 0.0
        self.token_weights = weights
        self.vocab_size, self.mask_id = vocab_size, mask_id
        self.mlm_probability = mlm_probability
        self.replace_probs = torch.tensor(replace_probs)

    def __call__(self, input_ids: Tensor, attention_mask: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Return (corrupted ids, labels) for a (B, L) batch; ``generator`` makes it reproducible."""
        weights = self.token_weights[input_ids] * attention_mask.float()
        flat = weights.flatten()
        candidates = int((flat > 0).sum())
        n = min(math.ceil(self.mlm_probability * int(attention_mask.sum())), candidates)
        labels = torch.full_like(input_ids, IGNORE_INDEX)
        if n == 0:
            return input_ids.clone(), labels
        chosen = torch.multinomial(flat, n, replacement=False, generator=generator)
        picked = torch.zeros(flat.shape, dtype=torch.bool)
        picked[chosen] = True
        picked = picked.view_as(input_ids)
        labels[picked] = input_ids[picked]
        action = torch.multinomial(self.replace_probs, n, replacement=True, generator=generator)
        corrupted = input_ids.clone()
        values = corrupted[picked]
        values[action == 0] = self.mask_id
        randoms = torch.randint(self.vocab_size, (int((action == 1).sum()),), generator=generator)
        values[action == 1] = randoms
        corrupted[picked] = values
        return corrupted, labels
