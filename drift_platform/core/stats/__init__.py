"""The drift statistics: per-column tests with Evidently's decisions (`drift.py`, `columns.py`), the reference's
cached statistics (`reference_stats.py`, `reference_cache.py`) and the multivariate domain classifier
(`multivariate.py`)."""
