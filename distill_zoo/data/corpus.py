"""Raw-text corpora for task-agnostic (general) distillation.

Lines of a local text file (one sentence or document per line), or a Hugging Face
dataset by name, are tokenised once (cached under ``cache_dir``, keyed by the file's
contents and the tokenisation settings) and either packed into full ``max_length``
blocks or truncated one line per example. With ``masking`` set, every batch is masked
the DistilBERT way (see :mod:`distill_zoo.data.masking`): the masks come from a stream
per (``seed``, epoch, rank, DataLoader worker), so they are new every epoch, differ
between workers and ranks, and one seed reproduces them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import lightning as L
import torch
from datasets import Dataset, load_from_disk
from torch.utils.data import DataLoader, get_worker_info
from transformers import PreTrainedTokenizerBase

from distill_zoo.data.masking import DistilBertMasker, mask_generator
from distill_zoo.data.sampling import EpochShuffle, ResumableLoader, TrainingPosition
from distill_zoo.data.text import read_utf8
from distill_zoo.errors import ConfigError, DataError


class _Epoch:
    """The current epoch, set by the :class:`EpochShuffle` and read by the collate function."""

    def __init__(self, epoch: int = 0) -> None:
        self.value = epoch

    def set(self, epoch: int) -> None:
        self.value = epoch


class _PadAndMask:
    """Collate: pad blocks into a batch and, with a masker, mask it from the stream of
    (seed, epoch, rank, worker). Workers get a copy when they start, which for
    non-persistent workers (the default) is after ``set_epoch``, so they see the epoch."""

    def __init__(self, pad_id: int, masker: DistilBertMasker | None, seed: int, rank: int, epoch: _Epoch) -> None:
        self.pad_id, self.masker, self.seed, self.rank, self.epoch = pad_id, masker, seed, rank, epoch
        self._stream: tuple[tuple[int, int], torch.Generator] | None = None

    def generator(self) -> torch.Generator:
        info = get_worker_info()
        key = (self.epoch.value, info.id if info is not None else 0)
        if self._stream is None or self._stream[0] != key:
            self._stream = (key, mask_generator(self.seed, *key, rank=self.rank))
        return self._stream[1]

    def __call__(self, rows: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        ids, mask = pad_rows(rows, self.pad_id)
        batch = {"input_ids": ids, "attention_mask": mask}
        if self.masker is not None:
            batch["input_ids"], batch["mlm_labels"] = self.masker(ids, mask, self.generator())
            batch["original_ids"] = ids
        return batch


def pad_rows(rows: list[dict[str, list[int]]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad rows of ``input_ids`` into (B, L) token ids and their attention mask."""
    length = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, : len(r["input_ids"])] = torch.tensor(r["input_ids"])
        mask[i, : len(r["input_ids"])] = 1
    return ids, mask


