"""`python -m bench NAME [ARGS...]`: run bench/bench_NAME.py; without NAME, list the benchmarks."""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

BENCH_DIR = Path(__file__).resolve().parent


def available() -> list[str]:
    """Names of the benchmarks: every bench/bench_NAME.py with a main(argv)."""
    return sorted(p.stem.removeprefix("bench_") for p in BENCH_DIR.glob("bench_*.py"))


def run(argv: Sequence[str]) -> int:
    """Run the benchmark named by argv[0] with the remaining arguments; return its exit status."""
    names = available()
    if not argv or argv[0] in {"-h", "--help"}:
        print("usage: python -m bench NAME [ARGS...]   (NAME --help for its options)")
        print("benchmarks: " + ", ".join(names))
        return 0 if argv else 2
    name = argv[0].removeprefix("bench_").removesuffix(".py")
    if name not in names:
        print(f"unknown benchmark {argv[0]!r}; available: {', '.join(names)}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"bench.bench_{name}")
    entry = cast(Callable[[Sequence[str]], int], module.main)
    return entry(list(argv[1:]))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.exit(run(sys.argv[1:]))
