"""``python -m distill_zoo.bench NAME [--size tiny|full]``: run one benchmark, print its JSON line."""

from __future__ import annotations

import argparse
import importlib

#: Benchmark name -> module under distill_zoo.bench (each has ``run(size) -> dict``).
BENCHMARKS = ("step", "capture", "cache", "latency", "ddp")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distill_zoo.bench", description=__doc__)
    parser.add_argument("name", choices=[*BENCHMARKS, "all"])
    parser.add_argument("--size", choices=("tiny", "full"), default="full")
    args = parser.parse_args(argv)
    for name in BENCHMARKS if args.name == "all" else (args.name,):
        importlib.import_module(f"distill_zoo.bench.{name}").run(args.size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
