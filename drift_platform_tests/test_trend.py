"""Drift over time and the drift report's links: the per-period table and chart of a monitor's `drift_trend`,
the `drifted/<column>` and `top_drifted_columns` metadata of `drift_report`, and report links the UI can open."""

from __future__ import annotations

import base64
import io
import math
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from drift_platform.core.stats.drift import ColumnDrift
from drift_platform.core.stats.report import top_drifted
from drift_platform.core.stats.trend import PeriodDrift, render_chart, trend_frame, trend_markdown
from drift_platform.lib.assets.drift_trend import build_drift_trend, latest_periods
from drift_platform.resources import LocalObjectStore, S3ObjectStore
from drift_platform_tests.conftest import grid_monitor
from drift_platform_tests.helpers import Platform

QUIET_WEEK, DRIFTING_WEEK = "2011-01-31", "2011-07-04"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    assert data.startswith(PNG_MAGIC)
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def week(name: str, share: float, scores: dict[str, float], drifted: dict[str, bool | None]) -> PeriodDrift:
    return PeriodDrift(period=name, drift_share=share, threshold=0.5, dataset_drift=share >= 0.5, scores=scores,
                     drifted=drifted)


# --- plain functions -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_weeks", [1, 3, 40])
def test_chart_is_a_png_that_grows_with_the_weeks(n_weeks: int) -> None:
    weeks = [
        week(f"2011-{1 + i // 4:02d}-{1 + 7 * (i % 4):02d}", (i % 5) / 4, {"temp": 0.01 * i, "hum": 0.5},
             {"temp": i % 5 >= 2, "hum": False})
        for i in range(n_weeks)
    ]
    frame = trend_frame(weeks)
    assert list(frame["period"]) == [w.period for w in weeks]
    width, height = png_size(render_chart(frame))
    assert 700 <= width <= 24 * 90 and height > 300
    if n_weeks == 40:
        assert width > png_size(render_chart(trend_frame(weeks[:3])))[0]


def test_table_marks_drifted_scores_and_older_reports_without_flags() -> None:
    weeks = [
        week(QUIET_WEEK, 0.0, {"temp": 0.43, "hum": 0.91}, {"temp": False, "hum": False}),
        week(DRIFTING_WEEK, 1.0, {"temp": 3e-7, "hum": 0.002}, {"temp": True, "hum": True}),
        week("2011-07-11", 0.5, {"temp": 0.02}, {"temp": None}),  # an older report: no drifted/ flags, no hum
    ]
    frame = trend_frame(weeks)
    assert frame.loc[1, "drifted/temp"] == 1.0 and frame.loc[0, "drifted/hum"] == 0.0
    assert math.isnan(frame.loc[2, "drifted/temp"]) and math.isnan(frame.loc[2, "score/hum"])
    lines = trend_markdown(frame).splitlines()
    assert lines[0] == "| period | drift share | threshold | dataset drift | hum | temp |"
    assert lines[2] == f"| {QUIET_WEEK} | 0.00 | 0.50 | no | 0.91 | 0.43 |"
    assert lines[3] == f"| {DRIFTING_WEEK} | 1.00 | 0.50 | **yes** | **0.002** | **3e-07** |"
    assert lines[4] == "| 2011-07-11 | 0.50 | 0.50 | **yes** | - | 0.02 |"
    png_size(render_chart(frame))  # missing flags are drawn as grey cells, not an error


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        ([], "-"),
        ([ColumnDrift("hum", "K-S p_value", 0.3, 0.05, False)], "-"),
        (
            [
                ColumnDrift("hum", "K-S p_value", 0.01, 0.05, True),  # 5x past its threshold
                ColumnDrift("temp", "K-S p_value", 3e-7, 0.05, True),  # far past
                ColumnDrift("wind", "Wasserstein distance (normed)", 0.3, 0.1, True),  # 3x, a distance: above
                ColumnDrift("atemp", "K-S p_value", 0.5, 0.05, False),
            ],
            "temp (K-S p_value 3e-07 < 0.05), hum (K-S p_value 0.01 < 0.05), "
            "wind (Wasserstein distance (normed) 0.3 >= 0.1)",
        ),
    ],
)
def test_top_drifted_columns_furthest_past_the_threshold_first(columns, expected) -> None:
    assert top_drifted(columns) == expected


