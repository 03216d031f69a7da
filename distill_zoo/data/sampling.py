"""A training order that a resumed run continues exactly: per-epoch shuffles and batch skipping.

A run killed mid-epoch and resumed from its checkpoint must see the same batches in the
same order as a run that was never stopped. Two things make that hold:

* :class:`EpochShuffle` draws epoch ``e``'s order from a generator seeded by
  ``(seed, e)`` alone, so the order of an epoch does not depend on how many epochs this
  process has iterated before (a ``RandomSampler`` with one generator does).
* :class:`LengthGroupedShuffle` is the same epoch order with batches of similar length
  (less padding), still a function of ``(seed, epoch)`` alone.
* :class:`TrainingPosition` (a LightningDataModule mixin) saves, in every Lightning
  checkpoint, the epoch and the number of batches already trained; on resume the
  training loader skips that many batches of that epoch (they are drawn and dropped, so
  anything the collate function draws, such as masking streams, stays in step).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler
from torch.utils.data.dataloader import _BaseDataLoaderIter  # what DataLoader.__iter__ returns


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A generator that depends on ``(seed, epoch)`` only."""
    state = np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & 0x7FFF_FFFF_FFFF_FFFF)


class EpochShuffle(Sampler[int]):
    """A new random order every epoch, drawn from ``(seed, epoch)``.

    Lightning calls ``set_epoch`` before each training epoch (and forwards it through the
    ``DistributedSamplerWrapper`` it puts around custom samplers under DDP; a
    ``RandomSampler`` subclass would instead be swapped for a plain ``DistributedSampler``).
    ``on_epoch`` is called with the epoch too (a collate function that keys its own
    stream by epoch listens there).

    Args:
        size: examples to draw from.
        length: indices per epoch; more than ``size`` cycles the examples: successive
            shuffles of all of them, cut at ``length`` (the ``none`` control of a transfer-set
            run takes as many steps from its labelled rows as the others from all rows).
            None: ``size``.
    """

    def __init__(self, size: int, seed: int, epoch: int = 0, on_epoch: Any = None, length: int | None = None) -> None:
        if size < 1:
            raise ValueError(f"nothing to shuffle: size {size}")
        self.size, self.seed, self.epoch, self.on_epoch = size, seed, epoch, on_epoch
        self.length = size if length is None else int(length)

    def __len__(self) -> int:
        return self.length

    def order(self, generator: torch.Generator) -> torch.Tensor:
        """The epoch's ``length`` indices: shuffles of ``range(size)`` drawn from ``generator``."""
        passes = [torch.randperm(self.size, generator=generator) for _ in range(-(-self.length // self.size))]
        return torch.cat(passes)[: self.length]

    def __iter__(self) -> Iterator[int]:
        yield from self.order(epoch_generator(self.seed, self.epoch)).tolist()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if self.on_epoch is not None:
            self.on_epoch(epoch)


class LengthGroupedShuffle(EpochShuffle):
    """:class:`EpochShuffle`'s order, batched by length: less padding, the same examples per epoch.

    The epoch's random order is cut into pools of ``pool_batches`` batches; each pool is
    sorted by length (longest first, ties in the random order) and cut into batches; the
    full batches of the epoch are then shuffled, and a last short batch stays last (a
    DataLoader batches consecutive indices, so a short batch elsewhere would shift every
    later batch). Everything is drawn from ``(seed, epoch)``: the same for every method of a
    seed, and a resumed epoch skipping its first batches sees the rest unchanged.

    Args:
        lengths: each example's length in tokens.
        batch_size: the DataLoader's batch size (the sampler yields indices, batch by batch).
        pool_batches: batches per sorted pool; 1 sorts within each batch only (no gain).
        length: indices per epoch, as in :class:`EpochShuffle` (cycled past ``len(lengths)``).
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        seed: int,
        epoch: int = 0,
        pool_batches: int = 100,
        on_epoch: Any = None,
        length: int | None = None,
    ) -> None:
        if batch_size < 1 or pool_batches < 1:
            raise ValueError(f"batch_size and pool_batches must be positive, got {batch_size} and {pool_batches}")
        super().__init__(len(lengths), seed, epoch, on_epoch, length)
        self.lengths = torch.as_tensor(list(lengths), dtype=torch.long)
        self.batch_size, self.pool_batches = batch_size, pool_batches

    def __iter__(self) -> Iterator[int]:
        generator = epoch_generator(self.seed, self.epoch)
        order = self.order(generator)
        pool = self.batch_size * self.pool_batches
        batches: list[torch.Tensor] = []
        for start in range(0, self.length, pool):
            chunk = order[start : start + pool]
            chunk = chunk[torch.argsort(self.lengths[chunk], descending=True, stable=True)]
            batches.extend(chunk.split(self.batch_size))
        short = batches.pop() if batches and len(batches[-1]) < self.batch_size else None
        shuffled = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        if short is not None:
            shuffled.append(short)
        for batch in shuffled:
            yield from batch.tolist()


class LengthOrder(Sampler[int]):
    """Evaluation order: longest example first (ties in file order), so each batch pads
    little. Predictions are put back in file order by their ``example_index``."""

    def __init__(self, lengths: Sequence[int]) -> None:
        self.order = torch.argsort(torch.as_tensor(list(lengths), dtype=torch.long), descending=True, stable=True)

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self) -> Iterator[int]:
        yield from self.order.tolist()


class ResumableLoader(DataLoader):
    """A DataLoader whose first pass starts ``skip_batches`` batches in (a resumed epoch).

    The skipped batches are drawn and dropped; later passes are whole. The length stays
    the epoch's full length: Lightning counts the resumed epoch's batches from where the
    checkpoint left off.
    """

    def __init__(self, *args: Any, skip_batches: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.skip_batches = skip_batches

    def __iter__(self) -> _BaseDataLoaderIter:
        iterator = super().__iter__()
        skip, self.skip_batches = self.skip_batches, 0
        for _ in range(skip):
            next(iterator)
        return iterator


class TrainingPosition:
    """LightningDataModule mixin: save where training stands in the data, resume from there.

    ``state_dict`` goes into every Lightning checkpoint: the epoch and the batches of that
    epoch already trained (``processed``: a checkpoint written at a batch end, or on
    SIGTERM after it, has trained that batch). ``load_state_dict`` runs when a checkpoint
    is restored, before the training loader is requested.
    """

    trainer: Any
    _resume_position: dict[str, int] | None = None

    def state_dict(self) -> dict[str, Any]:
        trainer = self.trainer
        if trainer is None:
            return {}
        progress = trainer.fit_loop.epoch_loop.batch_progress.current
        return {"epoch": int(trainer.current_epoch), "batches_done": int(progress.processed)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._resume_position = dict(state_dict) if state_dict else None

    def train_rows(self) -> Any:
        """The training rows the training loader serves (a ``datasets.Dataset`` with ``input_ids``),
        once ``setup`` has run."""
        raise NotImplementedError(f"{type(self).__name__} does not say which rows it trains on")

    def train_tokens_digest(self) -> tuple[str, int]:
        """A hash of the served training rows exactly as the models see them (token ids, type ids,
        in order), and the longest row in tokens. Computed once per rows object (the teacher-output
        cache key and every checkpoint's resume record both ask for it)."""
        rows = self.train_rows()
        memo = self.__dict__.get("_tokens_digest")
        if memo is not None and memo[0] is rows:  # a datasets.Dataset is immutable
            return memo[1]
        digest = hashlib.sha256()
        longest = 0
        for column in ("input_ids", "token_type_ids"):
            if column in rows.column_names:
                for row in rows[column]:
                    digest.update(json.dumps(row).encode())
                    longest = max(longest, len(row))
        self.__dict__["_tokens_digest"] = (rows, (digest.hexdigest(), longest))
        return digest.hexdigest(), longest

    def batches_to_skip(self, epoch_batches: int) -> int:
        """Batches of the current epoch a resumed run has trained already (0 otherwise); once."""
        position, self._resume_position = self._resume_position, None
        trainer = self.trainer
        if not position or trainer is None or position["epoch"] != trainer.current_epoch:
            return 0
        done = position["batches_done"]
        return done if done < epoch_batches else 0
