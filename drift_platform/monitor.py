"""A monitor: one dataset and one model watched by the platform, and every setting that belongs to it.

`Monitor` is plain pydantic, no Dagster: the attributes of the `DriftMonitor` component (one `defs.yaml` per
monitor, drift_platform/components/) are these fields, and the assets, checks, jobs, schedule and sensors that
`DriftMonitor.build_defs` makes read their settings from it. The settings of each step are the models of the
pure modules (`DriftSettings` in drift.py, `TrainingSettings`, `GateSettings`, `QualitySettings` in
training.py): defined once, used by the logic, the YAML and, as the defaults of each step's run config, the
Launchpad.

The names of everything a monitor owns derive from its name here, so that two monitors never share a table,
a store folder, a job or a sensor.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from drift_platform.constants import NO_DATASET_DRIFT_CHECK, NO_MODEL_DEGRADATION_CHECK, OWNERS
from drift_platform.dataset import DatasetSpec
from drift_platform.step_settings import (
    DriftSettings,
    GateSettings,
    MultivariateSettings,
    QualitySettings,
    TrainingSettings,
)

Cadence = Literal["weekly", "daily"]
CADENCES: tuple[str, ...] = ("weekly", "daily")
ActionableCheck = Literal["no_dataset_drift", "no_model_degradation", "no_multivariate_drift"]
# A monitor's name prefixes its tables (`<name>_predictions`: at most 63 characters in PostgreSQL).
MAX_NAME_LENGTH = 40
_NAME = re.compile(rf"^[a-z][a-z0-9_]{{0,{MAX_NAME_LENGTH - 1}}}$")


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScheduleSettings(_Settings):
    """When the drift job runs for the period that just ended (the monitor's timezone)."""

    hour: int = Field(default=11, description="Hour of the run, 0-23 (weekly: on Mondays)")
    minute: int = Field(default=0, description="Minute of the run, 0-59")
    running: bool = Field(default=True, description="Whether the schedule starts running (else: stopped until turned on)")


class LandingSettings(_Settings):
    """Batch files dropped into the monitor's landing folder of the object store become runs."""

    folder: str = Field(default="landing", description="Folder under the monitor's store folder (<store>/<monitor>/<folder>)")
    pattern: str = Field(default="*.csv", description="Glob on file names; other files are left alone")
    min_age_seconds: float = Field(default=10.0, description="A file is taken once unchanged this long")
    running: bool = Field(default=True, description="Whether the landing sensor starts running")


class RetrySettings(_Settings):
    """Transient faults (warehouse restarting, S3 or the source unreachable) are retried with backoff."""

    max_retries: int = Field(default=2, description="Retries of a failed step")
    delay_seconds: float = Field(default=5.0, description="First delay; doubled at each retry")


class Monitor(_Settings):
    """One monitored dataset and model."""

    name: str | None = Field(
        default=None, description="Prefix of every asset key, job, table and store folder (default: the folder name)"
    )
    description: str = Field(default="", description="Shown in the UI")
    spec: DatasetSpec = Field(description="The dataset spec: a YAML path relative to defs.yaml, or the mapping inline")
    source: str = Field(description="Where the periods' rows come from: http(s) URL, s3:// URL, file:// URL or path")
    cadence: Cadence = Field(default="weekly", description="Partitions: weekly (Monday weeks) or daily")
    timezone: str = Field(default="UTC", description="Timezone of the partitions and the schedule")
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    multivariate: MultivariateSettings = Field(default_factory=MultivariateSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    gate: GateSettings = Field(default_factory=GateSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    retrain_on: list[ActionableCheck] = Field(
        default_factory=lambda: [NO_DATASET_DRIFT_CHECK, NO_MODEL_DEGRADATION_CHECK],
        description="Checks whose failures retrain the model and alert (others are recorded only); "
        "no_multivariate_drift is left out by default (WARN, acted on only when listed here)",
    )
    slack_channel: str | None = Field(default=None, description="Channel of this monitor's alerts (None: the deployment's)")
    landing: LandingSettings = Field(default_factory=LandingSettings)
    sensor_interval_seconds: int = Field(default=30, description="Least seconds between two ticks of its sensors")
    retry: RetrySettings = Field(default_factory=RetrySettings)
    backfill_periods_per_run: int | None = Field(
        default=None, description="Most periods per run of an asset backfill (None: 13 weekly, 31 daily); "
        "the drift job's own backfill is one run per period",
    )
    owners: list[str] = Field(default_factory=lambda: list(OWNERS), description="Owners of its assets in the UI")

    def problems(self) -> list[str]:
        """What makes this monitor unusable, one line per attribute (empty: none). Checked when it loads."""
        found = []
        if self.name is None or not _NAME.fullmatch(self.name):
            found.append(
                f"name: {self.name!r} must be lower-case letters, digits and underscores, starting with a letter, "
                f"at most {MAX_NAME_LENGTH} characters (it prefixes tables, jobs and asset keys)"
            )
        if self.cadence == "weekly" and self.spec.first_period.weekday() != 0:
            found.append(f"spec.first_period: {self.spec.first_period} must be a Monday for a weekly monitor")
        bounds = [("schedule.hour", self.schedule.hour, 0, 23), ("schedule.minute", self.schedule.minute, 0, 59),
                  ("landing.min_age_seconds", self.landing.min_age_seconds, 0, None),
                  ("retry.max_retries", self.retry.max_retries, 0, None),
                  ("retry.delay_seconds", self.retry.delay_seconds, 0, None),
                  ("sensor_interval_seconds", self.sensor_interval_seconds, 1, None)]
        if self.backfill_periods_per_run is not None:
            bounds.append(("backfill_periods_per_run", self.backfill_periods_per_run, 1, None))
        found += [f"{key}: {value} is outside [{low}, {high if high is not None else 'inf'}]"
                  for key, value, low, high in bounds if value < low or (high is not None and value > high)]
        problem = timezone_problem(self.timezone)
        if problem:
            found.append(f"timezone: {problem}")
        if "/" in self.landing.folder.strip("/") or self.landing.folder.strip("/") in ("", ".", "..", *STORE_FOLDERS):
            found.append(f"landing.folder: {self.landing.folder!r} must be one folder name, not one of {list(STORE_FOLDERS)}")
        return found

    # --- names of what the monitor owns -----------------------------------------------------------------------
    def table(self, kind: str) -> str:
        """Its warehouse table of a kind: reference, history or predictions."""
        return f"{self.name}_{kind}"

    def job_name(self, purpose: str) -> str:
        return f"{self.name}_{purpose}"

    @property
    def periods_per_backfill_run(self) -> int:
        """`backfill_periods_per_run`, or the cadence's default: a quarter of weeks, a month of days."""
        return self.backfill_periods_per_run or {"weekly": 13, "daily": 31}[self.cadence]

    @property
    def period_label(self) -> str:
        return {"weekly": "week", "daily": "day"}[self.cadence]


# The folders of a monitor's part of the object store, beside its landing folder.
STORE_FOLDERS = ("models", "drift_reports", "drift_trend")


def timezone_problem(name: str) -> str | None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{name!r} is not a known IANA timezone (e.g. UTC, Europe/Berlin)"
    return None
