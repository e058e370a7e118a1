"""What the Dagster UI shows a person, checked in a real browser: dagster-webserver on loopback serving the code
location as shipped (`-m drift_platform.definitions`: its six monitors) over an instance with materialized periods
of three of them (bike_sharing, grid_load, football; a churn week apart), driven by headless Chromium (Debian's
chromium + chromium-driver, through selenium). The runs are made in-process with the code location's own definitions and the same environment as
the webserver (DRIFT_DATA_DIR), so the UI's resources point at the files the runs wrote.

Asserted: the asset graph renders one group per monitor, each with its eight assets, with the drift report's
check status; each asset's page names its monitor's group and its stage tag; the drift report's page for a
drifting week shows its metadata (the per-column table rendered as a table, the top drifted columns, the
report's path in the monitor's folder of the store) and the check `no_dataset_drift` as Failed; `drift_trend`
shows the table of periods inline and its chart as an image, for both monitors; the webserver's store and
warehouse are the DRIFT_DATA_DIR ones; the churn classifier's predictions link its week's Evidently quality
report, which draws the week's confusion matrix. Screenshots of each go to a temp folder (printed), and into
docs/screenshots/ when DRIFT_UPDATE_SCREENSHOTS=1 (how the README's are refreshed; a plain test run leaves the
tree alone).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from drift_platform_tests.fixtures.evidently_ui import EvidentlyUI
from loopback import free_port
from loopback.dagster_stack import BIN, REPO, ManagedProcess, wait_for

pytestmark = pytest.mark.e2e

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
# The flags this machine kind needs (no sandbox as root, no GPU, no network beyond loopback).
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
VIEWPORT = (2200, 2000)  # the whole global lineage (3 monitors' groups of 8 assets) fits
QUIET_WEEKS = ["2011-01-31", "2011-02-07", "2011-02-14", "2011-03-07", "2011-05-16"]
DRIFTING_WEEKS = ["2011-04-11", "2011-07-04", "2011-08-08"]  # the last one run is the latest the UI shows
SHOWN_WEEK = "2011-07-04"
QUIET_DAYS = ["2011-02-01", "2011-02-02", "2011-02-03"]  # grid_load (daily)
DRIFTING_DAYS = ["2011-02-08"]  # the storm's sensor fault; the latest day the UI shows
MATCH_WEEKS = ["2021-09-13", "2021-09-20", "2022-02-14"]  # football (event data); the winter storm drifts
PERIODS = {"bike_sharing": QUIET_WEEKS + DRIFTING_WEEKS, "grid_load": QUIET_DAYS + DRIFTING_DAYS,
           "football": MATCH_WEEKS}
MONITORS = tuple(PERIODS)  # the monitors this test materializes: one asset group each
# The binary classifier (churn), materialized apart (its group stays closed in the graph): a week, a first model,
# then a week the champion predicts, with labels: its quality report is linked from the predictions asset.
CHURN_WEEKS, CHURN_JUDGED = ("2023-02-13",), "2023-03-20"
# Every monitor's assets (keys <monitor>/<asset>) and their stage (the tag drift_platform/stage).
ASSETS = {
    "reference_data": "ingestion", "current_batch": "ingestion", "combined_history": "ingestion",
    "drift_report": "monitoring", "drift_trend": "monitoring", "predictions": "monitoring",
    "trained_model": "training", "champion_model": "training",
}  # fmt: skip
OWNERS = {"bike_sharing": "ml-platform", "grid_load": "energy-forecasting", "football": "matchday-analytics"}  # as the UI shows "team:<name>"
SCREENSHOTS = REPO / "docs" / "screenshots"
TIMEOUT_S = 90


def browser_or_fail():
    """Chromium, its driver and selenium must be there: a missing browser fails the test, it is not skipped."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: install Debian's packages with "
                    "`apt-get install -y chromium chromium-driver` (.ci/run does)", pytrace=False)
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.fail("selenium is not installed: it is in the dev extra (make install)", pytrace=False)


