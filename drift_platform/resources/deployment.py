"""The deployment's settings: which warehouse, object store, alerts and UI every monitor shares.

Read from the environment once, by `DeploymentSettings.from_env`, where the Definitions are built
(drift_platform/definitions.py). The one other variable the package reads is DRIFT_CODE_VERSION: `code_version`
(drift_platform/core/ml/model_registry.py) reads it when a model is trained, to record the code in the model's
manifest (the image's tag; unset, the package version and git commit). With no variable set, everything is
embedded (SQLite warehouse, local folders, alerts in the log, files under `$DAGSTER_HOME/drift_data`).
Values that may carry credentials (the warehouse URL, S3 keys, the Slack token) reach resources as `dg.EnvVar`:
resolved when a run or a tick starts, never shown in the UI. What belongs to one monitor is not here: it is
in the monitor's defs.yaml (which may read a variable too, `{{ env.X }}`, when Dagster loads it: the shipped
monitors' source URLs).

| variable                      | default                               | production example                        |
|-------------------------------|---------------------------------------|-------------------------------------------|
| DRIFT_WAREHOUSE_URL           | sqlite:///<data dir>/warehouse.db     | postgresql+psycopg2://user:pw@db/drift    |
| DRIFT_WAREHOUSE_SCHEMA        | (default schema)                      | drift                                     |
| DRIFT_STORE_URL               | <data dir>/store                      | s3://ml-artifacts/drift                   |
| DRIFT_S3_ENDPOINT_URL         | (AWS)                                 | http://minio:9000                         |
| AWS_ACCESS_KEY_ID / _SECRET_  | (boto3's chain)                       | from the env file                         |
| AWS_REGION                    | (boto3's chain)                       | eu-central-1                              |
| DRIFT_S3_PUBLIC_URL           | (links are presigned for 7 days)      | https://reports.example.com               |
| SLACK_BOT_TOKEN               | (unset: alerts are logged)            | xoxb-...                                  |
| DRIFT_SLACK_CHANNEL           | #ml-alerts                            | #ml-alerts (a monitor may name its own)   |
| DRIFT_SLACK_BASE_URL          | https://slack.com/api/                | a Slack-compatible gateway                |
| DRIFT_UI_URL                  | http://localhost:3000                 | https://dagster.example.com               |
| DRIFT_EVIDENTLY_UI_URL        | http://127.0.0.1:8000                 | https://evidently.example.com (links)     |
| DRIFT_EVIDENTLY_API_URL       | (a local workspace, <data dir>/evidently) | http://evidently_ui:8000              |
| DRIFT_EVIDENTLY_SECRET        | (none)                                | the UI's write secret                     |
| DRIFT_DATA_DIR                | $DAGSTER_HOME/drift_data              | -                                         |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

REPO_ROOT = Path(__file__).resolve().parents[2]

# Variables of the single-dataset versions, now attributes of each monitor's defs.yaml (or DRIFT_STORE_URL).
# A deployment that still sets one is stopped with the way forward rather than silently ignored.
RETIRED_VARIABLES = {
    "DRIFT_DATASET_SPEC": "`spec:` in each monitor's defs.yaml",
    "DRIFT_SCHEDULE_TIMEZONE": "`timezone:` in each monitor's defs.yaml",
    "DRIFT_SENSOR_INTERVAL_SECONDS": "`sensor_interval_seconds:` in each monitor's defs.yaml",
    "DRIFT_RETRY_DELAY_SECONDS": "`retry: {delay_seconds: ...}` in each monitor's defs.yaml",
    "DRIFT_RETRAIN_ON_QUALITY": "`retrain_on: [no_dataset_drift]` in a monitor's defs.yaml",
    "DRIFT_LANDING_PATTERN": "`landing: {pattern: ...}` in each monitor's defs.yaml",
    "DRIFT_LANDING_MIN_AGE_SECONDS": "`landing: {min_age_seconds: ...}` in each monitor's defs.yaml",
    "DRIFT_LANDING_DIR": "DRIFT_STORE_URL (files land in <store>/<monitor>/landing/)",
    "DRIFT_MODEL_STORE": "DRIFT_STORE_URL (models are kept in <store>/<monitor>/models/)",
    "DRIFT_REPORT_STORE": "DRIFT_STORE_URL (reports are kept in <store>/<monitor>/drift_reports/)",
    "DRIFT_IO_STORE": "DRIFT_STORE_URL (the IO manager keeps its files in <store>/io/)",
}


class SettingsError(ValueError):
    """The deployment's environment is inconsistent."""


