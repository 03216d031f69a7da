"""Benchmarks: ``python -m distill_zoo.bench NAME [--size tiny|full]``, one JSON line each.

Every benchmark runs the variants it compares in one process, on the same models,
batches and steps, after warm-up, interleaved round by round, and prints medians and
their ratio (see :mod:`.harness`). ``--size tiny`` runs the same code on tiny random
models so CI keeps every benchmark working; the figures worth reading come from
``--size full`` and are collected in ``docs/benchmarks.md``.
"""
