"""Evidently's UI as the report viewer: every drift report a run of its monitor's project (created once, found
by name), one run per period, a dashboard made by code, links from the metadata and Slack; and a viewer that is
down, slow or refusing never holds the pipeline back. Each run carries the period's data-quality figures
(`no_data_quality_regression`'s own, equal to Evidently's metrics of the same definition) and the dashboard
plots them."""

from __future__ import annotations

import json
import urllib.request

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from drift_platform.resources import ReportViewer
from drift_platform_tests.conftest import GRID_SOURCE, GRID_SPEC, grid_monitor, local_resources, slack_alerter
from drift_platform_tests.fixtures.evidently_ui import EvidentlyUI
from drift_platform_tests.fixtures.slack import SlackRecorder
from drift_platform_tests.helpers import Platform, data_series

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
SECRET = "viewer-write-secret-1c9e"
QUIET_DAY, FAULT_DAY = "2011-02-01", "2011-02-02"  # grid_load: quiet February days (test_data_quality.py)
QUALITY_TITLES = ["Data quality: missing share", "Data quality: outside the reference's range or unseen levels",
                  "Data quality: regressed columns"]
MODEL_TITLES = ["Prediction drift score", "Model quality (labelled rows)"]  # test_quality_report.py fills them


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


def test_a_push_reads_none_of_the_projects_earlier_runs(tmp_path, instance) -> None:
    """Evidently's Workspace parses every run of the folder when made; a push must not (its cost grew with the
    project's runs: a backfill's pushes with the square of its periods). A damaged earlier run proves it."""
    from drift_platform.resources.viewer import local_workspace

    platform = Platform(local_resources(tmp_path), instance)
    first = report_meta(platform.run_week("2011-07-04", run_config=QUIET), platform)
    [runs] = list((tmp_path / "evidently").glob("*/snapshots"))
    (runs / "0190a0a0-0000-7000-8000-000000000000.json").write_text("{not json")
    again = report_meta(platform.run_week("2011-07-04", run_config=QUIET), platform)  # a re-run of the week
    assert first["viewer_push"] == again["viewer_push"] == "ok"
    assert sorted(p.stem for p in runs.glob("*.json")) == sorted(
        ["0190a0a0-0000-7000-8000-000000000000", again["evidently_run_id"]])  # the earlier run replaced
    with pytest.raises(json.JSONDecodeError):  # what Evidently's full workspace does with the folder
        assert local_workspace(str(tmp_path / "evidently")).datasets is not None  # made on first use


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
        *(f"Drift score: {c}" for c in columns), *QUALITY_TITLES, *MODEL_TITLES,
    ]
    assert ensure_dashboard(workspace, project, dashboard(columns[:2], 0.5)) is True  # panels changed: saved
    assert len(workspace.get_dashboard(project).panels) == 2 + 2 + 3 + 2
    assert ensure_dashboard(workspace, project, dashboard(columns[:2], 0.5)) is False  # re-run: no new panels
    assert [p.name for p in workspace.list_projects()] == ["grid_load"]


def test_a_viewer_that_is_down_never_holds_the_pipeline_back_and_the_sync_job_catches_up(
    tmp_path, instance, slack: SlackRecorder
) -> None:
    from drift_platform.core.evidently_workspace import QUALITY_VERDICT

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
        metrics = set(ui.get(f"/api/v2/snapshots/{project['id']}/metrics")["metrics"])
        assert {"evidently:metric_v2:MissingValueCount", QUALITY_VERDICT} <= metrics  # waited with the report
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


@pytest.mark.parametrize("monitor", ["bike_sharing", "grid_load", "football", "churn", "lead_scoring",
                                     "paylater"])
def test_every_monitor_has_a_viewer_sync_job(monitor: str) -> None:
    from drift_platform.definitions import defs

    assert defs.resolve_job_def(f"{monitor}_viewer_sync_job")


