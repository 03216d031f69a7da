"""The layers import one way: losses <- objectives <- training <- pipeline <- report, with
data and models (and features, errors) as the base that training and pipeline build on."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "distill_zoo"
_ABOVE_DATA_AND_MODELS = (
    "distill_zoo.objectives",
    "distill_zoo.training",
    "distill_zoo.pipeline",
    "distill_zoo.report",
    "distill_zoo.losses",
    "hydra",
    "omegaconf",
)
FORBIDDEN = {
    # Data reads files and serves batches; it may use a model only to augment text (TinyBERT).
    "data": _ABOVE_DATA_AND_MODELS,
    # Models build and wrap transformers; they know nothing of data, objectives or runs.
    "models": (*_ABOVE_DATA_AND_MODELS, "distill_zoo.data"),
    "losses": (
        "distill_zoo.objectives",
        "distill_zoo.models",
        "distill_zoo.training",
        "distill_zoo.pipeline",
        "distill_zoo.data",
        "distill_zoo.report",
        "lightning",
        "transformers",
        "hydra",
        "omegaconf",
    ),
    "objectives": (
        "distill_zoo.models",
        "distill_zoo.training",
        "distill_zoo.pipeline",
        "distill_zoo.data",
        "distill_zoo.report",
        "lightning",
        "transformers",
        "hydra",
        "omegaconf",
    ),
    "training": ("distill_zoo.pipeline", "distill_zoo.report", "hydra", "omegaconf"),
    "pipeline": ("distill_zoo.report",),
    # Benchmarks time the layers below them; nothing imports them.
    "bench": ("distill_zoo.report", "distill_zoo.pipeline"),
    # Export reads a finished run (record, saved config, student) and scores its artefact with the
    # eval stage's functions and the one logits-to-predictions rule (training.metrics); it never
    # trains, builds objectives or runs stages.
    "export": (
        "distill_zoo.objectives",
        "distill_zoo.losses",
        "distill_zoo.report",
        "distill_zoo.training.module",
        "distill_zoo.training.phases",
        "distill_zoo.training.progressive",
        "distill_zoo.training.checkpoints",
        "distill_zoo.pipeline.stages",
        "distill_zoo.pipeline.context",
        "distill_zoo.pipeline.distill_stage",
        "distill_zoo.pipeline.teacher_stage",
        "distill_zoo.pipeline.chain",
        "distill_zoo.pipeline.job",
        "lightning",
    ),
    # The report reads finished runs: records and predictions, never models or training.
    "report": (
        "distill_zoo.training",
        "distill_zoo.objectives",
        "distill_zoo.models",
        "distill_zoo.pipeline.stages",
        "distill_zoo.pipeline.context",
        "lightning",
        "transformers",
    ),
}


def imports(path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_every_layer_has_rules():
    layers = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert layers == set(FORBIDDEN), "a new package folder needs its import rules here"


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_point_one_way(layer):
    for path in sorted((PACKAGE / layer).glob("*.py")):
        bad = {n for n in imports(path) for f in FORBIDDEN[layer] if n == f or n.startswith(f + ".")}
        assert not bad, f"{path.name} imports {sorted(bad)}"
