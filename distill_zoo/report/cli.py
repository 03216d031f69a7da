"""The command line of ``python -m distill_zoo.report DIR [DIR ...]``: compare methods over
seeds, with baselines, CIs, diagnostics, failed jobs and plots."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from distill_zoo.errors import ConfigError
from distill_zoo.report.build import build_report, write_report
from distill_zoo.report.tables import terminal_text


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m distill_zoo.report",
        description="Compare distillation methods over seeds: mean ± std, gain over a baseline with a paired "
        "bootstrap CI, diagnostics, failed jobs, plots.",
    )
    p.add_argument("dirs", nargs="+", metavar="DIR", help="run, sweep, chain or outputs folders")
    p.add_argument("--baseline", default="none", help="the method every row is compared with (default: none)")
    p.add_argument("--metric", default=None, help="the dev metric to compare (default: each task's main metric)")
    p.add_argument("--out", default=None, help="where the files go (default: <first DIR>/report)")
    p.add_argument("--pareto-x", choices=("latency", "params"), default="latency", help="cost axis of pareto.png")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap replicates (0: no CI)")
    p.add_argument(
        "--wandb",
        action="store_true",
        help="also log the table and plots to one W&B run (under $WANDB_DIR, else the report folder)",
    )
    p.add_argument("--wandb-project", default="distill_zoo")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the report; 0 when it was written, 1 when there was nothing to compare, 2 on bad input."""
    args = parser().parse_args(argv)
    if args.bootstrap < 0:
        print("error: --bootstrap must be 0 or more", file=sys.stderr)
        return 2
    try:
        report = build_report(args.dirs, baseline=args.baseline, metric=args.metric, replicates=args.bootstrap)
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