class CorpusDataModule(TrainingPosition, L.LightningDataModule):
    """Token blocks from raw text, optionally masked for masked-LM distillation.

    Args:
        path: a local text file, one sentence or document per line.
        hub_name / hub_config / text_field: a Hugging Face dataset instead (e.g. wikitext).
        max_length: tokens per example, [CLS] and [SEP] included.
        pack: concatenate lines into full blocks (True) or truncate each line (False).
        max_lines: read at most this many non-empty lines.
        batch_size / num_workers: DataLoader settings.
        seed: seeds the data order and the masking streams.
        cache_dir: where tokenised blocks are cached.
        masking: None, or options of :class:`DistilBertMasker` (``mode``, ``mlm_probability``, ...).
    """

    def __init__(
        self,
        path: str | None = None,
        hub_name: str | None = None,
        hub_config: str | None = None,
        text_field: str = "text",
        max_length: int = 128,
        pack: bool = True,
        max_lines: int | None = None,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        cache_dir: str = ".cache/distill_zoo/corpus",
        masking: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if (path is None) == (hub_name is None):
            raise ConfigError("a corpus needs exactly one of path (a local text file) or hub_name")
        if max_length < 8:
            raise ConfigError(f"corpus max_length must be at least 8, got {max_length}")
        if max_lines is not None and max_lines < 1:
            raise ConfigError(f"corpus max_lines must be at least 1 (or null for every line), got {max_lines}")
        self.path, self.hub_name, self.hub_config, self.text_field = path, hub_name, hub_config, text_field
        self.max_length, self.pack, self.max_lines = max_length, pack, max_lines
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.cache_dir, self.masking = Path(cache_dir), dict(masking) if masking else None
        self.tokenizer: PreTrainedTokenizerBase | None = None
        self.blocks: Dataset | None = None
        self.token_counts: torch.Tensor | None = None

    def set_tokenizer(self, tokenizer: PreTrainedTokenizerBase) -> None:
        self.tokenizer = tokenizer

    def lines(self) -> list[str]:
        """The corpus's non-empty lines (at most ``max_lines``)."""
        return read_corpus_lines(self.path, self.hub_name, self.hub_config, self.text_field, self.max_lines)

    def _cache_path(self, lines: list[str]) -> Path:
        tok = self.tokenizer
        assert tok is not None, "set_tokenizer() comes first"
        key = json.dumps([tok.name_or_path, len(tok), self.max_length, self.pack], default=str)
        digest = hashlib.sha256(key.encode() + "\n".join(lines).encode()).hexdigest()[:16]
        return self.cache_dir / digest

    def setup(self, stage: str | None = None) -> None:
        if self.tokenizer is None:
            raise RuntimeError("call set_tokenizer() before setup()")
        if self.blocks is not None:
            return
        lines = self.lines()
        cache = self._cache_path(lines)
        if (cache / "dataset_info.json").is_file():
            self.blocks = load_from_disk(str(cache))
        else:
            self.blocks = Dataset.from_dict({"input_ids": self._tokenise(lines)})
            tmp = cache.with_name(cache.name + ".partial")
            self.blocks.save_to_disk(str(tmp))
            tmp.replace(cache)
            self.blocks = load_from_disk(str(cache))
        counts = torch.zeros(len(self.tokenizer), dtype=torch.long)
        for ids in self.blocks["input_ids"]:
            counts += torch.bincount(torch.tensor(ids), minlength=len(counts))
        self.token_counts = counts

    def train_rows(self) -> Dataset:
        assert self.blocks is not None, "setup() comes first"
        return self.blocks

    def _tokenise(self, lines: list[str]) -> list[list[int]]:
        tok, body = self.tokenizer, self.max_length - 2
        assert tok is not None, "set_tokenizer() comes first"
        pieces = tok(lines, add_special_tokens=False, truncation=not self.pack, max_length=None if self.pack else body)
        wrap = lambda ids: [tok.cls_token_id, *ids, tok.sep_token_id]  # noqa: E731
        if not self.pack:
            return [wrap(ids) for ids in pieces["input_ids"] if ids]
        stream = [i for ids in pieces["input_ids"] for i in ids]
        return [wrap(stream[i : i + body]) for i in range(0, len(stream) - body + 1, body)] or [wrap(stream)]

    def train_dataloader(self) -> DataLoader:
        tok, blocks = self.tokenizer, self.blocks
        assert tok is not None and blocks is not None, "setup() comes first"
        masker = None
        if self.masking is not None:
            masker = DistilBertMasker(
                len(tok), tok.mask_token_id, tok.all_special_ids, token_counts=self.token_counts, **self.masking
            )
        # Attached to a trainer: start from its epoch (resumed runs, reloaded dataloaders) and rank.
        trainer = self.trainer
        epoch = _Epoch(trainer.current_epoch if trainer is not None else 0)
        rank = trainer.global_rank if trainer is not None else 0
        collate = _PadAndMask(tok.pad_token_id, masker, self.seed, rank, epoch)
        return ResumableLoader(
            self.blocks,
            batch_size=self.batch_size,
            sampler=EpochShuffle(len(blocks), self.seed, epoch.value, on_epoch=epoch.set),
            collate_fn=collate,
            num_workers=self.num_workers,
            # The loader's own generator seeds worker processes without drawing from the global stream.
            generator=torch.Generator().manual_seed(self.seed),
            skip_batches=self.batches_to_skip(-(-len(blocks) // self.batch_size)),
        )


def read_corpus_lines(
    path: str | None, hub_name: str | None, hub_config: str | None, text_field: str, max_lines: int | None
) -> list[str]:
    """The non-empty, stripped lines of a local text file or a Hub dataset's ``text_field`` (at most ``max_lines``)."""
    if path is not None:
        file = Path(path).expanduser()
        if not file.is_file():
            raise DataError(f"missing corpus file {file}: give a text file with one sentence or document per line")
        texts = read_utf8(file).splitlines()
    else:
        from datasets import load_dataset

        try:
            texts = load_dataset(hub_name, hub_config, split="train")[text_field]
        except Exception as err:  # noqa: BLE001 - network and cache errors all end here
            raise DataError(f"could not load corpus {hub_name} from the Hub ({err}); use a local path") from err
    lines = [t.strip() for t in texts if t and t.strip()]
    if not lines:
        raise DataError(
            f"corpus {path or hub_name} has no text (every line is blank); give one sentence or document per line"
        )
    return lines[:max_lines] if max_lines else lines
