"""The layers import one way: losses <- objectives <- training <- pipeline <- report."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "distill_zoo"
FORBIDDEN = {
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


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_point_one_way(layer):
    for path in sorted((PACKAGE / layer).glob("*.py")):
        bad = {n for n in imports(path) for f in FORBIDDEN[layer] if n == f or n.startswith(f + ".")}
        assert not bad, f"{path.name} imports {sorted(bad)}"
