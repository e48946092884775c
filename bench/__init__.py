"""sipwarden benchmarks: `python -m bench NAME` runs bench/bench_NAME.py (see docs/benchmarks.md)."""
