"""Performance scenarios of ../shared/PERF.md: `python -m bench.run` (see bench/README.md)."""
