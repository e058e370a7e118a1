"""Benchmarks of drift_platform side by side with the tools it stands on (Evidently's preset, psql's \\copy,
`import dagster`): `make bench`, or `python -m benchmarks --help`. Results: docs/benchmarks.md."""
