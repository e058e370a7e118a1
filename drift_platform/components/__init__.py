"""The platform's Dagster components (the registry module `dg list components` reads)."""

from drift_platform.components.drift_monitor import DriftMonitor

__all__ = ["DriftMonitor"]
