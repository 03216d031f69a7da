"""``python -m distill_zoo.export RUN_DIR --format hf|onnx|int8 [--out DIR] [--push-to-hub REPO]``:
see :mod:`distill_zoo.export.cli`."""

from distill_zoo.export.cli import main

raise SystemExit(main())