# --- the stack: an instance with periods in it, and dagster-webserver over it ----------------------------------
def materialize_periods(home: Path, env: dict[str, str]) -> None:
    """In-process runs into the instance the webserver will show, with the code location's definitions as the
    webserver loads them (same defs folder, same environment): for each monitor, periods, a retrain, the trend."""
    from drift_platform.definitions import build_definitions

    defs = build_definitions(env=env)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for monitor, periods in PERIODS.items():
            reference, trend = (defs.resolve_assets_def(dg.AssetKey([monitor, name]))
                                for name in ("reference_data", "drift_trend"))
            # The reference first, as in production: a reference newer than the periods would mark them unsynced.
            assert dg.materialize([reference], instance=instance).success
            drift_job = defs.resolve_job_def(f"{monitor}_drift_job")
            for period in periods:
                assert drift_job.execute_in_process(partition_key=period, instance=instance).success
            assert defs.resolve_job_def(f"{monitor}_retrain_job").execute_in_process(instance=instance).success
            assert dg.materialize([trend], instance=instance).success
        assert dg.materialize([defs.resolve_assets_def(dg.AssetKey(["churn", "reference_data"]))],
                              instance=instance).success
        for week in CHURN_WEEKS:
            assert defs.resolve_job_def("churn_drift_job").execute_in_process(partition_key=week, instance=instance).success
        assert defs.resolve_job_def("churn_retrain_job").execute_in_process(instance=instance).success
        assert defs.resolve_job_def("churn_drift_job").execute_in_process(partition_key=CHURN_JUDGED,
                                                                          instance=instance).success


class UI:
    def __init__(self, base_url: str, driver, shots: Path, webserver: ManagedProcess, data_dir: Path,
                 viewer: EvidentlyUI) -> None:
        self.base_url, self.driver, self.shots, self.webserver = base_url, driver, shots, webserver
        self.data_dir = data_dir  # DRIFT_DATA_DIR of the runs and of the webserver
        self.viewer = viewer  # Evidently's UI over the runs' workspace

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def body(self) -> str:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.TAG_NAME, "body").text

    def wait(self, condition, what: str):
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.driver, TIMEOUT_S, poll_frequency=0.5).until(lambda _: condition())
        except TimeoutException:
            self.screenshot("timeout")
            raise AssertionError(f"the UI did not show {what} within {TIMEOUT_S} s; page text:\n{self.body()[:3000]}"
                                 f"\n--- webserver log ---\n{self.webserver.log_tail()}") from None

    def wait_text(self, *texts: str) -> None:
        self.wait(lambda: all(t in self.body() for t in texts), f"{texts}")

    def screenshot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        print(f"screenshot: {path}")
        if os.environ.get("DRIFT_UPDATE_SCREENSHOTS") == "1" and name != "timeout":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, SCREENSHOTS / path.name)
        return path


@pytest.fixture(scope="module")
def ui(tmp_path_factory) -> Iterator[UI]:
    browser_or_fail()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    root = tmp_path_factory.mktemp("browser")
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    (root / "logs").mkdir()
    (root / "shots").mkdir()
    # Nothing of the caller's deployment leaks in (a retired DRIFT_* variable would stop the code location);
    # DRIFT_DATA_DIR puts the warehouse and the store of the runs and of the webserver in the same folder.
    data_dir = root / "drift_data"
    viewer = EvidentlyUI(data_dir / "evidently")  # Evidently's UI over the runs' workspace, as `make dev` starts it
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DRIFT_", "DAGSTER_", "AWS_", "SLACK_"))},
        "DAGSTER_HOME": str(home), "DRIFT_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1",
        "DRIFT_EVIDENTLY_UI_URL": viewer.url,
    }  # fmt: skip
    materialize_periods(home, env)
    viewer.start()

    port = free_port()
    webserver = ManagedProcess(
        "webserver",
        [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-m", "drift_platform.definitions"],
        env, root / "logs",
    ).start()
    driver = None
    try:
        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for(ready, 120, "dagster-webserver", diagnostics=webserver.log_tail)
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tempfile.mkdtemp(dir=root)}"]:
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        width, height = VIEWPORT
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        base_url = f"http://127.0.0.1:{port}"
        driver.get(base_url + "/server_info")
        # A fresh browser profile would first see Dagster's "join the community" dialog; mark it as seen.
        driver.execute_script("window.localStorage.setItem('communityNux', '\"1\"')")
        yield UI(base_url, driver, root / "shots", webserver, data_dir, viewer)
    finally:
        if driver is not None:
            driver.quit()
        webserver.stop()
        viewer.stop()