# --- the period's data quality in its run and on the dashboard ------------------------------------------------
@pytest.fixture(scope="module")
def grid_sample():
    """The grid-load sample up to mid-February as the contract types it, in time order."""
    from drift_platform.core.intake.dataset import DatasetSpec
    from drift_platform.core.intake.source import load_window

    spec = DatasetSpec.from_yaml(GRID_SPEC)
    frame, _ = load_window(str(GRID_SOURCE), spec, pd.Timestamp("2011-01-01"), pd.Timestamp("2011-02-10"))
    return spec, frame.sort_values(spec.datetime_column, ignore_index=True)


def with_faults(frame: pd.DataFrame, day: str) -> pd.DataFrame:
    """The day with humidity missing in 4 of its 24 hours, temperature_c at 99 (outside the reference's range)
    in 2, and a weather level the reference never shows ("hail") in 3."""
    faulty = frame.copy()
    rows = np.flatnonzero(faulty.timestamp.dt.strftime("%Y-%m-%d") == day)
    faulty.loc[rows[[1, 5, 9, 13]], "humidity"] = np.nan
    faulty.loc[rows[[2, 3]], "temperature_c"] = 99.0
    faulty.loc[rows[[4, 6, 8]], "weather"] = "hail"
    return faulty


def test_a_runs_data_quality_figures_are_the_checks_and_equal_evidentlys_own_metrics(grid_sample) -> None:
    """The run gets the check's own counts and shares (no second pass) as Evidently's MissingValueCount,
    OutRangeValueCount and OutListValueCount: the same ids and the same values as Evidently computing those
    metrics on the period (with the spec's column types), plus the check's verdict; the drift is read as before."""
    from evidently import DataDefinition, Dataset, Report, metrics
    from evidently.core.report import Snapshot

    from drift_platform.core.evidently_workspace import QUALITY_VERDICT
    from drift_platform.core.settings import NUM, DataQualitySettings
    from drift_platform.core.stats.drift import column_kinds, compute_drift, parse_snapshot
    from drift_platform.core.stats.quality import MISSING, OUTSIDE, UNSEEN, judge_period, reference_periods
    from drift_platform.core.stats.reference_stats import build_reference_stats
    from drift_platform.core.stats.report import QUALITY_METRICS, with_quality_metrics

    assert set(QUALITY_METRICS) == {MISSING, OUTSIDE, UNSEEN}
    spec, frame = grid_sample
    start, end = spec.reference_window
    reference = frame[(frame.timestamp >= start) & (frame.timestamp < end)].reset_index(drop=True)
    stats = build_reference_stats(reference, column_kinds(spec), quality_blocks=reference_periods(spec, "daily"))
    faulty = with_faults(frame, FAULT_DAY)
    day = faulty[faulty.timestamp.dt.strftime("%Y-%m-%d") == FAULT_DAY].reset_index(drop=True)
    summary = judge_period(stats, day, DataQualitySettings())
    result = compute_drift(stats, day, spec, grid_monitor().drift)
    shown = with_quality_metrics(result, stats, summary)
    before, after = result.snapshot.dict()["metrics"], shown.snapshot.dict()["metrics"]
    assert after[:len(before)] == before and parse_snapshot(shown.snapshot.dict(), 0.5) == parse_snapshot(
        result.snapshot.dict(), 0.5)  # the drift's own metrics and tests untouched
    added, verdict = after[len(before):-1], after[-1]
    columns = spec.monitored_columns
    assert len(added) == 2 * len(columns)
    kinds = column_kinds(spec)
    definition = DataDefinition(numerical_columns=[c for c in columns if kinds[c] == NUM],
                                categorical_columns=[c for c in columns if kinds[c] != NUM])
    own = Report([getattr(metrics, m["config"]["type"].split(":")[-1])(
        **{k: v for k, v in m["config"].items() if k != "type"}) for m in added]).run(
        Dataset.from_pandas(day[columns], data_definition=definition), None).dict()["metrics"]
    assert [m["id"] for m in own] == [m["id"] for m in added]
    for ours, evidently in zip(added, own, strict=True):
        assert ours["value"] == pytest.approx(evidently["value"], rel=1e-12, abs=0), ours["metric_name"]
    shares = {m["metric_name"].split("(")[0] + "/" + m["config"]["column"]: m["value"]["share"] for m in added}
    assert shares["MissingValueCount/humidity"] == pytest.approx(4 / 24)
    assert shares["OutRangeValueCount/temperature_c"] == pytest.approx(2 / 24)
    assert shares["OutListValueCount/weather"] == pytest.approx(3 / 24)
    assert verdict["config"]["type"] == QUALITY_VERDICT and summary["passed"] is False
    assert verdict["value"] == {"count": summary["columns_failed"], "share": summary["columns_failed"] / len(columns)}
    assert Snapshot.loads(shown.snapshot.dumps()).dict() == shown.snapshot.dict()  # as the sync job reloads it
    assert with_quality_metrics(result, stats, None) is result  # the check off, or the period not judged
    assert with_quality_metrics(result, stats, {"skipped": "too few rows", "severity": "WARN"}) is result