# --- through the real jobs -------------------------------------------------------------------------------------
@pytest.fixture
def platform(resources, instance) -> Platform:
    return Platform(resources, instance)


def trend(platform: Platform) -> dict:
    """One materialization of the monitor's drift_trend (as its component builds it) and its metadata."""
    drift_trend = build_drift_trend(platform.monitor)
    result = dg.materialize([drift_trend], instance=platform.instance, resources=platform.resources)
    return result.asset_materializations_for_node(platform.op("drift_trend"))[0].metadata


def report(result, platform: Platform) -> dict:
    return result.asset_materializations_for_node(platform.op("drift_report"))[0].metadata


def test_trend_summarizes_the_latest_report_of_every_week(platform: Platform) -> None:
    assert trend(platform)["periods"].value == 0  # nothing to show yet, and no error

    reports = {}
    for name in (DRIFTING_WEEK, QUIET_WEEK):
        result = platform.run_week(name)
        reports[name] = report(result, platform)
    # The drifting week again with a lenient threshold: its latest report is the one that counts.
    config = {"ops": {platform.op("drift_report"): {"config": {"drift_share": 0.99}}}}
    rerun = platform.run_week(DRIFTING_WEEK, run_config=config)
    reports[DRIFTING_WEEK] = report(rerun, platform)

    drifting = reports[DRIFTING_WEEK]
    assert drifting["drifted/temp"].value == 1 and isinstance(drifting["drifted/temp"], dg.IntMetadataValue)
    assert drifting["top_drifted_columns"].value.startswith(("temp (", "atemp ("))
    assert sum(drifting[f"drifted/{c}"].value for c in ("weathersit", "temp", "atemp", "hum", "windspeed")) == (
        drifting["drifted_columns"].value
    )

    meta = trend(platform)
    assert meta["periods"].value == 2 and meta["drifted_periods"].value == 0  # 0.99 threshold on the rerun
    assert (meta["first_period"].value, meta["latest_period"].value) == (QUIET_WEEK, DRIFTING_WEEK)
    lines = meta["table"].value.splitlines()
    assert lines[0] == "| period | drift share | threshold | dataset drift | atemp | hum | temp | weathersit | windspeed |"
    quiet, drift = lines[2].split(" | "), lines[3].split(" | ")
    assert quiet[0] == f"| {QUIET_WEEK}" and drift[0] == f"| {DRIFTING_WEEK}"
    assert float(drift[1]) == pytest.approx(drifting["drift_share"].value, abs=0.005) and drift[2] == "0.99"
    assert drift[6].strip("*") == f"{drifting['score/temp'].value:.3g}" and drift[6].startswith("**")

    chart = Path(meta["chart"].value)
    assert isinstance(meta["chart"], dg.PathMetadataValue) and chart.is_file()
    assert chart.parent == Path(platform.resources["store"].root).resolve() / "bike_sharing" / "drift_trend"
    png_size(chart.read_bytes())
    preview = meta["chart_preview"].value
    assert preview.startswith("![drift per week](data:image/png;base64,")
    assert base64.b64decode(preview.split(",", 1)[1].rstrip(")")) == chart.read_bytes()

    weeks = latest_periods(platform.instance, platform.key("drift_report"))
    assert [w.period for w in weeks] == [QUIET_WEEK, DRIFTING_WEEK] and weeks[1].threshold == 0.99


def test_each_monitor_has_its_own_trend(platform: Platform) -> None:
    """Two monitors on one instance and one store: each trend reads only its own monitor's reports."""
    platform.run_week(QUIET_WEEK)
    grid = Platform(platform.resources, platform.instance, monitor=grid_monitor())
    grid.run_period("2011-02-01")
    grid.run_period("2011-01-31")

    bike_periods = latest_periods(platform.instance, platform.key("drift_report"))
    grid_periods = latest_periods(grid.instance, grid.key("drift_report"))
    assert [w.period for w in bike_periods] == [QUIET_WEEK]
    assert [w.period for w in grid_periods] == ["2011-01-31", "2011-02-01"]
    assert set(grid_periods[0].scores).isdisjoint(bike_periods[0].scores)  # another dataset's columns

    bike, grid_meta = trend(platform), trend(grid)
    assert bike["periods"].value == 1 and bike["latest_period"].value == QUIET_WEEK
    assert grid_meta["periods"].value == 2 and grid_meta["latest_period"].value == "2011-02-01"
    assert grid_meta["chart_preview"].value.startswith("![drift per day](data:image/png;base64,")
    store = Path(platform.resources["store"].root).resolve()
    assert Path(bike["chart"].value).parent == store / "bike_sharing" / "drift_trend"
    assert Path(grid_meta["chart"].value).parent == store / "grid_load" / "drift_trend"


