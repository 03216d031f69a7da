"""``python -m distill_zoo.bench NAME [--size tiny|full]``: run one benchmark, print its JSON line.

``all`` runs :data:`BENCHMARKS`. :data:`OPTIONAL` ones need packages outside distill_zoo's
dependencies (``textbrewer``: ``pip install --no-deps textbrewer==0.2.1.post1 tensorboardX``),
so they run by name only; without their packages they stop with the install command.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from distill_zoo.errors import DistillZooError

#: Benchmark name -> module under distill_zoo.bench (each has ``run(size) -> dict``); ``all`` runs these.
BENCHMARKS = ("step", "capture", "cache", "grouping", "precision", "sweep", "latency", "ddp", "fsdp")
#: Benchmarks that need an optional package (the ``benchmark`` extra): never part of ``all``.
OPTIONAL = ("textbrewer",)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distill_zoo.bench", description=__doc__)
    parser.add_argument("name", choices=[*BENCHMARKS, *OPTIONAL, "all"])
    parser.add_argument("--size", choices=("tiny", "full"), default="full")
    args = parser.parse_args(argv)
    try:
        for name in BENCHMARKS if args.name == "all" else (args.name,):
            importlib.import_module(f"distill_zoo.bench.{name}").run(args.size)
    except DistillZooError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
