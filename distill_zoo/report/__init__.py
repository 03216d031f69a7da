"""The statistical report of runs and sweeps: ``python -m distill_zoo.report DIR [DIR ...]``.

One row per (task, method configuration) over seeds, never merging runs that differ in
more than the seed and their provenance (a note names a commit, version or hardware that
differs; ``--strict`` refuses); each row's gain over its baseline with a t interval over
seeds that carries dev-example noise (:mod:`distill_zoo.report.bootstrap`); calibration, agreement and
loss diagnostics; failed jobs listed; ``summary.csv``, ``summary.md``, ``scores.png`` and
``pareto.png`` (re-drawn from a ``summary.csv`` alone with ``--from-summary``). Reads what
the pipeline writes; nothing in training imports it.
"""

from distill_zoo.report.baseline import compare_to_baseline
from distill_zoo.report.bootstrap import dev_variance, paired_ci, t_interval
from distill_zoo.report.build import Report, build_report, write_report
from distill_zoo.report.jobs import FailedJob, find_failed_jobs
from distill_zoo.report.metrics import score, weighted_scores
from distill_zoo.report.plots import pareto_figure, pareto_front, scores_figure
from distill_zoo.report.rows import Row, Run, build_rows
from distill_zoo.report.summary_csv import read_summary_csv, redraw_figures
from distill_zoo.report.tables import markdown, table_records, terminal_text

__all__ = [
    "FailedJob",
    "Report",
    "Row",
    "Run",
    "build_report",
    "build_rows",
    "compare_to_baseline",
    "dev_variance",
    "find_failed_jobs",
    "markdown",
    "paired_ci",
    "pareto_figure",
    "pareto_front",
    "read_summary_csv",
    "redraw_figures",
    "score",
    "scores_figure",
    "t_interval",
    "table_records",
    "terminal_text",
    "weighted_scores",
    "write_report",
]
