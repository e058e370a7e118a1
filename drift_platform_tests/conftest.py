"""Shared fixtures: the bike-sharing monitor as tests build it, temp-folder resources, and servers on loopback.

The Slack-compatible HTTP server lives in fixtures/slack.py and is started by the fixtures below; PostgreSQL and
the S3-compatible server live in the `loopback` package (shared with the benchmarks) and are started by the
fixtures of fixtures/services.py. Nothing is written into the working directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform.core.settings import Monitor
from drift_platform.resources import Alerter, LocalObjectStore, ReportViewer, WarehouseResource
from drift_platform.resources.io_manager import FilesystemIOManager
from drift_platform.resources.slack import SlackAlerter
from drift_platform_tests.fixtures.slack import SlackRecorder, SlackServer

pytest_plugins = ["drift_platform_tests.fixtures.services"]

REPO = Path(__file__).resolve().parents[1]
BIKE_SPEC = REPO / "data" / "bike_sharing.yaml"
BIKE_SOURCE = REPO / "data" / "bike_sharing_day.csv"
GRID_SPEC = REPO / "data" / "grid_load.yaml"
GRID_SOURCE = REPO / "data" / "grid_load_hourly.csv"


def bike_monitor(source: str | Path = BIKE_SOURCE, spec: DatasetSpec | str | Path = BIKE_SPEC, **attributes) -> Monitor:
    """The shipped bike-sharing monitor's settings, as a test builds it; retries wait 0.5 s, 1 s (not 5, 10)."""
    if not isinstance(spec, DatasetSpec):
        spec = DatasetSpec.from_yaml(spec)
    defaults = {"name": "bike_sharing", "spec": spec, "source": str(source), "cadence": "weekly",
                "landing": {"pattern": "week*.csv", "min_age_seconds": 0}, "retry": {"delay_seconds": 0.5}}
    return Monitor.model_validate({**defaults, **attributes})


def grid_monitor(source: str | Path = GRID_SOURCE, **attributes) -> Monitor:
    defaults = {"name": "grid_load", "spec": DatasetSpec.from_yaml(GRID_SPEC), "source": str(source),
                "cadence": "daily", "retry": {"delay_seconds": 0.5}}
    return Monitor.model_validate({**defaults, **attributes})


@pytest.fixture(scope="session")
def spec() -> DatasetSpec:
    return DatasetSpec.from_yaml(BIKE_SPEC)


@pytest.fixture(scope="session")
def source_frame():
    """The sample source as typed by the contract (all 731 days)."""
    import pandas as pd

    from drift_platform.core.intake.source import load_window

    frame, _ = load_window(str(BIKE_SOURCE), DatasetSpec.from_yaml(BIKE_SPEC),
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


def local_resources(root: Path, alerts: Alerter | None = None, warehouse_url: str | None = None,
                    store=None, viewer: ReportViewer | None = None) -> dict:
    """The embedded default's resources on a temp folder (as drift_platform/resources/deployment.py makes them)."""
    return {
        "warehouse": WarehouseResource(url=warehouse_url or f"sqlite:///{root / 'warehouse.db'}"),
        "store": store or LocalObjectStore(root=str(root / "store")),
        "alerts": alerts or Alerter(),
        "viewer": viewer or ReportViewer(workspace_path=str(root / "evidently")),
        "io_manager": FilesystemIOManager(base_dir=str(root / "io")),
    }


def slack_alerter(recorder: SlackRecorder, **kwargs) -> SlackAlerter:
    from dagster_slack import SlackResource

    return SlackAlerter(slack=SlackResource(token="xoxb-test-token"), channel="#drift-tests",
                        base_url=recorder.base_url, **kwargs)


@pytest.fixture
def resources(tmp_path: Path) -> dict:
    return local_resources(tmp_path)
