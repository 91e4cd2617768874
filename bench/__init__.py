"""Benchmarks of ingestion: `make bench` (or `python -m bench`); see bench/README.md."""
