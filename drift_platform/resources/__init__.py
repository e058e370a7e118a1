"""Resources by environment. Each outside system is chosen by its own variable; with none set, everything is
embedded (SQLite warehouse, local folders, alerts in the log). Values that may carry credentials are passed as
`dg.EnvVar`, resolved at run time and never shown in the UI.

| variable                      | default                               | production example                        |
|-------------------------------|---------------------------------------|-------------------------------------------|
| DRIFT_DATASET_SPEC            | data/bike_sharing.yaml                | /opt/specs/my_dataset.yaml                |
| DRIFT_SOURCE_URL              | data/bike_sharing_day.csv             | https://example.com/export/day.csv        |
| DRIFT_WAREHOUSE_URL           | sqlite:///<data dir>/warehouse.db     | postgresql+psycopg2://user:pw@db/drift    |
| DRIFT_WAREHOUSE_SCHEMA        | (default schema)                      | drift                                     |
| DRIFT_MODEL_STORE             | <data dir>/models                     | s3://ml-artifacts/drift/models            |
| DRIFT_REPORT_STORE            | <data dir>/reports                    | s3://ml-artifacts/drift/reports           |
| DRIFT_IO_STORE                | <data dir>/io                         | s3://ml-artifacts/drift/io                |
| DRIFT_S3_ENDPOINT_URL         | (AWS)                                 | http://minio:9000                         |
| AWS_ACCESS_KEY_ID / _SECRET_  | (boto3's chain)                       | from the env file                         |
| SLACK_BOT_TOKEN               | (unset: alerts are logged)            | xoxb-...                                  |
| DRIFT_SLACK_CHANNEL           | #ml-alerts                            | #bike-model                               |
| DRIFT_SLACK_BASE_URL          | https://slack.com/api/                | a Slack-compatible gateway                |
| DRIFT_UI_URL                  | http://localhost:3000                 | https://dagster.example.com               |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import dagster as dg

from drift_platform.resources.alerts import Alerter
from drift_platform.resources.dataset import DatasetResource
from drift_platform.resources.stores import ArtifactStore, LocalArtifactStore
from drift_platform.resources.warehouse import WarehouseResource
from drift_platform.settings import DEFAULT_SOURCE_PATH, data_dir, spec_path

__all__ = [
    "Alerter", "ArtifactStore", "DatasetResource", "LocalArtifactStore", "WarehouseResource",
    "build_resources",
]  # fmt: skip


def _value(env: Mapping[str, str], name: str, default: str) -> Any:
    """EnvVar(name) when the variable is set (resolved at run time, hidden in the UI), else the default."""
    return dg.EnvVar(name) if env.get(name) else default


def _s3_resource(env: Mapping[str, str]):
    from dagster_aws.s3 import S3Resource

    kwargs: dict[str, Any] = {}
    for field, name in (
        ("endpoint_url", "DRIFT_S3_ENDPOINT_URL"),
        ("region_name", "AWS_REGION"),
        ("aws_access_key_id", "AWS_ACCESS_KEY_ID"),
        ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"),
    ):
        if env.get(name):
            kwargs[field] = dg.EnvVar(name)
    return S3Resource(**kwargs)


def _split_s3(url: str) -> tuple[str, str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise ValueError(f"{url!r} names no bucket; expected s3://bucket/prefix")
    return bucket, prefix.strip("/")


def _store(env: Mapping[str, str], name: str, default_dir: str) -> ArtifactStore:
    where = env.get(name, "")
    if where.startswith("s3://"):
        from drift_platform.resources.s3_store import S3ArtifactStore

        bucket, prefix = _split_s3(where)
        return S3ArtifactStore(
            s3=_s3_resource(env), bucket=bucket, prefix=prefix, public_url=env.get("DRIFT_S3_PUBLIC_URL") or None
        )
    return LocalArtifactStore(root=where or default_dir)


def _io_manager(env: Mapping[str, str], default_dir: str):
    where = env.get("DRIFT_IO_STORE", "")
    if where.startswith("s3://"):
        from dagster_aws.s3 import S3PickleIOManager

        bucket, prefix = _split_s3(where)
        return S3PickleIOManager(s3_resource=_s3_resource(env), s3_bucket=bucket, s3_prefix=prefix or "dagster-io")
    return dg.FilesystemIOManager(base_dir=where or default_dir)


def _alerter(env: Mapping[str, str]) -> Alerter:
    ui_url = _value(env, "DRIFT_UI_URL", "http://localhost:3000")
    if not env.get("SLACK_BOT_TOKEN"):
        return Alerter(dagster_ui_url=ui_url)
    from dagster_slack import SlackResource

    from drift_platform.resources.slack import SlackAlerter

    return SlackAlerter(
        slack=SlackResource(token=dg.EnvVar("SLACK_BOT_TOKEN")),
        channel=env.get("DRIFT_SLACK_CHANNEL") or "#ml-alerts",
        base_url=env.get("DRIFT_SLACK_BASE_URL") or None,
        dagster_ui_url=ui_url,
    )


def build_resources(env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The resources of this deployment, from its environment variables."""
    root = data_dir(env)
    return {
        "dataset": DatasetResource(
            spec_path=str(spec_path(env)), source_url=_value(env, "DRIFT_SOURCE_URL", str(DEFAULT_SOURCE_PATH))
        ),
        "warehouse": WarehouseResource(
            url=_value(env, "DRIFT_WAREHOUSE_URL", f"sqlite:///{root / 'warehouse.db'}"),
            db_schema=env.get("DRIFT_WAREHOUSE_SCHEMA") or None,
        ),
        "report_store": _store(env, "DRIFT_REPORT_STORE", str(root / "reports")),
        "model_store": _store(env, "DRIFT_MODEL_STORE", str(root / "models")),
        "alerts": _alerter(env),
        "io_manager": _io_manager(env, str(root / "io")),
    }