def test_trend_refreshes_itself_after_a_week_is_reported(platform: Platform) -> None:
    """Its automation condition (run by bike_sharing_drift_trend_sensor in the daemon) requests it when it is
    missing (the trend is there when the UI opens) and once per change after that; the weeks that were never
    reported (most of them) do not hold it back."""
    defs, instance, key = platform.defs, platform.instance, platform.key("drift_trend")
    selection = dg.AssetSelection.assets(key)

    def requested(cursor):
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection,
                                                   cursor=cursor)
        return result.get_num_requested(key), result.cursor

    count, cursor = requested(None)
    assert count == 1  # missing: materialize it, even before any report
    count, cursor = requested(cursor)
    assert count == 0  # requested once, not at every tick
    trend(platform)  # the requested run
    count, cursor = requested(cursor)
    assert count == 0
    platform.run_week(QUIET_WEEK)
    count, cursor = requested(cursor)
    assert count == 1
    count, cursor = requested(cursor)
    assert count == 0  # requested once for that change, not at every tick
    trend(platform)  # the requested run
    count, cursor = requested(cursor)
    assert count == 0
    platform.run_week(DRIFTING_WEEK)
    count, cursor = requested(cursor)
    assert count == 1


# --- report links ----------------------------------------------------------------------------------------------
def test_report_link_is_a_path_on_a_local_store(tmp_path) -> None:
    store = LocalObjectStore(root=str(tmp_path)).scoped("bike_sharing")  # a monitor's folder, as the assets use it
    store.write_bytes("drift_reports/w/r.html", b"<html>report</html>", "text/html")
    link = store.link("drift_reports/w/r.html")
    assert isinstance(link, dg.PathMetadataValue) and Path(link.value).read_bytes() == b"<html>report</html>"
    assert Path(link.value) == tmp_path.resolve() / "bike_sharing" / "drift_reports" / "w" / "r.html"


@pytest.mark.parametrize("public_url", [None, "https://reports.example.com/bucket"])
def test_report_link_on_s3_opens_in_a_browser(s3_server, s3_bucket, public_url) -> None:
    store = S3ObjectStore(bucket=s3_bucket, prefix="drift", public_url=public_url,
                          s3_endpoint_url=s3_server.endpoint_url, aws_region=s3_server.region,
                          aws_access_key_id=s3_server.access_key, aws_secret_access_key=s3_server.secret_key)
    folder = store.scoped("bike_sharing")  # a monitor's folder, as the assets use it
    body = b"<html><body>drift report</body></html>"
    folder.write_bytes("drift_reports/2011-07-04/run.html", body, "text/html")
    link = folder.link("drift_reports/2011-07-04/run.html")
    assert isinstance(link, dg.UrlMetadataValue)
    if public_url:
        assert link.value == f"{public_url}/drift/bike_sharing/drift_reports/2011-07-04/run.html"
        return
    # No public URL: a presigned one, which a browser (no AWS credentials) can open.
    assert link.value.startswith(
        f"{s3_server.endpoint_url}/{s3_bucket}/drift/bike_sharing/drift_reports/2011-07-04/run.html?"
    )
    assert "Signature" in link.value
    with urllib.request.urlopen(link.value, timeout=10) as response:
        assert response.read() == body