# --- what a person sees ----------------------------------------------------------------------------------------
def test_asset_graph_shows_each_monitors_assets_in_its_group(ui: UI) -> None:
    from selenium.webdriver.common.by import By

    # Open every group of the global lineage (the UI keeps which groups are open in local storage).
    ui.driver.execute_script(
        "window.localStorage.setItem(arguments[0], arguments[1])", "asset-graph-open-graph-nodes-global-__GLOBAL__",
        json.dumps({"expanded": ",".join(f"global@global:{g}" for g in MONITORS)}),
    )
    ui.open("/asset-groups")
    ui.wait_text("Global asset lineage", *MONITORS)
    def closed() -> list:
        """The unfold buttons of this test's groups still closed (churn, lead_scoring and paylater stay closed: more
        open groups do not fit the window, and nodes outside it are not drawn)."""
        return [button for group in MONITORS for button in ui.driver.find_elements(
            By.XPATH, f"//*[local-name()='foreignObject'][.//*[normalize-space(text())='{group}']]"
                      "//*[@aria-label='unfold_more']")]

    deadline = time.monotonic() + 20
    while closed() and time.monotonic() < deadline:
        closed()[0].click()  # a group still closed
        time.sleep(0.5)

    def rect(element) -> tuple[float, float, float, float]:
        return tuple(ui.driver.execute_script(
            "const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]", element))

    def group_box(group: str):
        """The box of an open group in the graph (its header names it; asset nodes are drawn inside it)."""
        found = ui.driver.find_elements(
            By.XPATH, f"//*[local-name()='foreignObject'][not(contains(., 'Latest event'))]"
                      f"[.//*[normalize-space(text())='{group}']]",
        )
        return found[0] if found else None

    def node(group: str, name: str):
        """The graph node of a monitor's asset: its name above the node's rows (Latest event, Asset checks, ...),
        drawn inside its monitor's group (each monitor has an asset of every name)."""
        box = group_box(group)
        if box is None:
            return None
        left, top, right, bottom = rect(box)
        for found in ui.driver.find_elements(
            By.XPATH, f"//*[normalize-space(text())='{name}']/ancestor::*[contains(., 'Latest event')][1]"
        ):
            x0, y0, x1, y1 = rect(found)
            if left <= x0 and x1 <= right and top <= y0 and y1 <= bottom:
                return found
        return None

    ui.wait(lambda: all(node(g, name) is not None for g in MONITORS for name in ASSETS),
            f"graph nodes for {sorted(ASSETS)} in each of the groups {MONITORS}")
    assert len(ui.driver.find_elements(
        By.XPATH, "//*[normalize-space(text())='drift_report']/ancestor::*[contains(., 'Latest event')][1]"
    )) == len(MONITORS)  # one drift report per open group, no other (churn's stays closed)
    for group in MONITORS:
        for name in ASSETS:
            text = node(group, name).text
            assert "Latest event" in text and "Asset checks" in text, (group, text)
    # Each drift report's node carries its four checks (no_dataset_drift, no_multivariate_drift,
    # no_data_quality_regression, no_prediction_drift): the latest period drifted in each monitor, so at most 3 of
    # 4 passed.
    ui.wait(lambda: all(re.search(r"\b[0-3] / 4 Passed", node(g, "drift_report").text) for g in MONITORS),
            "the check status on each drift_report's node")
    time.sleep(1)  # the graph's zoom-to-fit animation
    shot = ui.screenshot("asset_graph")
    assert_picture(shot)


