"""notebooks/compare_methods.ipynb runs top to bottom on a sweep and shows the table and plots.

Point it at a real sweep with ``DISTILL_ZOO_SWEEP=/path/to/sweep``; by default the test
builds a synthetic one.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT
from tests.report.synthetic import simulated_sweep

NOTEBOOK = ROOT / "notebooks" / "compare_methods.ipynb"


def test_the_notebook_runs_on_a_synthetic_sweep(tmp_path, monkeypatch):
    sweep = str(tmp_path / "sweep")
    simulated_sweep(Path(sweep), {"none": 0.80, "kd": 0.86}, seeds=(1, 2), n=300)
    monkeypatch.setenv("DISTILL_ZOO_SWEEP", sweep)
    execute_and_check(Path(sweep))


@pytest.mark.slow
def test_the_notebook_runs_on_a_real_sweep(real_sweep, monkeypatch):
    monkeypatch.setenv("DISTILL_ZOO_SWEEP", str(real_sweep))
    execute_and_check(real_sweep)


def execute_and_check(sweep: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    first = next(c for c in notebook.cells if c.cell_type == "code").source
    assert all(knob in first for knob in ("SWEEP_DIR", "DISTILL_ZOO_SWEEP", "BASELINE", "METRIC"))
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    html = "\n".join(o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {}))
    for column in ("retention", "ci_low", "agreement", "student_ece"):
        assert f"<th>{column}</th>" in html
    assert "<td>kd</td>" in html and "<td>none</td>" in html  # its methods are rows of the table
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2
    assert (Path(sweep) / "report" / "summary.csv").is_file()
