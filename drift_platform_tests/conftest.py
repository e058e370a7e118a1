"""Shared fixtures: the dataset spec and source, temp-folder resources, and servers on loopback.

Servers (Slack-compatible HTTP, PostgreSQL, S3-compatible) live in fixtures/ and are started by the fixtures
below; nothing is written into the working directory.
"""

from __future__ import annotations

import os

# Retries of transient faults wait 0.5 s, 1 s in the in-process tests instead of 5 s, 10 s (read when
# drift_platform.jobs is imported, so before any drift_platform import below).
os.environ.setdefault("DRIFT_RETRY_DELAY_SECONDS", "0.5")

from collections.abc import Iterator
from pathlib import Path

import dagster as dg  # noqa: E402
import pytest  # noqa: E402

from drift_platform.dataset import DatasetSpec
from drift_platform.resources import (
    Alerter,
    DatasetResource,
    LocalArtifactStore,
    WarehouseResource,
)
from drift_platform.resources.slack import SlackAlerter  # noqa: E402
from drift_platform.settings import DEFAULT_SOURCE_PATH, DEFAULT_SPEC_PATH
from drift_platform_tests.fixtures.slack import SlackRecorder, SlackServer

pytest_plugins = ["drift_platform_tests.fixtures.services"]


@pytest.fixture(scope="session")
def spec() -> DatasetSpec:
    return DatasetSpec.from_yaml(DEFAULT_SPEC_PATH)


@pytest.fixture(scope="session")
def source_frame():
    """The sample source as typed by the contract (all 731 days)."""
    import pandas as pd

    from drift_platform.source import load_window

    frame, _ = load_window(str(DEFAULT_SOURCE_PATH), DatasetSpec.from_yaml(DEFAULT_SPEC_PATH),
                           pd.Timestamp("2011-01-01"), pd.Timestamp("2013-01-01"))
    return frame


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture(scope="session")
def slack_server() -> Iterator[SlackRecorder]:
    with SlackServer() as recorder:
        yield recorder


@pytest.fixture
def slack(slack_server: SlackRecorder) -> SlackRecorder:
    slack_server.reset()
    return slack_server


def local_resources(root: Path, source: str | Path = DEFAULT_SOURCE_PATH, spec_path: str | Path = DEFAULT_SPEC_PATH,
                    alerts: Alerter | None = None, warehouse_url: str | None = None) -> dict:
    return {
        "dataset": DatasetResource(spec_path=str(spec_path), source_url=str(source)),
        "warehouse": WarehouseResource(url=warehouse_url or f"sqlite:///{root / 'warehouse.db'}"),
        "report_store": LocalArtifactStore(root=str(root / "reports")),
        "model_store": LocalArtifactStore(root=str(root / "models")),
        "alerts": alerts or Alerter(),
        "io_manager": dg.FilesystemIOManager(base_dir=str(root / "io")),
    }


def slack_alerter(recorder: SlackRecorder, **kwargs) -> SlackAlerter:
    from dagster_slack import SlackResource

    return SlackAlerter(slack=SlackResource(token="xoxb-test-token"), channel="#drift-tests",
                        base_url=recorder.base_url, **kwargs)


@pytest.fixture
def resources(tmp_path: Path) -> dict:
    return local_resources(tmp_path)
