"""GLUE tasks: text fields, label sets, metrics and their local TSV layouts."""

from __future__ import annotations

from dataclasses import dataclass, field

from distill_zoo.errors import ConfigError


@dataclass(frozen=True)
class TaskSpec:
    """How to read and score one sentence(-pair) classification or regression task.

    Attributes:
        name: option name (``data.task``).
        text_fields: one field, or two for sentence pairs.
        num_labels: classes, or 1 for regression.
        metrics: metric names (see :mod:`distill_zoo.training.metrics`).
        main_metric: the metric used for retention and model selection.
        label_names: string labels as they appear in GLUE's original TSVs, in id order;
            integer labels are accepted too.
        columns: header name(s) accepted for each field in a local TSV, first match wins.
        headerless: column positions for files without a header row, by their column count.
        hub: (path, config) for ``datasets.load_dataset``.
        dev_split: the hub split used as dev.
        dev_files: local dev file names, first existing wins.
        dev_name: what results on the dev split are called in reports (``dev``; MNLI's
            is ``dev_matched``, the in-genre half, which the papers' "MNLI-m" means).
    """

    name: str
    text_fields: tuple[str, ...]
    num_labels: int
    metrics: tuple[str, ...]
    main_metric: str
    columns: dict[str, tuple[str, ...]]
    label_names: tuple[str, ...] = ()
    headerless: dict[int, dict[str, int]] = field(default_factory=dict)
    hub: tuple[str, str] = ("nyu-mll/glue", "")
    dev_split: str = "validation"
    dev_files: tuple[str, ...] = ("dev.tsv",)
    dev_name: str = "dev"

    @property
    def is_regression(self) -> bool:
        return self.num_labels == 1


_PAIR: dict[str, tuple[str, ...]] = {"sentence1": ("sentence1",), "sentence2": ("sentence2",), "label": ("label",)}
_NLI = ("entailment", "not_entailment")

TASKS: dict[str, TaskSpec] = {
    "sst2": TaskSpec(
        "sst2",
        ("sentence",),
        2,
        ("acc",),
        "acc",
        columns={"sentence": ("sentence", "text"), "label": ("label",)},
        hub=("nyu-mll/glue", "sst2"),
    ),
    "cola": TaskSpec(
        "cola",
        ("sentence",),
        2,
        ("mcc", "acc"),
        "mcc",
        columns={"sentence": ("sentence", "text"), "label": ("label",)},
        headerless={4: {"label": 1, "sentence": 3}, 2: {"sentence": 0, "label": 1}},
        hub=("nyu-mll/glue", "cola"),
    ),
    "mrpc": TaskSpec(
        "mrpc",
        ("sentence1", "sentence2"),
        2,
        ("f1", "acc"),
        "f1",
        columns={
            "sentence1": ("#1 String", "sentence1"),
            "sentence2": ("#2 String", "sentence2"),
            "label": ("Quality", "label"),
        },
        hub=("nyu-mll/glue", "mrpc"),
    ),
    "stsb": TaskSpec(
        "stsb",
        ("sentence1", "sentence2"),
        1,
        ("pearson", "spearman"),
        "pearson",
        columns={"sentence1": ("sentence1",), "sentence2": ("sentence2",), "label": ("score", "label")},
        hub=("nyu-mll/glue", "stsb"),
    ),
    "rte": TaskSpec(
        "rte",
        ("sentence1", "sentence2"),
        2,
        ("acc",),
        "acc",
        columns=_PAIR,
        label_names=_NLI,
        hub=("nyu-mll/glue", "rte"),
    ),
    "qnli": TaskSpec(
        "qnli",
        ("sentence1", "sentence2"),
        2,
        ("acc",),
        "acc",
        columns={"sentence1": ("question", "sentence1"), "sentence2": ("sentence", "sentence2"), "label": ("label",)},
        label_names=_NLI,
        hub=("nyu-mll/glue", "qnli"),
    ),
    "mnli": TaskSpec(
        "mnli",
        ("sentence1", "sentence2"),
        3,
        ("acc",),
        "acc",
        columns={
            "sentence1": ("sentence1", "premise"),
            "sentence2": ("sentence2", "hypothesis"),
            "label": ("gold_label", "label"),
        },
        label_names=("entailment", "neutral", "contradiction"),
        hub=("nyu-mll/glue", "mnli"),
        dev_split="validation_matched",
        dev_files=("dev_matched.tsv", "dev.tsv"),
        dev_name="dev_matched",
    ),
    "qqp": TaskSpec(
        "qqp",
        ("sentence1", "sentence2"),
        2,
        ("f1", "acc"),
        "f1",
        columns={
            "sentence1": ("question1", "sentence1"),
            "sentence2": ("question2", "sentence2"),
            "label": ("is_duplicate", "label"),
        },
        hub=("nyu-mll/glue", "qqp"),
    ),
    "demo": TaskSpec(
        "demo",
        ("sentence",),
        2,
        ("acc",),
        "acc",
        columns={"sentence": ("sentence",), "label": ("label",)},
        hub=("", ""),
    ),
}

#: Hub field names for the pair tasks whose columns are named differently there.
HUB_FIELDS: dict[str, dict[str, str]] = {
    "qnli": {"question": "sentence1", "sentence": "sentence2"},
    "qqp": {"question1": "sentence1", "question2": "sentence2"},
    "mnli": {"premise": "sentence1", "hypothesis": "sentence2"},
}


def get_task(name: str) -> TaskSpec:
    """The :class:`TaskSpec` called ``name``."""
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; choose one of {sorted(TASKS)}")
    return TASKS[name]
