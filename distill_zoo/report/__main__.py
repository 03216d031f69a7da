"""``python -m distill_zoo.report DIR [DIR ...] [--baseline none] [--metric NAME] [--out PATH]
[--pareto-x latency|params] [--bootstrap N] [--wandb]``, or ``python -m distill_zoo.report
--from-summary summary.csv [--out PATH] [--pareto-x latency|params]`` to re-draw the figures:
see :mod:`distill_zoo.report.cli`."""

from distill_zoo.report.cli import main

raise SystemExit(main())