def series_of(ui: EvidentlyUI, project_id: str, panel: dict) -> dict[str, list]:
    """What the dashboard's panel plots, asked of the UI as its page asks: legend-ish name -> value per run."""
    return {s["metric_type"].split(":")[-1] + "/" + s["params"].get("column", ""): s["values"]
            for s in data_series(ui.url, project_id, panel) if s["params"].get("value_type") == panel["values"][0]["metric_labels"][
                "value_type"]}


def test_the_dashboard_plots_a_faulty_periods_data_quality_apart_from_a_quiet_one(
        grid_sample, tmp_path, instance) -> None:
    """Two days of the grid monitor through its drift report, the second with injected nulls, out-of-range
    values and an unseen level; the real `evidently ui` over the workspace serves the dashboard's data-quality
    panels with the quiet day at 0 and the faulty day at the injected shares, and the run's page has the group."""
    from drift_platform.core.evidently_workspace import QUALITY_GROUP
    from drift_platform.core.names import CURRENT_BATCH, DRIFT_REPORT

    path = tmp_path / "grid_with_faults.csv"
    with_faults(grid_sample[1], FAULT_DAY).to_csv(path, index=False)
    platform = Platform(local_resources(tmp_path), instance, monitor=grid_monitor(path))
    assets = [a for a in platform.defs.assets if isinstance(a, dg.AssetsDefinition)
              and a.keys <= {platform.key(CURRENT_BATCH), platform.key(DRIFT_REPORT)}]
    for day in (QUIET_DAY, FAULT_DAY):
        assert dg.materialize(assets, instance=instance, partition_key=day, resources=platform.resources).success
    with EvidentlyUI(tmp_path / "evidently") as ui:
        [project] = ui.projects()
        panels = {p["title"]: p for p in ui.get(f"/api/v2/dashboards/{project['id']}")["panels"]}
        assert list(panels)[-5:] == QUALITY_TITLES + MODEL_TITLES
        missing, stray, regressed = (series_of(ui, project["id"], panels[t]) for t in QUALITY_TITLES)
        assert missing["MissingValueCount/humidity"] == pytest.approx([0, 4 / 24])
        assert missing["MissingValueCount/wind_speed"] == [0, 0]
        assert stray["OutRangeValueCount/temperature_c"] == pytest.approx([0, 2 / 24])
        assert stray["OutListValueCount/weather"] == pytest.approx([0, 3 / 24])
        assert set(missing) | set(stray) == {f"{m}/{c}" for m in ("MissingValueCount", "OutRangeValueCount")
                                             for c in ("temperature_c", "humidity", "wind_speed", "solar_irradiance")
                                             } | {"MissingValueCount/weather", "OutListValueCount/weather"}
        [verdict] = regressed.values()
        assert verdict[0] == 0 and verdict[1] >= 2  # the quiet day passed; the faulty day's columns regressed
        [run] = [r for r in ui.runs(project["id"]) if r["metadata"]["period"] == FAULT_DAY]
        assert QUALITY_GROUP in json.dumps(ui.get(f"/api/projects/{project['id']}/{run['id']}/data"))


