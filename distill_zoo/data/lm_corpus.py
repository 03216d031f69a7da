"""Raw text for causal language models: packed training blocks, a held-out split, an extra eval text.

The corpus's lines are split once into training and held-out lines by a generator seeded
with ``split_seed`` (not the run seed), so every method and seed of a comparison trains on
the same text and is scored on the same held-out text. Lines that contain a sentence of the
extra eval text (``eval_text``, e.g. SST-2's dev sentences, which the movie-review corpus
holds, PTB-tokenised) are dropped from both, so that text is unseen too; sentence and
line are compared by :func:`~distill_zoo.data.text.normalise_for_overlap`.

Training lines are tokenised without special tokens, each followed by the end-of-text
token, concatenated and cut into blocks of ``block_size`` tokens (the remainder is
dropped); with ``source`` ``teacher_generations`` or ``on_policy`` they become
prompt/completion rows instead (:mod:`distill_zoo.data.lm_prompts`). Held-out blocks
are made the same way whatever the source; extra eval sentences are one padded
sequence each. Every batch holds ``input_ids``, ``attention_mask`` and ``loss_mask``
(1 where the token is a prediction target; the causal shift is the objective's).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from datasets import Dataset, load_from_disk
from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
from torch.utils.data import DataLoader
from transformers import PreTrainedTokenizerBase

from distill_zoo.data.corpus import pad_rows, read_corpus_lines
from distill_zoo.data.lm_prompts import SOURCES, Completer, PromptCollate, cached_completions, prompt_rows
from distill_zoo.data.sampling import EpochShuffle, ResumableLoader, TrainingPosition
from distill_zoo.data.tasks import get_task
from distill_zoo.data.text import drop_lines_containing
from distill_zoo.data.tsv import read_glue_tsv
from distill_zoo.errors import ConfigError, DataError
from distill_zoo.locks import MISSING, lock_unless_complete


class LMCorpusDataModule(TrainingPosition, L.LightningDataModule):
    """Packed causal-LM blocks of a text corpus, with held-out and extra eval text.

    Args:
        path / hub_name / hub_config / text_field / max_lines: the corpus, as for
            :class:`~distill_zoo.data.corpus.CorpusDataModule`.
        block_size: tokens per training and held-out block.
        heldout_fraction: share of lines kept out of training for held-out perplexity.
        split_seed: seeds the held-out split; fixed across runs so they all share it.
        eval_text: a GLUE TSV of extra eval sentences (its first text field), or None.
        eval_text_task: the GLUE task whose layout ``eval_text`` has (``sst2``).
        max_eval_texts: score at most this many of them.
        batch_size / eval_batch_size / num_workers: DataLoader settings.
        seed: the run seed: the training order.
        cache_dir: where tokenised splits are cached.
        source: the training text: ``corpus`` (packed blocks), ``teacher_generations`` or
            ``on_policy`` (prompt/completion rows, see :mod:`distill_zoo.data.lm_prompts`).
        prompt_tokens / completion_tokens / max_prompts: the rows of the prompted sources.
        on_policy_fraction: λ, the share of ``on_policy`` batches the student completes itself.
        generation: how completions are decoded (``models.generation.GenerationSettings``
            options) and ``seed``, the seed of the teacher's sampling (fixed across runs, so
            every method and seed reads the same generated text).
    """

    def __init__(
        self,
        path: str | None = None,
        hub_name: str | None = None,
        hub_config: str | None = None,
        text_field: str = "text",
        max_lines: int | None = None,
        block_size: int = 128,
        heldout_fraction: float = 0.05,
        split_seed: int = 0,
        eval_text: str | None = None,
        eval_text_task: str = "sst2",
        max_eval_texts: int | None = None,
        batch_size: int = 16,
        eval_batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        cache_dir: str = ".cache/distill_zoo/lm_corpus",
        source: str = "corpus",
        prompt_tokens: int = 16,
        completion_tokens: int = 48,
        max_prompts: int | None = None,
        on_policy_fraction: float = 0.5,
        generation: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if source not in SOURCES:
            raise ConfigError(f"data.source must be one of {', '.join(SOURCES)}, got {source!r}")
        if prompt_tokens < 1 or completion_tokens < 1 or (max_prompts is not None and max_prompts < 1):
            raise ConfigError(
                "data.prompt_tokens, data.completion_tokens and data.max_prompts must be at least 1, got "
                f"{prompt_tokens}, {completion_tokens}, {max_prompts}"
            )
        if not 0 <= on_policy_fraction <= 1:
            raise ConfigError(f"data.on_policy_fraction must lie in [0, 1], got {on_policy_fraction}")
        self.source, self.prompt_tokens, self.completion_tokens = source, prompt_tokens, completion_tokens
        self.max_prompts, self.on_policy_fraction = max_prompts, on_policy_fraction
        self.generation = dict(generation or {})
        self.completer: tuple[Completer, dict[str, Any]] | None = None
        if (path is None) == (hub_name is None):
            raise ConfigError("a corpus needs exactly one of path (a local text file) or hub_name")
        if block_size < 8:
            raise ConfigError(f"data.block_size must be at least 8 tokens, got {block_size}")
        if not 0 < heldout_fraction < 1:
            raise ConfigError(f"data.heldout_fraction must lie strictly between 0 and 1, got {heldout_fraction}")
        if max_lines is not None and max_lines < 1:
            raise ConfigError(f"data.max_lines must be at least 1 (or null for every line), got {max_lines}")
        self.path, self.hub_name, self.hub_config, self.text_field = path, hub_name, hub_config, text_field
        self.max_lines, self.block_size = max_lines, block_size
        self.heldout_fraction, self.split_seed = heldout_fraction, split_seed
        self.eval_text, self.eval_text_task, self.max_eval_texts = eval_text, eval_text_task, max_eval_texts
        self.batch_size, self.eval_batch_size, self.num_workers, self.seed = (
            batch_size,
            eval_batch_size,
            num_workers,
            seed,
        )
        self.cache_dir = Path(cache_dir)
        self.tokenizer: PreTrainedTokenizerBase | None = None
        self.datasets: dict[str, Dataset] = {}
        self.train_seed = seed

    def set_tokenizer(self, tokenizer: PreTrainedTokenizerBase) -> None:
        self.tokenizer = tokenizer

    def set_completer(self, completer: Completer, key: dict[str, Any]) -> None:
        """What completes the prompts of ``source=teacher_generations``; ``key`` names it (the
        teacher and the generation settings) in the cache of its completions."""
        self.completer = (completer, key)

    @property
    def prompted(self) -> bool:
        """Whether training rows are prompt/completion pairs (only completion tokens are targets)."""
        return self.source != "corpus"

    def lines(self) -> list[str]:
        """The corpus's non-empty lines (at most ``max_lines``); reading them checks the source."""
        return read_corpus_lines(self.path, self.hub_name, self.hub_config, self.text_field, self.max_lines)

    def eval_sentences(self) -> list[str]:
        """The extra eval text's sentences (the task's first text field), at most ``max_eval_texts``."""
        if self.eval_text is None:
            return []
        spec = get_task(self.eval_text_task)
        examples = read_glue_tsv(Path(self.eval_text).expanduser(), spec)
        sentences = [str(e[spec.text_fields[0]]).strip() for e in examples]
        return sentences[: self.max_eval_texts] if self.max_eval_texts else sentences

    def split_lines(self) -> dict[str, list[str]]:
        """Training and held-out lines (corpus order kept within each), without the extra eval text."""
        lines, extra = self.lines(), self.eval_sentences()
        if extra:
            lines = drop_lines_containing(lines, extra)
        order = torch.randperm(len(lines), generator=torch.Generator().manual_seed(self.split_seed)).tolist()
        heldout = set(order[: max(1, round(self.heldout_fraction * len(lines)))])
        split = {
            "train": [line for i, line in enumerate(lines) if i not in heldout],
            "heldout": [line for i, line in enumerate(lines) if i in heldout],
        }
        if not split["train"]:
            raise DataError(f"corpus {self.path or self.hub_name} leaves no training lines after the held-out split")
        return split

    def setup(self, stage: str | None = None) -> None:
        if self.tokenizer is None:
            raise RuntimeError("call set_tokenizer() before setup()")
        if self.datasets:
            return
        cache = self._cache_path()
        cache.parent.mkdir(parents=True, exist_ok=True)

        def problem() -> str | None:
            return None if (cache / "splits.json").is_file() else MISSING

        with lock_unless_complete(cache, problem) as found:  # DDP ranks and parallel jobs build it once
            if found is not None:
                self._write(cache)
        names = json.loads((cache / "splits.json").read_text())
        self.datasets = {name: load_from_disk(str(cache / name)) for name in names}
        if self.source == "teacher_generations":
            if self.completer is None:
                raise RuntimeError("source=teacher_generations: call set_completer() before setup()")
            completer, key = self.completer
            key = {**key, "seed": self.generation.get("seed", 0)}
            name = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
            rows = self.datasets["train_prompts"].to_list()
            self.datasets["train_generated"] = cached_completions(cache / "generations" / name, rows, completer, key)

    def _write(self, cache: Path) -> None:
        """Split, tokenise and save every split into ``<cache>.partial``, then move it into place."""
        tmp = cache.with_name(cache.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)  # left by a killed run
        split = self.split_lines()
        columns = {
            "train": self._blocks(split["train"], "training"),
            "heldout": self._blocks(split["heldout"], "held-out"),
            "eval_text": [self._encode(s) for s in self.eval_sentences()],
        }
        rows = {}
        if self.prompted:
            pieces = self.tokenizer(split["train"], add_special_tokens=False)["input_ids"]  # type: ignore[misc]
            rows["train_prompts"] = prompt_rows(
                pieces, self.end_of_text, self.prompt_tokens, self.completion_tokens, self.max_prompts
            )
        quiet = not are_progress_bars_disabled()
        if quiet:
            disable_progress_bars()  # one bar per split for a write of a second is noise
        try:
            for name, ids in columns.items():
                if ids:  # an empty dataset cannot be saved: no extra eval text
                    Dataset.from_dict({"input_ids": ids}).save_to_disk(str(tmp / name))
            for name, table in rows.items():
                Dataset.from_list(table).save_to_disk(str(tmp / name))
            names = [name for name, ids in columns.items() if ids] + list(rows)
            (tmp / "splits.json").write_text(json.dumps(names))
        finally:
            if quiet:
                enable_progress_bars()
        tmp.replace(cache)

    def _cache_path(self) -> Path:
        tok = self.tokenizer
        assert tok is not None, "set_tokenizer() comes first"
        settings: list[Any] = [tok.name_or_path, len(tok), self.block_size, self.heldout_fraction, self.split_seed]
        if self.prompted:
            settings += [self.prompt_tokens, self.completion_tokens, self.max_prompts]
        digest = hashlib.sha256(json.dumps(settings, default=str).encode())
        digest.update("\n".join(self.lines()).encode() + b"\0" + "\n".join(self.eval_sentences()).encode())
        return self.cache_dir / digest.hexdigest()[:16]

    @property
    def end_of_text(self) -> int:
        tok = self.tokenizer
        assert tok is not None, "set_tokenizer() comes first"
        token = tok.eos_token_id if tok.eos_token_id is not None else tok.sep_token_id
        if token is None:
            raise ConfigError(f"tokenizer {tok.name_or_path} has neither an end-of-text nor a separator token")
        return int(token)

    def _encode(self, text: str) -> list[int]:
        assert self.tokenizer is not None, "set_tokenizer() comes first"
        return [*self.tokenizer(text, add_special_tokens=False)["input_ids"], self.end_of_text]

    def _blocks(self, lines: list[str], what: str) -> list[list[int]]:
        assert self.tokenizer is not None, "set_tokenizer() comes first"
        pieces = self.tokenizer(lines, add_special_tokens=False)["input_ids"]
        stream = [token for ids in pieces for token in (*ids, self.end_of_text)]
        size = self.block_size
        blocks = [stream[i : i + size] for i in range(0, len(stream) - size + 1, size)]
        if not blocks:
            raise DataError(
                f"the {what} text has {len(stream)} tokens, fewer than one block of data.block_size={size}; "
                "lower data.block_size or give more text"
            )
        return blocks

    def _loader(self, name: str, batch_size: int, shuffle: bool) -> DataLoader:
        rows = self.datasets[name]
        pad = self.tokenizer.pad_token_id if self.tokenizer is not None else None
        pad_id = self.end_of_text if pad is None else int(pad)
        collate = PromptCollate(pad_id) if name in _PROMPTED else _Pad(pad_id)
        if not shuffle:
            return DataLoader(rows, batch_size=batch_size, collate_fn=collate, num_workers=self.num_workers)
        return ResumableLoader(
            rows,
            batch_size=batch_size,
            sampler=EpochShuffle(len(rows), self.train_seed, self._epoch()),
            collate_fn=collate,
            num_workers=self.num_workers,
            generator=torch.Generator().manual_seed(self.train_seed),
            skip_batches=self.batches_to_skip(-(-len(rows) // batch_size)),
        )

    def _epoch(self) -> int:
        trainer = self.trainer
        return trainer.current_epoch if trainer is not None else 0

    def prompt_rows(self, count: int = 64) -> list[list[int]]:
        """Token ids to start generation from: the first extra eval sentences, else held-out blocks."""
        rows = self.datasets["eval_text" if "eval_text" in self.datasets else "heldout"]["input_ids"]
        return [list(r) for r in rows[:count]]

    def train_rows(self) -> Dataset:
        return self.datasets[_TRAIN_ROWS[self.source]]

    def train_dataloader(self) -> DataLoader:
        return self._loader(_TRAIN_ROWS[self.source], self.batch_size, shuffle=True)

    def heldout_dataloader(self) -> DataLoader:
        return self._loader("heldout", self.eval_batch_size, shuffle=False)

    def eval_text_dataloader(self) -> DataLoader | None:
        if "eval_text" not in self.datasets:
            return None
        return self._loader("eval_text", self.eval_batch_size, shuffle=False)


#: The dataset each source trains on; the prompted ones keep prompt tokens out of the loss.
_TRAIN_ROWS = {"corpus": "train", "teacher_generations": "train_generated", "on_policy": "train_prompts"}
_PROMPTED = ("train_generated", "train_prompts")


class _Pad:
    """Collate rows of token ids into a right-padded batch with its masks (every real token is a target)."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, rows: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        ids, mask = pad_rows(rows, self.pad_id)
        return {"input_ids": ids, "attention_mask": mask, "loss_mask": mask.clone()}
