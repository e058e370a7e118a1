"""drift_platform: data-drift monitoring and model retraining as Dagster software-defined assets.

`drift_platform.DriftMonitor` is the component each monitored dataset is an instance of, and this package is
the registry module `dg list components` reads. It is imported on first use, so that the pure modules (e.g.
drift_platform.core.stats.drift, drift_platform.core.ml.training) import without Dagster.
"""


def __getattr__(name: str):
    if name == "DriftMonitor":
        from drift_platform.lib.component import DriftMonitor

        return DriftMonitor
    raise AttributeError(f"module 'drift_platform' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "DriftMonitor"])
