"""The Dagster wiring of one monitor: the `DriftMonitor` component (`component.py`) and what its `build_defs`
makes, each named after the monitor: `assets/`, `ops/`, `sensors/`, `checks.py`, `jobs.py` (with the
schedule), `partitions.py`. It imports `drift_platform.core` and `drift_platform.resources`; nothing imports it
but `drift_platform/__init__.py` (the component type) and the defs folder.
"""
