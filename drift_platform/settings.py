"""Where things are, from environment variables, with defaults that need no variable at all.

Only non-secret, load-time settings are read here (paths, the dataset spec, the schedule's timezone).
Secrets and URLs that may carry credentials reach resources as `dg.EnvVar`, read at run time (resources/).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from drift_platform.dataset import DatasetSpec

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SPEC_PATH = REPO_ROOT / "data" / "bike_sharing.yaml"
DEFAULT_SOURCE_PATH = REPO_ROOT / "data" / "bike_sharing_day.csv"


def data_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Root of the embedded default's files (warehouse, reports, models, IO): DRIFT_DATA_DIR, else
    $DAGSTER_HOME/drift_data, else .dagster_home/drift_data in the repo."""
    if env.get("DRIFT_DATA_DIR"):
        return Path(env["DRIFT_DATA_DIR"])
    home = Path(env["DAGSTER_HOME"]) if env.get("DAGSTER_HOME") else REPO_ROOT / ".dagster_home"
    return home / "drift_data"


def spec_path(env: Mapping[str, str] = os.environ) -> Path:
    return Path(env.get("DRIFT_DATASET_SPEC") or DEFAULT_SPEC_PATH)


@lru_cache(maxsize=8)
def _load_spec(path: str) -> DatasetSpec:
    return DatasetSpec.from_yaml(path)


def load_spec(env: Mapping[str, str] = os.environ) -> DatasetSpec:
    return _load_spec(str(spec_path(env)))


def schedule_timezone(env: Mapping[str, str] = os.environ) -> str:
    return env.get("DRIFT_SCHEDULE_TIMEZONE") or "UTC"



def sensor_interval_seconds(env: Mapping[str, str] = os.environ) -> int:
    """Minimum seconds between two ticks of retrain_on_drift_sensor (DRIFT_SENSOR_INTERVAL_SECONDS, default 30)."""
    return int(env.get("DRIFT_SENSOR_INTERVAL_SECONDS") or 30)


def retry_delay_seconds(env: Mapping[str, str] = os.environ) -> float:
    """First delay of the jobs' retry policy (DRIFT_RETRY_DELAY_SECONDS, default 5; doubled at each retry)."""
    return float(env.get("DRIFT_RETRY_DELAY_SECONDS") or 5)