# --- the model's quality: estimated beside realized, labels pending --------------------------------------------
def test_quality_table_puts_the_estimate_and_its_band_beside_the_realized_value() -> None:
    from drift_platform.core.stats.trend import quality_markdown, quality_rows, quality_values

    predictions = {  # the predictions' latest metadata per week: version, estimate with band, no labels yet
        "2023-03-06": {"model_version": "v1", "labelled_rows": 0, "estimated_log_loss": 0.3512,
                       "estimated_log_loss_lower": 0.34, "estimated_log_loss_upper": 0.362},
        "2023-03-13": {"model_version": "v1", "labelled_rows": 0, "estimated_log_loss": 0.4123,
                       "estimated_log_loss_lower": 0.39, "estimated_log_loss_upper": 0.435},
        "2023-03-20": {"model_version": "v2", "labelled_rows": 0},  # no estimate: none made
    }
    labels = {"2023-03-06": {"labelled_rows": 480, "log_loss": 0.3601, "landed_at": "2023-04-03T06:00:00+00:00"}}
    rows = quality_rows(predictions, labels, "log_loss", late_labels=True)
    assert [(q.period, q.labels, q.realized) for q in rows] == [
        ("2023-03-06", "2023-04-03", 0.3601), ("2023-03-13", "pending", None), ("2023-03-20", "pending", None)]
    lines = quality_markdown(rows, "log loss", estimates=True, late_labels=True).splitlines()
    assert lines[0] == ("| period | model version | labelled rows | estimated log loss [lower, upper] | "
                        "realized log loss | labels |")
    assert lines[2] == "| 2023-03-06 | v1 | 480 | 0.3512 [0.3400, 0.3620] | 0.3601 | 2023-04-03 |"
    assert lines[3] == "| 2023-03-13 | v1 | 0 | 0.4123 [0.3900, 0.4350] | - | pending |"
    assert lines[4] == "| 2023-03-20 | v2 | 0 | - | - | pending |"
    assert quality_values(rows, "log_loss") == {"labels_pending": 2, "latest_log_loss": 0.3601,
                                                "latest_estimated_log_loss": 0.4123}
    # labels with the features: the predictions' value is the realized one; no labels column; periods without
    # a value are left out
    same = quality_rows({**predictions, "2023-03-06": {**predictions["2023-03-06"], "log_loss": 0.3333}}, {},
                        "log_loss", late_labels=False)
    assert [(q.period, q.realized, q.labels) for q in same] == [("2023-03-06", 0.3333, "-"), ("2023-03-13", None, "-")]
    plain = quality_markdown(same, "log loss", estimates=False, late_labels=False).splitlines()
    assert plain[0] == "| period | model version | labelled rows | log loss |" and plain[2].endswith("| 0.3333 |")


def test_a_late_labels_trend_says_which_weeks_wait_for_their_labels(resources, instance) -> None:
    """The trend of a late-labels monitor, from the real instance: the predictions' and the labels' latest
    materializations per week (recorded as their assets record them); the week whose labels landed shows the
    labels' realized value and date, the other says pending."""
    from drift_platform_tests.conftest import bike_monitor

    platform = Platform(resources, instance, bike_monitor(labels={"in_source": True, "label_delay": "2 weeks"}))
    platform.run_week(QUIET_WEEK)
    for week, estimate in ((QUIET_WEEK, 0.28), (DRIFTING_WEEK, 0.52)):
        instance.report_runless_asset_event(dg.AssetMaterialization(
            asset_key=platform.key("predictions"), partition=week, metadata={
                "model_version": "v-7", "labelled_rows": 0, "metric": "rmsle", "estimated_rmsle": estimate,
                "estimated_rmsle_lower": estimate - 0.02, "estimated_rmsle_upper": estimate + 0.03}))
    instance.report_runless_asset_event(dg.AssetMaterialization(
        asset_key=platform.key("labels"), partition=QUIET_WEEK, metadata={
            "labelled_rows": 7, "pending_rows": 0, "rmsle": 0.2911, "landed_at": "2011-02-21T09:30:00+00:00"}))
    meta = trend(platform)
    lines = meta["model_quality"].value.splitlines()
    assert lines[2] == f"| {QUIET_WEEK} | v-7 | 7 | 0.2800 [0.2600, 0.3100] | 0.2911 | 2011-02-21 |"
    assert lines[3] == f"| {DRIFTING_WEEK} | v-7 | 0 | 0.5200 [0.5000, 0.5500] | - | pending |"
    assert meta["labels_pending"].value == 1 and isinstance(meta["labels_pending"], dg.IntMetadataValue)
    assert meta["latest_estimated_rmsle"].value == 0.52 and meta["latest_rmsle"].value == 0.2911
    assert platform.key("labels") in build_drift_trend(platform.monitor).asset_deps[platform.key("drift_trend")]
