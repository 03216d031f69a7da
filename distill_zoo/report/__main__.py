"""``python -m distill_zoo.report DIR [DIR ...] [--baseline none] [--metric NAME] [--out PATH]
[--pareto-x latency|params] [--bootstrap N] [--wandb]``: see :mod:`distill_zoo.report.cli`."""

from distill_zoo.report.cli import main

raise SystemExit(main())