def split_s3_url(url: str) -> tuple[str, str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise SettingsError(f"{url!r} names no bucket; expected s3://bucket/prefix")
    return bucket, prefix.strip("/")


@dataclass(frozen=True)
class DeploymentSettings:
    """The environment of one deployment, as the resources need it."""

    env: Mapping[str, str]

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> DeploymentSettings:
        retired = [f"{name} is no longer read: use {instead}" for name, instead in RETIRED_VARIABLES.items()
                   if env.get(name)]
        if retired:
            raise SettingsError("; ".join(retired))
        return cls(env=dict(env))

    def _set(self, name: str) -> bool:
        return bool(self.env.get(name))

    def _value(self, name: str, default: str) -> Any:
        """EnvVar(name) when the variable is set (resolved at run time, hidden in the UI), else the default."""
        return dg.EnvVar(name) if self._set(name) else default

    @property
    def data_dir(self) -> Path:
        """Root of the embedded default's files: DRIFT_DATA_DIR, else $DAGSTER_HOME/drift_data, else
        .dagster_home/drift_data in the repo."""
        if self._set("DRIFT_DATA_DIR"):
            return Path(self.env["DRIFT_DATA_DIR"])
        home = Path(self.env["DAGSTER_HOME"]) if self._set("DAGSTER_HOME") else REPO_ROOT / ".dagster_home"
        return home / "drift_data"

    @property
    def store_url(self) -> str:
        return self.env.get("DRIFT_STORE_URL") or str(self.data_dir / "store")

    def s3_settings(self) -> dict[str, Any]:
        """The S3 connection (endpoint, region, keys), as EnvVars of the variables that are set."""
        names = {"s3_endpoint_url": "DRIFT_S3_ENDPOINT_URL", "aws_region": "AWS_REGION",
                 "aws_access_key_id": "AWS_ACCESS_KEY_ID", "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY"}
        return {field: dg.EnvVar(name) for field, name in names.items() if self._set(name)}

    def warehouse(self):
        from drift_platform.resources import WarehouseResource

        return WarehouseResource(
            url=self._value("DRIFT_WAREHOUSE_URL", f"sqlite:///{self.data_dir / 'warehouse.db'}"),
            db_schema=self.env.get("DRIFT_WAREHOUSE_SCHEMA") or None,
        )

    def store(self):
        from drift_platform.resources import LocalObjectStore, S3ObjectStore

        if self.store_url.startswith("s3://"):
            bucket, prefix = split_s3_url(self.store_url)
            return S3ObjectStore(bucket=bucket, prefix=prefix, public_url=self.env.get("DRIFT_S3_PUBLIC_URL") or None,
                                 **self.s3_settings())
        return LocalObjectStore(root=self.store_url, **self.s3_settings())

    def io_manager(self):
        """Dagster's IO manager, beside the store: `<store>/io`. On S3 this imports dagster_aws (~3 s)."""
        from drift_platform.resources.io_manager import FilesystemIOManager, s3_io_manager

        if not self.store_url.startswith("s3://"):
            return FilesystemIOManager(base_dir=str(Path(self.store_url) / "io"))
        from dagster_aws.s3 import S3Resource

        bucket, prefix = split_s3_url(self.store_url)
        settings = {{"s3_endpoint_url": "endpoint_url", "aws_region": "region_name"}.get(k, k): v
                    for k, v in self.s3_settings().items()}
        return s3_io_manager(s3_resource=S3Resource(**settings), s3_bucket=bucket,
                                    s3_prefix="/".join(p for p in (prefix, "io") if p))

    def alerts(self):
        from drift_platform.resources import Alerter

        ui_url = self._value("DRIFT_UI_URL", "http://localhost:3000")
        if not self._set("SLACK_BOT_TOKEN"):
            return Alerter(dagster_ui_url=ui_url)
        from dagster_slack import SlackResource

        from drift_platform.resources.slack import SlackAlerter

        return SlackAlerter(
            slack=SlackResource(token=dg.EnvVar("SLACK_BOT_TOKEN")),
            channel=self.env.get("DRIFT_SLACK_CHANNEL") or "#ml-alerts",
            base_url=self.env.get("DRIFT_SLACK_BASE_URL") or None,
            dagster_ui_url=ui_url,
        )

    def viewer(self):
        """Evidently's UI: a local workspace under the data dir (what `make dev` serves), or a running
        `evidently ui` reached over HTTP with its write secret."""
        from drift_platform.resources.viewer import ReportViewer

        ui_url = self.env.get("DRIFT_EVIDENTLY_UI_URL") or "http://127.0.0.1:8000"
        if self._set("DRIFT_EVIDENTLY_API_URL"):
            secret = {"secret": dg.EnvVar("DRIFT_EVIDENTLY_SECRET")} if self._set("DRIFT_EVIDENTLY_SECRET") else {}
            return ReportViewer(ui_url=ui_url, api_url=self.env["DRIFT_EVIDENTLY_API_URL"], **secret)
        return ReportViewer(ui_url=ui_url, workspace_path=str(self.data_dir / "evidently"))

    def resources(self) -> dict[str, Any]:
        """The resources every monitor shares, by the keys its assets, checks and sensors ask for."""
        return {"warehouse": self.warehouse(), "store": self.store(), "alerts": self.alerts(),
                "viewer": self.viewer(), "io_manager": self.io_manager()}