# --- the estimated metric beside the realized one ----------------------------------------------------------------
ESTIMATE_WEEKS = ("2011-02-07", "2011-02-14")


def estimate_asset(platform: Platform, estimates: dict, frames: dict | None = None):
    """The monitor's predictions asset as its hook publishes (lib/assets/predictions.py): each week's quality report
    (`frames`: its predictions frame) and its estimate run, their metadata on the week's materialization."""
    from drift_platform.lib.assets.estimate_report import publish_estimate_runs
    from drift_platform.lib.assets.quality_report import publish_quality_reports

    @dg.asset(key=platform.key("predictions"), partitions_def=dg.StaticPartitionsDefinition(list(ESTIMATE_WEEKS)),
              required_resource_keys={"viewer", "store"})
    def predictions(context) -> None:
        [week], viewer, store = context.partition_keys, context.resources.viewer, context.resources.store
        quality = publish_quality_reports(context, platform.monitor, frames or {}, None, viewer, store)
        estimate = publish_estimate_runs(context, platform.monitor, {week: estimates[week]}, viewer, store)
        context.add_output_metadata({**quality.get(week, {}), **estimate[week]})

    return predictions


def estimate_meta(platform: Platform, estimates: dict, week: str, frames: dict | None = None) -> dict:
    result = dg.materialize([estimate_asset(platform, estimates, frames)], instance=platform.instance,
                            partition_key=week, resources=platform.resources)
    [materialization] = result.asset_materializations_for_node(platform.op("predictions"))
    return {k: v.value for k, v in materialization.metadata.items()}


