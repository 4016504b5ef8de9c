"""Benchmarks printed by `make bench` (python -m srtod.bench)."""
