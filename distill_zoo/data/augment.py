"""TinyBERT's data augmentation for task distillation (Jiao et al. 2020, Algorithm 1).

For every word of a sentence: a word that is a single word piece gets candidates from a
masked-LM's top-K predictions at its position (the word masked); a multi-piece word
gets its GloVe nearest neighbours when vectors are supplied, otherwise it is kept.
Each of ``copies`` new sentences replaces every word by a random candidate with
probability ``p``. Labels are copied. Paper defaults: K = 15, p = 0.4, 20 copies
(the reference code uses 30).
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from distill_zoo.data.tsv import Example


def load_glove(path: str | Path, limit: int | None = None) -> dict[str, torch.Tensor]:
    """Word vectors from a GloVe text file (``word v1 v2 ...`` per line)."""
    vectors = {}
    with Path(path).open(encoding="utf-8") as handle:
        for i, line in enumerate(handle):
            if limit is not None and i >= limit:
                break
            word, *values = line.rstrip().split(" ")
            vectors[word] = torch.tensor([float(v) for v in values])
    return vectors


class Augmenter:
    """Makes augmented copies of sentences with a masked-LM (and optionally GloVe)."""

    def __init__(
        self,
        mlm: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        copies: int = 20,
        p: float = 0.4,
        top_k: int = 15,
        glove: dict[str, torch.Tensor] | None = None,
        seed: int = 0,
    ) -> None:
        self.mlm, self.tokenizer = mlm.eval(), tokenizer
        self.copies, self.p, self.top_k, self.seed = copies, p, top_k, seed
        self.glove = glove
        if glove:
            self._glove_words = list(glove)
            matrix = torch.stack([glove[w] for w in self._glove_words])
            self._glove_unit = matrix / matrix.norm(dim=1, keepdim=True).clamp_min(1e-8)

    def candidates(self, words: list[str]) -> list[list[str]]:
        """Replacement candidates for every word of a sentence."""
        out: list[list[str]] = [[] for _ in words]
        single = [i for i, w in enumerate(words) if len(self.tokenizer.tokenize(w)) == 1]
        if single:
            texts = [" ".join(words[:i] + [self.tokenizer.mask_token] + words[i + 1:]) for i in single]
            enc = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=128)
            with torch.no_grad():
                logits = self.mlm(**{k: v for k, v in enc.items() if k != "token_type_ids"}).logits
            positions = (enc["input_ids"] == self.tokenizer.mask_token_id).nonzero()
            for (row, col), i in zip(positions.tolist(), single):
                ranked = logits[row, col].topk(self.top_k * 3).indices.tolist()
                tokens = [t for t in self.tokenizer.convert_ids_to_tokens(ranked) if t.isalpha() and t != words[i].lower()]
                out[i] = tokens[: self.top_k]
        if self.glove:
            for i, word in enumerate(words):
                if i not in single and word.lower() in self.glove:
                    sims = self._glove_unit @ (self.glove[word.lower()] / self.glove[word.lower()].norm())
                    best = sims.topk(min(self.top_k + 1, len(sims))).indices.tolist()
                    out[i] = [self._glove_words[j] for j in best if self._glove_words[j] != word.lower()][: self.top_k]
        return out

    def augment_text(self, text: str, rng: random.Random) -> list[str]:
        words = text.split()
        options = self.candidates(words)
        return [
            " ".join(rng.choice(c) if c and rng.random() < self.p else w for w, c in zip(words, options))
            for _ in range(self.copies)
        ]

    def augment(self, examples: list[Example], fields: tuple[str, ...]) -> list[Example]:
        """The originals followed by ``copies`` augmented versions of each."""
        rng = random.Random(self.seed)
        out = list(examples)
        for example in examples:
            versions = {f: self.augment_text(str(example[f]), rng) for f in fields}
            for k in range(self.copies):
                out.append({**example, **{f: versions[f][k] for f in fields}})
        return out


def cached_augment(augmenter: Augmenter, examples: list[Example], fields: tuple[str, ...], cache_dir: Path, key: str) -> list[Example]:
    """:meth:`Augmenter.augment`, cached on disk under a hash of the inputs and settings."""
    blob = json.dumps([key, examples, fields, augmenter.copies, augmenter.p, augmenter.top_k, augmenter.seed], sort_keys=True)
    path = cache_dir / f"{hashlib.sha256(blob.encode()).hexdigest()[:16]}.json"
    if path.is_file():
        return json.loads(path.read_text())
    result = augmenter.augment(examples, fields)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    tmp.write_text(json.dumps(result))
    tmp.replace(path)
    return result