def test_asset_pages_name_the_monitors_group_and_the_stage(ui: UI) -> None:
    """The stages (ingestion, monitoring, training) were groups; the group is now the monitor, the stage a tag."""
    for name, stage in ASSETS.items():
        ui.open(f"/assets/bike_sharing/{name}")
        ui.wait_text("Definition", "Group\nbike_sharing", f"drift_platform/stage: {stage}", OWNERS["bike_sharing"])
    ui.open("/assets/grid_load/drift_report")
    ui.wait_text("Definition", "Group\ngrid_load", "drift_platform/stage: monitoring", OWNERS["grid_load"])


def test_drift_report_page_shows_the_metadata_table_and_the_check(ui: UI) -> None:
    from selenium.webdriver.common.by import By

    ui.open(f"/assets/bike_sharing/drift_report?view=partitions&partition={SHOWN_WEEK}")
    ui.wait_text("bike_sharing", SHOWN_WEEK, "Metadata", "columns", "top_drifted_columns", "report_html", "drift_share")
    # The per-column table is rendered as a table (markdown metadata), one row per monitored column.
    def column_rows() -> list[str]:
        tables = ui.driver.find_elements(By.XPATH, "//th[normalize-space()='method']/ancestor::table[1]")
        return [row.text for row in tables[0].find_elements(By.XPATH, "./tbody/tr")] if tables else []

    ui.wait(lambda: len(column_rows()) == 5, "the per-column metadata table")
    rows = {row.split()[0]: row for row in column_rows()}
    assert set(rows) == {"weathersit", "temp", "atemp", "hum", "windspeed"}
    assert "K-S p_value" in rows["temp"] and rows["temp"].endswith("True")
    body = ui.body()
    assert "temp (K-S p_value" in body  # top drifted columns, inline
    # The report, one click to copy: in the monitor's folder of the store, the file the run wrote.
    [report] = (ui.data_dir / "store" / "bike_sharing" / "drift_reports" / SHOWN_WEEK).glob("*.html")
    assert str(report) in body
    assert_picture(ui.screenshot("drift_report"))

    ui.open("/assets/bike_sharing/drift_report?view=checks&checkDetail=no_dataset_drift")  # one of its three
    ui.wait_text("no_dataset_drift", "Evaluation result", "Failed", "monitored columns drifted",
                 "monitor bike_sharing", f"period {DRIFTING_WEEKS[-1]}")
    assert "This is a non-blocking asset check." in ui.body()
    assert_picture(ui.screenshot("drift_report_check"))


