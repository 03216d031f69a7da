"""TinyBERT's data augmentation for task distillation (Jiao et al. 2020, Algorithm 1).

Following the huawei-noah reference (``TinyBERT/data_augmentation.py``): a sentence is
split into words and punctuation marks the way BERT's basic tokenizer does ("movie." is
"movie" "."). Alphabetic words that are not stop-words get candidates: a word that is a
single word piece gets a masked-LM's top-K predictions at its position (the word
masked); a multi-piece word gets its GloVe nearest neighbours when vectors are supplied,
otherwise it is kept. Each of ``copies`` draws replaces every such word by a random
candidate with probability ``p``; draws equal to the original or to an earlier draw are
dropped, so a sentence yields at most ``copies`` new versions. Labels are copied. Paper
defaults: K = 15, p = 0.4, 20 copies (the reference script's default is 30, with 20 for
SST-2 and QNLI and 10 for MNLI and QQP).

Departures from the reference: the masked-LM sees only the masked sentence (the
reference appends the unmasked sentence as a second segment), candidates exclude the
word itself and non-alphabetic tokens, and the stop-word list is our own.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from distill_zoo.data.tsv import Example

#: Bumped whenever the augmentation's output changes for the same settings (cache key).
AUGMENT_VERSION = 2

#: Common English function words that are never replaced: swapping them seldom keeps the
#: meaning (negations flip labels). The last line holds the pieces that splitting
#: contractions leaves ("don't" -> "don" "'" "t").
STOP_WORDS = frozenset(
    """
    a an the this that these those there here
    i me my mine myself we us our ours ourselves you your yours yourself yourselves
    he him his himself she her hers herself it its itself they them their theirs themselves
    who whom whose which what when where why how
    am is are was were be been being have has had having do does did doing
    will would shall should can could may might must
    and or but nor so yet if then than because as while until though although
    of at by for with about against between into through during before after above below
    to from up down in out on off over under again once
    all any both each few more most other some such only own same too very just also
    no not never nothing none
    s t d ll m re ve don doesn didn isn aren wasn weren hasn haven hadn won wouldn couldn shouldn
