"""Evidently's UI as the report viewer: every drift report a run of its monitor's project (created once, found
by name), one run per period, a dashboard made by code, links from the metadata and Slack; and a viewer that is
down, slow or refusing never holds the pipeline back."""

from __future__ import annotations

import urllib.request

import dagster as dg
import pytest

from drift_platform.resources import ReportViewer
from drift_platform_tests.conftest import grid_monitor, local_resources, slack_alerter
from drift_platform_tests.fixtures.evidently_ui import EvidentlyUI
from drift_platform_tests.fixtures.slack import SlackRecorder
from drift_platform_tests.helpers import Platform

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
SECRET = "viewer-write-secret-1c9e"


def report_meta(result, platform: Platform) -> dict:
    [materialization] = result.asset_materializations_for_node(platform.op("drift_report"))
    return {k: v.value for k, v in materialization.metadata.items()}


def test_each_report_is_a_run_of_the_monitors_project_once_per_period(tmp_path, instance) -> None:
    platform = Platform(local_resources(tmp_path), instance)
    first = report_meta(platform.run_week("2011-07-04", run_config=QUIET), platform)
    assert first["viewer_push"] == "ok"
    platform.run_week("2011-07-11", run_config=QUIET)
    again = report_meta(platform.run_week("2011-07-04", run_config=QUIET), platform)  # a re-run of the week
    with EvidentlyUI(tmp_path / "evidently") as ui:  # the real UI over the workspace the runs wrote
        [project] = [p for p in ui.projects() if p["name"] == "bike_sharing"]
        runs = ui.runs(project["id"])
        assert sorted(r["metadata"]["period"] for r in runs) == ["2011-07-04", "2011-07-11"]  # the newer kept
        assert again["evidently_run_id"] in {r["id"] for r in runs} and first["evidently_run_id"] not in {
            r["id"] for r in runs}
        assert again["report_url"] == f"http://127.0.0.1:8000/projects/{project['id']}/reports/{again['evidently_run_id']}"
        [run] = [r for r in runs if r["id"] == again["evidently_run_id"]]
        assert run["timestamp"].startswith("2011-07-04T00:00") and run["name"] == "week 2011-07-04"
        page = ui.url + again["report_url"].removeprefix("http://127.0.0.1:8000")
        with urllib.request.urlopen(page, timeout=10) as response:
            assert response.status == 200 and b"<html" in response.read().lower()


def test_the_dashboard_is_made_by_code_once(tmp_path) -> None:
    from evidently.ui.workspace import Workspace

    from drift_platform.core.evidently_workspace import dashboard, ensure_dashboard, find_or_create_project

    workspace = Workspace.create(str(tmp_path / "ws"))
    project = find_or_create_project(workspace, "grid_load", "hourly load")
    assert find_or_create_project(workspace, "grid_load") == project  # found again by name, never a duplicate
    columns = grid_monitor().spec.monitored_columns
    assert ensure_dashboard(workspace, project, dashboard(columns, 0.5)) is True
    assert ensure_dashboard(workspace, project, dashboard(columns, 0.5)) is False  # unchanged: not saved again
    panels = workspace.get_dashboard(project).panels
    assert [p.title for p in panels] == [
        "Dataset drift share (the dataset drifts at 0.50)", "Drifted columns",
        *(f"Drift score: {c}" for c in columns),
    ]
    assert ensure_dashboard(workspace, project, dashboard(columns[:2], 0.5)) is True  # panels changed: saved
    assert len(workspace.get_dashboard(project).panels) == 2 + 2
    assert [p.name for p in workspace.list_projects()] == ["grid_load"]


def test_a_viewer_that_is_down_never_holds_the_pipeline_back_and_the_sync_job_catches_up(
    tmp_path, instance, slack: SlackRecorder
) -> None:
    down = ReportViewer(api_url="http://127.0.0.1:9", attempts=2, retry_delay_s=0.05)  # nothing listens there
    resources = local_resources(tmp_path, alerts=slack_alerter(slack, max_retries=0), viewer=down)
    platform = Platform(resources, instance)
    result = platform.run_week("2011-07-04", run_config=QUIET)
    assert result.success  # the run, the history, the check: all as usual
    meta = report_meta(result, platform)
    assert meta["viewer_push"].startswith("failed: try 1:") and "report_url" not in meta
    assert platform.models().exists(meta["viewer_snapshot_key"])
    [request] = platform.tick().run_requests  # the alert still goes out, with the report file
    [alert] = slack.messages()
    assert "Report file:" in alert["text"] and "Report: http" not in alert["text"]

    with EvidentlyUI(tmp_path / "ui_workspace", secret=SECRET) as ui:
        up = ReportViewer(api_url=ui.url, secret=SECRET, ui_url="http://evidently.example.test")
        synced = Platform(local_resources(tmp_path, viewer=up), instance)
        assert synced.run_job("viewer_sync_job", run_config=QUIET).success
        [project] = ui.projects()
        assert [r["metadata"]["period"] for r in ui.runs(project["id"])] == ["2011-07-04"]
        observation = instance.fetch_observations(platform.key("drift_report"), limit=1).records[0]
        pushed = observation.asset_observation.metadata
        assert pushed["report_url"].value.startswith("http://evidently.example.test/projects/")
        assert synced.run_job("viewer_sync_job", run_config=QUIET).success  # nothing left: no second run
        assert len(ui.runs(project["id"])) == 1
        # a later re-run of the week replaces the run the sync job made: one run per period
        assert synced.run_week("2011-07-04", run_config=QUIET).success
        assert len(ui.runs(project["id"])) == 1


def test_a_push_without_the_secret_is_refused_and_the_secret_is_never_shown(tmp_path, instance) -> None:
    with EvidentlyUI(tmp_path / "ws", secret=SECRET) as ui:
        no_secret = ReportViewer(api_url=ui.url, attempts=1)
        platform = Platform(local_resources(tmp_path, viewer=no_secret), instance)
        meta = report_meta(platform.run_week("2011-07-04", run_config=QUIET), platform)
        assert meta["viewer_push"].startswith("failed:") and ui.projects() == []  # refused: nothing written
        wrong = ReportViewer(api_url=ui.url, secret="not-the-secret", attempts=1)
        assert report_meta(Platform(local_resources(tmp_path, viewer=wrong), instance).run_week(
            "2011-07-11", run_config=QUIET), Platform(local_resources(tmp_path), instance))["viewer_push"].startswith(
            "failed:") and ui.projects() == []
        right = ReportViewer(api_url=ui.url, secret=dg.EnvVar("TEST_EVIDENTLY_SECRET"), attempts=1)
        import os

        os.environ["TEST_EVIDENTLY_SECRET"] = SECRET
        try:
            result = Platform(local_resources(tmp_path, viewer=right), instance).run_week("2011-07-18", run_config=QUIET)
        finally:
            os.environ.pop("TEST_EVIDENTLY_SECRET")
        assert report_meta(result, platform)["viewer_push"] == "ok" and len(ui.projects()) == 1
        from dagster._serdes import serialize_value

        for run in instance.get_runs():
            assert SECRET not in serialize_value(instance.all_logs(run.run_id))


@pytest.mark.parametrize("monitor", ["bike_sharing", "grid_load", "football"])
def test_every_monitor_has_a_viewer_sync_job(monitor: str) -> None:
    from drift_platform.definitions import defs

    assert defs.resolve_job_def(f"{monitor}_viewer_sync_job")