def test_drift_trend_shows_the_table_and_the_chart(ui: UI) -> None:
    from selenium.webdriver.common.by import By

    ui.open("/assets/grid_load/drift_trend")  # the daily monitor's trend: its days
    ui.wait_text("grid_load", "periods", "drifted_periods", "chart_preview", *QUIET_DAYS, *DRIFTING_DAYS)

    ui.open("/assets/bike_sharing/drift_trend")
    ui.wait_text("bike_sharing", "periods", "drifted_periods", "chart_preview", *QUIET_WEEKS, *DRIFTING_WEEKS)
    label = ui.driver.find_element(By.XPATH, "//span[normalize-space(text())='chart_preview']")
    row = label.find_element(By.XPATH, "./ancestor::tr[1]")
    ui.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", row)
    row.find_element(By.XPATH, ".//a[normalize-space()='[Show Markdown]']").click()

    def chart():
        images = ui.driver.find_elements(By.CSS_SELECTOR, "img[src^='data:image/png']")
        loaded = [i for i in images if ui.driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", i)]
        return loaded[0] if loaded else None

    image = ui.wait(chart, "the trend chart as an image")
    dialog = image.find_element(By.XPATH, "./ancestor::*[@role='dialog'][1]")
    ui.wait(lambda: ui.driver.execute_script("return getComputedStyle(arguments[0]).opacity", dialog) == "1",
            "the chart's dialog, opened")
    time.sleep(0.5)
    assert image.size["width"] > 400 and image.size["height"] > 300
    assert_picture(ui.screenshot("drift_trend"))


def test_the_webservers_resources_are_the_runs_files(ui: UI) -> None:
    """DRIFT_DATA_DIR reached the webserver: its store and warehouse are the ones the runs wrote to."""
    location = "/locations/drift_platform.definitions/resources"
    ui.open(f"{location}/store")
    ui.wait_text("LocalObjectStore", "root", json.dumps(str(ui.data_dir / "store")))
    ui.open(f"{location}/warehouse")
    ui.wait_text("WarehouseResource", "url", json.dumps(f"sqlite:///{ui.data_dir / 'warehouse.db'}"))
    assert (ui.data_dir / "warehouse.db").is_file()


def assert_picture(path: Path) -> None:
    """A real page, not a blank or an error screen: the full size, and thousands of colours (anti-aliased text)."""
    from PIL import Image

    with Image.open(path) as image:
        assert image.size == VIEWPORT
        assert image.convert("RGB").getcolors(maxcolors=500) is None, f"{path} looks blank"


def follow_to_viewer(ui: UI, link):
    """Click a link to Evidently's UI and follow it: into the tab it opens (sized as the first), or this one.
    Returns what brings the test back: closing that tab."""
    before = set(ui.driver.window_handles)
    link.click()
    ui.wait(lambda: len(ui.driver.window_handles) > len(before) or ui.driver.current_url.startswith(ui.viewer.url),
            "the link to open")
    opened = set(ui.driver.window_handles) - before
    if opened:
        ui.driver.switch_to.window(opened.pop())
        ui.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",  # the new tab: the same size as the first
                                  {"width": 1600, "height": 1300, "deviceScaleFactor": 1, "mobile": False})

    def back() -> None:
        if opened:
            ui.driver.close()
            ui.driver.switch_to.window(next(iter(before)))

    return back


def test_the_report_link_opens_the_week_in_evidently_ui_and_its_dashboard_has_every_week(ui: UI) -> None:
    """From the drift report's partition page in the Dagster UI, one click on `report_url` lands on Evidently's
    page of that week's report, which shows the drift share the Dagster metadata shows; the monitor's project
    dashboard has one point per materialized week."""
    from selenium.webdriver.common.by import By

    ui.open(f"/assets/bike_sharing/drift_report?view=partitions&partition={SHOWN_WEEK}")
    ui.wait_text("report_url", "drift_share")
    share = float(re.search(r"drift_share\s*\n?\s*([0-9.]+)", ui.body()).group(1))
    link = ui.wait(lambda: next((a for a in ui.driver.find_elements(By.TAG_NAME, "a")
                                 if (a.get_attribute("href") or "").startswith(ui.viewer.url + "/projects/")), None),
                   "the report_url link")
    [project] = [p for p in ui.viewer.projects() if p["name"] == "bike_sharing"]
    [run] = [r for r in ui.viewer.runs(project["id"]) if r["metadata"]["period"] == SHOWN_WEEK]
    assert link.get_attribute("href") == f"{ui.viewer.url}/projects/{project['id']}/reports/{run['id']}"
    back = follow_to_viewer(ui, link)
    ui.wait_text("Dataset Drift", "Share of Drifted Columns", "Drifted Columns")
    drifted, total = round(share * 5), 5
    ui.wait_text(f"Drift is detected for {share * 100:.1f}% of columns ({drifted} out of {total}).")
    assert f"{share:g}" in ui.body().split("Share of Drifted Columns")[0]  # the tile above the label
    ui.screenshot("evidently_report")

    ui.driver.get(f"{ui.viewer.url}/projects/{project['id']}")
    weeks = len(PERIODS["bike_sharing"])

    def marks() -> list[int]:  # the points (marks) of each line chart on the page (MUI X charts: svg circles)
        return ui.driver.execute_script(
            "return [...document.querySelectorAll('svg')].map(s => s.querySelectorAll('circle').length)"
            ".filter(n => n > 0)")

    # share, count, one per monitored column; data quality: missing share, outside range or unseen levels (one
    # line per monitored column, 5), regressed columns
    ui.wait(lambda: len(marks()) == 2 + 5 + 3, "the dashboard's ten panels")
    assert marks() == [weeks] * 7 + [5 * weeks, 5 * weeks, weeks], marks()  # one point per week and line
    ui.wait_text("Dataset drift share (the dataset drifts at 0.50)", f"{SHOWN_WEEK} 00:00:00")
    ui.screenshot("evidently_dashboard")
    back()