""".split()
)

_WORD_OR_MARK = re.compile(r"[^\W_]+|[^\w\s]|_")


def split_words(text: str, tokenizer: PreTrainedTokenizerBase) -> list[str]:
    """Words and punctuation marks of ``text``, split as BERT's basic tokenizer splits them.

    Uses the tokenizer's ``basic_tokenizer`` when it has one (slow BERT tokenizers; it
    also lowercases and strips accents for uncased models), else a regex that keeps runs
    of letters and digits together and puts every punctuation mark on its own.
    """
    basic = getattr(tokenizer, "basic_tokenizer", None)
    if basic is not None:
        return basic.tokenize(text)
    return _WORD_OR_MARK.findall(text)


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
    """Makes augmented copies of sentences with a masked-LM (and optionally GloVe).

    Args:
        mlm / tokenizer: the masked-LM proposing replacements for single-piece words.
        copies: draws per text (N); duplicates and unchanged draws are dropped.
        p: probability of replacing each candidate word in a draw.
        top_k: candidates per word (K; the reference's M).
        glove: word vectors for multi-piece words, or None to keep those words.
        seed: seeds the draws.
        stop_words: words never replaced (case-insensitive); None = :data:`STOP_WORDS`.
    """

    def __init__(
        self,
        mlm: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        copies: int = 20,
        p: float = 0.4,
        top_k: int = 15,
        glove: dict[str, torch.Tensor] | None = None,
        seed: int = 0,
        stop_words: Iterable[str] | None = None,
    ) -> None:
        self.mlm, self.tokenizer = mlm.eval(), tokenizer
        self.copies, self.p, self.top_k, self.seed = copies, p, top_k, seed
        self.stop_words = STOP_WORDS if stop_words is None else frozenset(w.lower() for w in stop_words)
        self.glove, self._glove_digest = glove, None
        if glove:
            self._glove_words = list(glove)
            matrix = torch.stack([glove[w] for w in self._glove_words])
            self._glove_unit = matrix / matrix.norm(dim=1, keepdim=True).clamp_min(1e-8)
            digest = hashlib.sha256("\n".join(self._glove_words).encode())
            digest.update(matrix.float().numpy().tobytes())
            self._glove_digest = digest.hexdigest()

    def augmentable(self, word: str) -> bool:
        """Whether ``word`` may be replaced: alphabetic (ASCII) and not a stop-word."""
        return word.isascii() and word.isalpha() and word.lower() not in self.stop_words

    def settings(self) -> dict[str, Any]:
        """Everything that decides the output besides the models' weights (for cache keys)."""
        basic = getattr(self.tokenizer, "basic_tokenizer", None)
        splitter = "regex" if basic is None else f"basic lower={basic.do_lower_case} accents={basic.strip_accents}"
        return {
            "version": AUGMENT_VERSION,
            "copies": self.copies,
            "p": self.p,
            "top_k": self.top_k,
            "seed": self.seed,
            "stop_words": sorted(self.stop_words),
            "splitter": splitter,
            "glove": self._glove_digest,
            "tokenizer": self.tokenizer.name_or_path,
            "mlm": getattr(self.mlm.config, "_name_or_path", ""),
        }

    def candidates(self, words: list[str]) -> list[list[str]]:
        """Replacement candidates for every word of a split sentence ([] = keep the word)."""
        out: list[list[str]] = [[] for _ in words]
        targets = [i for i, w in enumerate(words) if self.augmentable(w)]
        single = [i for i in targets if len(self.tokenizer.tokenize(words[i])) == 1]
        if single:
            texts = [" ".join(words[:i] + [self.tokenizer.mask_token] + words[i + 1 :]) for i in single]
            enc = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=128)
            with torch.no_grad():
                logits = self.mlm(**{k: v for k, v in enc.items() if k != "token_type_ids"}).logits
            for row, i in enumerate(single):
                where = (enc["input_ids"][row] == self.tokenizer.mask_token_id).nonzero()
                if len(where) == 0:  # truncated away: keep the word
                    continue
                ranked = logits[row, int(where[0])].topk(min(self.top_k * 3, logits.shape[-1])).indices.tolist()
                tokens = self.tokenizer.convert_ids_to_tokens(ranked)
                # ids past the tokenizer's vocabulary (a padded embedding table) have no token
                out[i] = [t for t in tokens if t and t.isalpha() and t.lower() != words[i].lower()][: self.top_k]
        if self.glove:
            for i in targets:
                word = words[i].lower()
                if i not in single and word in self.glove:
                    sims = self._glove_unit @ (self.glove[word] / self.glove[word].norm())
                    best = sims.topk(min(self.top_k + 1, len(sims))).indices.tolist()
                    out[i] = [self._glove_words[j] for j in best if self._glove_words[j] != word][: self.top_k]
        return out

    def replace_words(self, words: list[str], options: list[list[str]], rng: random.Random) -> list[str]:
        """One draw: each word with candidates becomes a random one of them with probability ``p``."""
        return [rng.choice(c) if c and rng.random() < self.p else w for w, c in zip(words, options)]

    def augment_text(self, text: str, rng: random.Random) -> list[str]:
        """Up to ``copies`` distinct new versions of ``text``, words joined by spaces."""
        words = split_words(text, self.tokenizer)
        options = self.candidates(words)
        seen, out = {tuple(words)}, []
        for _ in range(self.copies):
            new = tuple(self.replace_words(words, options, rng))
            if new not in seen:
                seen.add(new)
                out.append(" ".join(new))
        return out

    def augment(self, examples: list[Example], fields: tuple[str, ...]) -> list[Example]:
        """The originals, followed by each example's augmented copies.

        For sentence pairs every copy changes one text only: first the versions of the
        first text (the second kept as it is), then those of the second (the first kept).
        The reference script augments each text column in turn too, but leaves the last
        augmented first sentence in place while augmenting the second; here the
        untouched text is always the original.
        """
        rng = random.Random(self.seed)
        out = list(examples)
        for example in examples:
            for field in fields:
                out.extend({**example, field: text} for text in self.augment_text(str(example[field]), rng))
        return out


def cached_augment(
    augmenter: Augmenter, examples: list[Example], fields: tuple[str, ...], cache_dir: Path, key: str
) -> list[Example]:
    """:meth:`Augmenter.augment`, cached on disk under a hash of ``key``, the inputs and
    :meth:`Augmenter.settings`; ``key`` names what the settings cannot see (model weights)."""
    blob = json.dumps([key, examples, fields, augmenter.settings()], sort_keys=True, default=str)
    path = cache_dir / f"{hashlib.sha256(blob.encode()).hexdigest()[:16]}.json"
    if path.is_file():
        return json.loads(path.read_text())
    result = augmenter.augment(examples, fields)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    tmp.write_text(json.dumps(result))
    tmp.replace(path)
    return result