def test_the_dashboard_plots_the_estimate_beside_the_realized_value(tmp_path, instance) -> None:
    """A monitor estimating its RMSLE: each week's estimate is a run of its own (a re-run replaces it), the
    quality run has the realized RMSLE (the check's; Evidently's preset has none), and the real `evidently ui` serves one panel with both; a viewer that is
    down fails no step and the sync job pushes the waiting estimate later."""
    from evidently.ui.workspace import Workspace

    from drift_platform_tests.conftest import bike_monitor
    from loopback import free_port

    monitor = bike_monitor(estimation={"enabled": True})
    platform = Platform(local_resources(tmp_path), instance, monitor)
    assert platform.run_week("2011-01-31", run_config=QUIET).success  # the drift push makes the dashboard
    rng = np.random.default_rng(3)
    frames = {w: pd.DataFrame({"cnt": rng.uniform(1000, 5000, 7), "predicted_cnt": rng.uniform(1000, 5000, 7)})
              for w in ESTIMATE_WEEKS}
    first = estimate_meta(platform, {ESTIMATE_WEEKS[0]: {"value": 0.9, "lower": 0.8, "upper": 1.0}},
                          ESTIMATE_WEEKS[0], {ESTIMATE_WEEKS[0]: frames[ESTIMATE_WEEKS[0]]})
    estimates = {ESTIMATE_WEEKS[0]: {"value": 0.45, "lower": 0.35, "upper": 0.55},
                 ESTIMATE_WEEKS[1]: {"value": 0.7, "lower": 0.6, "upper": 0.85}}
    again = estimate_meta(platform, estimates, ESTIMATE_WEEKS[0], {ESTIMATE_WEEKS[0]: frames[ESTIMATE_WEEKS[0]]})
    estimate_meta(platform, estimates, ESTIMATE_WEEKS[1], {ESTIMATE_WEEKS[1]: frames[ESTIMATE_WEEKS[1]]})
    assert first["estimate_viewer_push"] == again["estimate_viewer_push"] == "ok"
    assert again["estimate_report_url"].endswith(again["estimate_run_id"])
    realized = [float(np.sqrt(np.mean((np.log1p(f.cnt) - np.log1p(f.predicted_cnt)) ** 2))) for f in frames.values()]
    with EvidentlyUI(tmp_path / "evidently") as ui:
        [project] = ui.projects()
        runs = [r for r in ui.runs(project["id"]) if "estimate" in r["tags"]]
        assert sorted(r["metadata"]["period"] for r in runs) == list(ESTIMATE_WEEKS)  # the re-run replaced
        assert again["estimate_run_id"] in {r["id"] for r in runs} and first["estimate_run_id"] not in {
            r["id"] for r in runs}
        panels = {p["title"]: p for p in ui.get(f"/api/v2/dashboards/{project['id']}")["panels"]}
        assert list(panels)[-1] == "Estimated vs realized RMSLE"
        series = {s["params"].get("value_type", "realized"): [v for v in s["values"] if v is not None]
                  for s in data_series(ui.url, project["id"], panels["Estimated vs realized RMSLE"])}
        assert series["value"] == [0.45, 0.7] and series["lower"] == [0.35, 0.6] and series["upper"] == [0.55, 0.85]
        assert series["realized"] == pytest.approx(realized, rel=1e-9)

    down = Platform(local_resources(tmp_path, viewer=ReportViewer(
        api_url=f"http://127.0.0.1:{free_port()}", attempts=1, timeout_s=2)), instance, monitor)
    waiting = estimate_meta(down, estimates, ESTIMATE_WEEKS[1])
    assert waiting["estimate_viewer_push"].startswith("failed: ") and waiting["estimate_run_id"] == "-"
    assert down.models().exists(waiting["estimate_snapshot_key"]) and "estimate_report_url" not in waiting
    assert platform.run_job("viewer_sync_job", run_config=QUIET).success
    observed = instance.fetch_observations(platform.key("predictions"), limit=10).records
    [pushed] = [r.asset_observation.metadata for r in observed if "estimate_run_id" in r.asset_observation.metadata]
    assert pushed["estimate_viewer_push"].value == "ok (later)"
    workspace = Workspace.create(str(tmp_path / "evidently"))
    runs = {str(r): workspace.get_run(project["id"], r) for r in workspace.list_runs(project["id"])}
    estimate_runs = {i: s.metadata["period"] for i, s in runs.items() if "estimate" in s.tags}
    assert sorted(estimate_runs.values()) == list(ESTIMATE_WEEKS)  # replaced, not added
    assert pushed["estimate_run_id"].value in estimate_runs


def test_a_run_file_is_written_as_evidently_writes_it(tmp_path, instance) -> None:
    """The lean workspace writes a run's file in one json.dumps; Evidently's own LocalState writes the same run
    to the same bytes (and reads ours back)."""
    from evidently.ui.storage.local.base import LocalState

    from drift_platform.resources.viewer import local_workspace

    platform = Platform(local_resources(tmp_path), instance)
    meta = report_meta(platform.run_week("2011-07-04", run_config=QUIET), platform)
    [ours] = list((tmp_path / "evidently").glob(f"*/snapshots/{meta['evidently_run_id']}.json"))
    project_id = ours.parent.parent.name
    evidently_state = LocalState(str(tmp_path / "evidently"))
    model = evidently_state.read_snapshot(project_id, meta["evidently_run_id"])
    evidently_state.write_snapshot(project_id, "evidently-wrote", model)
    local_workspace(str(tmp_path / "evidently")).state.write_snapshot(project_id, "lean-wrote", model)
    evidently_file, lean_file = (ours.parent / f"{name}.json" for name in ("evidently-wrote", "lean-wrote"))
    assert lean_file.read_bytes() == evidently_file.read_bytes() and len(lean_file.read_bytes()) > 10_000