def test_the_quality_link_opens_a_classifiers_week_in_evidently_ui_with_its_confusion_matrix(ui: UI) -> None:
    """From the churn predictions' partition page in the Dagster UI, one click on `quality_report_url` lands on
    Evidently's quality report of that week (ClassificationPreset), whose confusion matrix is drawn with the counts
    of the week's labelled predictions in the warehouse."""
    import pandas as pd
    from selenium.webdriver.common.by import By
    from sklearn.metrics import confusion_matrix

    from drift_platform.core.intake.dataset import DatasetSpec
    from drift_platform.core.ml.predictions import predictions_layout
    from drift_platform.resources import WarehouseResource

    ui.open(f"/assets/churn/predictions?view=partitions&partition={CHURN_JUDGED}")
    ui.wait_text("quality_report_url", "quality_run_id", "log_loss")
    link = ui.wait(lambda: next((a for a in ui.driver.find_elements(By.TAG_NAME, "a")
                                 if (a.get_attribute("href") or "").startswith(ui.viewer.url + "/projects/")), None),
                   "the quality_report_url link")
    [project] = [p for p in ui.viewer.projects() if p["name"] == "churn"]
    [run] = [r for r in ui.viewer.runs(project["id"]) if "quality" in r["tags"]]
    assert run["metadata"]["period"] == CHURN_JUDGED
    assert link.get_attribute("href") == f"{ui.viewer.url}/projects/{project['id']}/reports/{run['id']}"
    back = follow_to_viewer(ui, link)
    ui.wait_text("Classification Model Performance. Target: 'churned", "Confusion Matrix", "ROC AUC", "LogLoss")

    def heatmap() -> dict | None:  # the confusion matrix: the plot titled Predicted / Actual Value, its cells
        return ui.driver.execute_script(
            "const p = [...document.querySelectorAll('.js-plotly-plot')].find(p => p.querySelector('.hm') && "
            "(p.querySelector('.xtitle') || {}).textContent === 'Predicted Value'); return p ? {y: "
            "p.querySelector('.ytitle').textContent, cells: [...p.querySelectorAll('.hm text')].map(t => "
            "t.textContent)} : null")

    drawn = ui.wait(heatmap, "the confusion matrix's heatmap")
    spec = DatasetSpec.from_yaml(REPO / "data" / "churn.yaml")
    start = pd.Timestamp(CHURN_JUDGED)
    stored = WarehouseResource(url=f"sqlite:///{ui.data_dir / 'warehouse.db'}").read(
        "churn_predictions", predictions_layout(spec, [0, 1]), start, start + pd.Timedelta(days=7)).dropna(
        subset=["churned"])
    counts = confusion_matrix(stored["churned"].astype(int), stored["predicted_churned"].astype(int), labels=[0, 1])
    assert drawn == {"y": "Actual Value", "cells": [str(n) for n in counts.ravel()]}, drawn
    ui.driver.execute_script("document.querySelector('.hm').scrollIntoView({block: 'center'})")
    time.sleep(0.5)
    ui.screenshot("evidently_quality_report")
    back()
