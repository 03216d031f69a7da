"""The command line of ``python -m distill_zoo.report DIR [DIR ...]``: compare methods over
seeds, with baselines, CIs, diagnostics, failed jobs and plots; with ``--from-summary CSV``,
re-draw the figures of a report written earlier from its ``summary.csv`` alone."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from distill_zoo.errors import ConfigError, DataError
from distill_zoo.report.build import build_report, write_report
from distill_zoo.report.summary_csv import redraw_figures
from distill_zoo.report.tables import terminal_text


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m distill_zoo.report",
        description="Compare distillation methods over seeds: mean ± std, gain over a baseline with a paired "
        "bootstrap CI, diagnostics, failed jobs, plots.",
    )
    p.add_argument("dirs", nargs="*", metavar="DIR", help="run, sweep, chain or outputs folders")
    p.add_argument("--baseline", default="none", help="the method every row is compared with (default: none)")
    p.add_argument("--metric", default=None, help="the dev metric to compare (default: each task's main metric)")
    p.add_argument(
        "--out", default=None, help="where the files go (default: <first DIR>/report; --from-summary: the CSV's folder)"
    )
    p.add_argument(
        "--from-summary",
        default=None,
        metavar="CSV",
        help="instead of DIRs: re-draw scores.png and pareto.png from a summary.csv this command wrote; "
        "nothing is recomputed (means, deltas and intervals are the file's) and no summary file is written",
    )
    p.add_argument("--pareto-x", choices=("latency", "params"), default="latency", help="cost axis of pareto.png")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap replicates (0: no CI)")
    p.add_argument(
        "--wandb",
        action="store_true",
        help="also log the table and plots to one W&B run (under $WANDB_DIR, else the report folder)",
    )
    p.add_argument("--wandb-project", default="distill_zoo")
    p.add_argument(
        "--strict",
        action="store_true",
        help="refuse (exit 2, nothing written) to merge seeds or pair a delta's runs of different git commit, "
        "library versions or hardware (default: merge them with a note naming the difference)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the report; 0 when it was written, 1 when there was nothing to compare, 2 on bad input
    (a ``--strict`` refusal included)."""
    p = parser()
    args = p.parse_args(argv)
    if args.from_summary is not None:
        return _redraw(args, p)
    if not args.dirs:
        print("error: give the run folders (DIR ...) or --from-summary CSV", file=sys.stderr)
        return 2
    if args.bootstrap < 0:
        print("error: --bootstrap must be 0 or more", file=sys.stderr)
        return 2
    try:
        report = build_report(
            args.dirs, baseline=args.baseline, metric=args.metric, replicates=args.bootstrap, strict=args.strict
        )
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path(args.dirs[0]) / "report"
    paths = write_report(report, out, args.pareto_x)
    print(terminal_text(report))
    print("\nwrote " + ", ".join(str(p) for p in paths.values()))
    if args.wandb:
        from distill_zoo.report.wandb_log import log_report

        # An explicit folder: W&B keeps the first run's settings for the whole process otherwise.
        directory = os.environ.get("WANDB_DIR") or str(out)
        run_dir = log_report(
            report, {k: paths[k] for k in ("scores", "pareto")}, project=args.wandb_project, directory=directory
        )
        print(f"W&B run: {run_dir}")
    return 0 if report.rows else 1


def _redraw(args: argparse.Namespace, p: argparse.ArgumentParser) -> int:
    """``--from-summary``: the figures of the file's rows, into ``--out``; 0 when drawn,
    1 when the file holds no row, 2 on bad input."""
    # These make the numbers (or need the runs); a re-draw takes its numbers from the file.
    unused = [
        f"--{name.replace('_', '-')}"
        for name in ("baseline", "metric", "bootstrap", "strict", "wandb")
        if getattr(args, name) != p.get_default(name)
    ]
    if args.dirs or unused:
        given = ", ".join([*(["DIR"] if args.dirs else []), *unused])
        print(
            f"error: --from-summary re-draws the figures from the file's numbers; it takes no {given}", file=sys.stderr
        )
        return 2
    summary = Path(args.from_summary)
    if not summary.is_file():
        print(f"error: no such file: {summary}", file=sys.stderr)
        return 2
    try:
        rows, paths = redraw_figures(summary, Path(args.out) if args.out else summary.parent, args.pareto_x)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"re-drew the figures of {summary} ({len(rows)} rows) without recomputing anything: "
        "means, deltas and intervals are the file's"
    )
    print("wrote " + ", ".join(str(path) for path in paths.values()))
    return 0 if rows else 1
