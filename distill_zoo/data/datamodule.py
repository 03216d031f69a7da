"""GLUE (and demo) data for Lightning: local TSV folders or the Hugging Face Hub."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import lightning as L
import torch
from datasets import Dataset
from torch.utils.data import DataLoader, Sampler
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase

from distill_zoo.data.demo import write_demo_dataset
from distill_zoo.data.sampling import (
    EpochShuffle,
    LengthGroupedShuffle,
    LengthOrder,
    ResumableLoader,
    TrainingPosition,
)
from distill_zoo.data.tasks import HUB_FIELDS, TaskSpec, get_task
from distill_zoo.data.transfer import TransferCounts, TransferOptions, build_transfer_set
from distill_zoo.data.tsv import Example, glue_files, read_glue_tsv
from distill_zoo.errors import ConfigError, DataError


class GlueDataModule(TrainingPosition, L.LightningDataModule):
    """Train and dev splits of one GLUE task, tokenised and dynamically padded.

    Args:
        task: ``sst2``, ``mrpc``, ``cola``, ``stsb``, ``rte``, ``qnli``, ``mnli``, ``qqp`` or ``demo``.
        root: folder that holds ``glue/<task>/{train,dev}.tsv``; for ``demo`` the set is
            written there on first use.
        source: ``local`` (read ``root``), ``hub`` (``datasets.load_dataset``) or ``auto``
            (local when ``root`` is set, else hub).
        max_train_samples / max_eval_samples: keep a fixed random subset (drawn with
            ``subset_seed``, identical for every method and seed); None keeps all.
        max_length: truncation length in tokens.
        batch_size / eval_batch_size / num_workers: DataLoader settings.
        augment: None, or TinyBERT data augmentation of the training split for
            distillation (the teacher is still fine-tuned on the original data):
            ``{mlm: <masked-LM name or folder>, copies: 20, p: 0.4, top_k: 15,
            glove: <GloVe text file or null>}``. Cached under ``cache_dir/augmented``.
        cache_dir: where augmented sets are cached.
        seed: seeds the training order (its own generator, so nothing else that draws
            random numbers — projections, heads — can change the order of a seed).
        group_by_length: training batches of similar length (:class:`LengthGroupedShuffle`):
            the same examples each epoch, far less padding. False: plain random batches.
        length_pool_batches: batches per length-sorted pool.
        transfer: None, or an unlabelled transfer set the teacher scores
            (:mod:`distill_zoo.data.transfer`): ``{source: train_rest | file | corpus, path,
            columns, max_samples, subset_seed}``. An objective that reads the teacher trains
            on the labelled rows and the transfer rows together (:meth:`train_dataloader`);
            one that does not (``none``) on the labelled rows, cycled to as many batches.

    Labels: a transfer row's ``labels`` hold :mod:`distill_zoo.labels`' sentinel, so every
    supervised term skips it.
    """

    def __init__(
        self,
        task: str,
        root: str | None = None,
        source: str = "auto",
        max_train_samples: int | None = None,
        max_eval_samples: int | None = None,
        max_length: int = 128,
        batch_size: int = 32,
        eval_batch_size: int = 64,
        num_workers: int = 0,
        subset_seed: int = 0,
        augment: dict | None = None,
        cache_dir: str = ".cache/distill_zoo",
        seed: int = 0,
        group_by_length: bool = True,
        length_pool_batches: int = 100,
        transfer: dict | None = None,
    ) -> None:
        super().__init__()
        self.spec: TaskSpec = get_task(task)
        if source not in ("auto", "local", "hub"):
            raise ConfigError(f"data.source must be auto, local or hub, got {source!r}")
        if source == "auto":
            source = "local" if root or task == "demo" else "hub"
        if source == "local" and not root:
            raise ConfigError("data.source=local needs data.root (or the DISTILL_ZOO_DATA environment variable)")
        self.root = Path(root).expanduser() if root else None
        self.source = source
        self.max_train_samples, self.max_eval_samples = max_train_samples, max_eval_samples
        self.max_length, self.num_workers, self.subset_seed = max_length, num_workers, subset_seed
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.augment = dict(augment) if augment else None
        self.transfer = TransferOptions.parse(dict(transfer), self.spec) if transfer else None
        if self.transfer is not None and self.augment is not None:
            raise ConfigError(
                "data.augment and data.transfer both add unlabelled training text; set one of them (the other to null)"
            )
        #: Labelled files scored apart from dev (``eval.test_file``): kept out of the transfer set too.
        self.held_out_files: tuple[str, ...] = ()
        #: Whether training serves the transfer rows (an objective that reads the teacher);
        #: without, the labelled rows are cycled to the same number of batches.
        self.serve_transfer = True
        self.transfer_counts: TransferCounts | None = None
        self.cache_dir = Path(cache_dir)
        self.group_by_length, self.length_pool_batches = group_by_length, length_pool_batches
        #: Whether training serves the added rows, augmented or transfer (the teacher stage turns it off).
        self.extra_train = self.augment is not None or self.transfer is not None
        #: Seed of the training order; the teacher stage sets its own.
        self.train_seed = seed
        self.tokenizer: PreTrainedTokenizerBase | None = None
        self.examples: dict[str, list[Example]] = {}
        self.datasets: dict[str, Dataset] = {}

    def load_examples(self) -> dict[str, list[Example]]:
        """Read (and validate) both splits; cheap to call again. Raises DataError on bad files."""
        if not self.examples:
            raw = self._read_hub() if self.source == "hub" else self._read_local()
            labelled = _subset_index(len(raw["train"]), self.max_train_samples, self.subset_seed)
            self.examples = {
                "train": [raw["train"][i] for i in labelled],
                "dev": _subset(raw["dev"], self.max_eval_samples, self.subset_seed),
            }
            if self.transfer is not None:
                taken = set(labelled)
                rest = [row for i, row in enumerate(raw["train"]) if i not in taken]
                held_out = [*raw["dev"], *(row for f in self.held_out_files for row in self.read_labelled_file(f))]
                texts = [str(row[f]) for row in held_out for f in self.spec.text_fields]
                self.examples["transfer"], self.transfer_counts = build_transfer_set(
                    self.transfer, self.spec, rest, texts
                )
        return self.examples

    def train_digest(self) -> str:
        """A hash of the training examples actually used (after subsetting), whatever their source."""
        blob = json.dumps(self.load_examples()["train"], sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()

    def _read_local(self) -> dict[str, list[Example]]:
        assert self.root is not None
        if self.spec.name == "demo":
            write_demo_dataset(self.root)
        return {split: read_glue_tsv(path, self.spec) for split, path in glue_files(self.root, self.spec).items()}

    def _read_hub(self) -> dict[str, list[Example]]:
        from datasets import load_dataset

        path, name = self.spec.hub
        try:
            ds = load_dataset(path, name)
        except Exception as err:  # noqa: BLE001 - network, auth and cache errors all end here
            raise DataError(
                f"could not load {path}/{name} from the Hugging Face Hub ({type(err).__name__}: {err}); "
                "without network access, point data.root at a local GLUE folder "
                "(<root>/glue/<task>/{train,dev}.tsv)"
            ) from err
        rename = HUB_FIELDS.get(self.spec.name, {})
        out = {}
        for split, hub_split in (("train", "train"), ("dev", self.spec.dev_split)):
            out[split] = [
                {rename.get(k, k): v for k, v in row.items() if rename.get(k, k) in (*self.spec.text_fields, "label")}
                for row in ds[hub_split]
            ]
        return out

    def set_tokenizer(self, tokenizer: PreTrainedTokenizerBase) -> None:
        """Use the teacher's tokenizer; must be called before ``setup``."""
        self.tokenizer = tokenizer
        self.datasets = {}

    def setup(self, stage: str | None = None) -> None:
        if self.tokenizer is None:
            raise RuntimeError("call set_tokenizer() before setup()")
        if "dev" in self.datasets:
            return
        splits = dict(self.load_examples())
        if self.augment is not None:
            splits["train_augmented"] = self.augmented_examples()
        if "transfer" in splits:  # labelled rows first: example_index i < len(train) is labelled
            splits["train_transfer"] = [*splits["train"], *splits.pop("transfer")]
        for split, rows in splits.items():
            self.datasets[split] = Dataset.from_list(rows).map(
                self._tokenize,
                batched=True,
                with_indices=True,
                remove_columns=[*self.spec.text_fields, "label"],
                desc=f"tokenising {self.spec.name}/{split}",
            )

    @property
    def train_split(self) -> str:
        """The split ``train_dataloader`` serves: the augmented one when augmentation is on, the
        labelled rows with the transfer rows when there is a transfer set (and it is served)."""
        if self.extra_train and self.augment is not None:
            return "train_augmented"
        if self.extra_train and self.transfer is not None and self.serve_transfer:
            return "train_transfer"
        return "train"

    def epoch_rows(self) -> int:
        """Rows per training epoch: the served split's, or, for a run that cycles its labelled
        rows past a transfer set it does not read, as many as the labelled and transfer rows."""
        if self.train_split not in self.datasets:
            self.setup()
        served = len(self.datasets[self.train_split])
        if self.transfer is not None and self.extra_train and not self.serve_transfer:
            return served + len(self.load_examples()["transfer"])
        return served

    def rows_per_epoch(self) -> dict[str, int]:
        """The rows one training epoch holds (recorded with the run): ``labelled`` and
        ``transfer`` rows trained on, and the ``distinct_labelled`` rows the labelled ones
        come from (fewer when they are cycled)."""
        total = self.epoch_rows()
        distinct = len(self.load_examples()["train"])
        if self.train_split == "train_transfer":
            return {"labelled": distinct, "transfer": total - distinct, "distinct_labelled": distinct}
        return {"labelled": total, "transfer": 0, "distinct_labelled": min(distinct, total)}

    def ordered_train_loader(self) -> DataLoader:
        """The served training split in file order (each batch with ``example_index``), for
        computing what a frozen teacher says about every example once."""
        return self._loader(self.train_split, self.eval_batch_size)

    def train_rows(self) -> Dataset:
        return self.datasets[self.train_split]

    def augmented_examples(self) -> list[Example]:
        """The training split with TinyBERT's augmented copies (cached)."""
        from transformers import AutoTokenizer

        from distill_zoo.data.augment import Augmenter, cached_augment, load_glove
        from distill_zoo.models.classifier import load_masked_lm
        from distill_zoo.models.pretrained import resolve_pretrained

        assert self.augment is not None, "only called with data.augment set"
        options = dict(self.augment)
        name = options.pop("mlm")
        glove_path, glove_limit = options.pop("glove", None), options.pop("glove_limit", None)
        source = resolve_pretrained(name)
        augmenter = Augmenter(
            load_masked_lm(name),
            AutoTokenizer.from_pretrained(source),
            glove=load_glove(glove_path, glove_limit) if glove_path else None,
            **options,
        )
        key = f"{name}|{glove_path}|{glove_limit}"
        return cached_augment(
            augmenter, self.load_examples()["train"], self.spec.text_fields, self.cache_dir / "augmented", key
        )

    def _tokenize(self, batch: dict[str, list], indices: list[int] | None = None) -> dict[str, list]:
        """Token ids and labels; with ``indices``, each row's position in its split
        (``example_index``: where a cached teacher output for it is stored)."""
        texts = [batch[f] for f in self.spec.text_fields]
        assert self.tokenizer is not None, "set_tokenizer() comes first"
        encoded = self.tokenizer(*texts, truncation=True, max_length=self.max_length)
        encoded["labels"] = batch["label"]
        if indices is not None:
            encoded["example_index"] = indices
        return encoded

    def _loader(
        self,
        split: str,
        batch_size: int,
        sampler: Sampler[int] | None = None,
        generator: torch.Generator | None = None,
        skip_batches: int = 0,
    ) -> DataLoader:
        dataset = self.datasets[split].with_format("torch")
        label_dtype = torch.float32 if self.spec.is_regression else torch.long
        assert self.tokenizer is not None, "set_tokenizer() comes first"
        pad = DataCollatorWithPadding(self.tokenizer)

        def collate(features: list[dict]) -> dict[str, torch.Tensor]:
            batch = pad(features)
            batch["labels"] = batch["labels"].to(label_dtype)
            return dict(batch)

        return ResumableLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            collate_fn=collate,
            generator=generator,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            skip_batches=skip_batches,
        )

    @contextmanager
    def original_train(self) -> Iterator[None]:
        """Serve the original training examples (no augmentation, no transfer set, not cycled)
        inside the block."""
        augmented, self.extra_train = self.extra_train, False
        try:
            yield
        finally:
            self.extra_train = augmented

    def train_dataloader(self) -> DataLoader:
        """Epoch ``e`` is shuffled from ``(train_seed, e)``, in batches of similar length when
        ``group_by_length``; a resumed run skips the batches it trained."""
        split = self.train_split
        size = self.epoch_rows()
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        skip = self.batches_to_skip(-(-size // self.batch_size))
        # The loader's own generator seeds worker processes without drawing from the global stream.
        generator = torch.Generator().manual_seed(self.train_seed)
        return self._loader(split, self.batch_size, self.train_sampler(split, epoch), generator, skip)

    def train_sampler(self, split: str, epoch: int) -> EpochShuffle:
        """The order of ``split`` in ``epoch``: shuffled, and grouped by length if asked.

        Grouped in global batches (``batch_size`` x the trainer's processes): under DDP,
        Lightning's sampler wrapper deals the order out to the ranks in turn, so rank ``r``'s
        batch is every ``world``-th index of one global batch, all of similar length."""
        dataset = self.datasets[split]
        rows = self.epoch_rows() if split == self.train_split else len(dataset)
        if not self.group_by_length:
            return EpochShuffle(len(dataset), self.train_seed, epoch, length=rows)
        world = int(getattr(self.trainer, "world_size", 1) or 1)
        lengths = [len(row) for row in dataset["input_ids"]]
        return LengthGroupedShuffle(
            lengths, self.batch_size * world, self.train_seed, epoch, self.length_pool_batches, length=rows
        )

    def read_labelled_file(self, path: str | Path) -> list[Example]:
        """Examples of an extra labelled file in the layout of the task's dev file (raises DataError)."""
        return read_glue_tsv(Path(path).expanduser(), self.spec)

    def labelled_file_loader(self, path: str | Path) -> DataLoader:
        """An evaluation loader over an extra labelled file (``eval.test_file``), tokenised like dev."""
        if self.tokenizer is None:
            raise RuntimeError("call set_tokenizer() before labelled_file_loader()")
        name = f"file:{Path(path).expanduser().resolve()}"
        if name not in self.datasets:
            rows = self.read_labelled_file(path)
            self.datasets[name] = Dataset.from_list(rows).map(
                self._tokenize,
                batched=True,
                with_indices=True,
                remove_columns=[*self.spec.text_fields, "label"],
                desc=f"tokenising {Path(path).name}",
            )
        return self._loader(name, self.eval_batch_size, sampler=self.eval_sampler(name))

    def eval_sampler(self, split: str) -> LengthOrder:
        """Evaluation batches in length order (longest first): far less padding than file order;
        every batch carries ``example_index``, by which predictions return to file order."""
        return LengthOrder([len(row) for row in self.datasets[split]["input_ids"]])

    def val_dataloader(self) -> DataLoader:
        # A generator of its own: iterating a loader without one draws from the global
        # stream, so validation settings would shift the dropout masks of later steps.
        return self._loader(
            "dev", self.eval_batch_size, sampler=self.eval_sampler("dev"), generator=torch.Generator().manual_seed(0)
        )


def _subset(rows: list[Example], limit: int | None, seed: int) -> list[Example]:
    return [rows[i] for i in _subset_index(len(rows), limit, seed)]


def _subset_index(size: int, limit: int | None, seed: int) -> list[int]:
    """The positions of a fixed random subset of ``limit`` rows out of ``size`` (all when None)."""
    if limit is not None and limit <= 0:
        raise ConfigError(f"max samples must be positive or null, got {limit}")
    if limit is None or limit >= size:
        return list(range(size))
    return sorted(random.Random(seed).sample(range(size), limit))
