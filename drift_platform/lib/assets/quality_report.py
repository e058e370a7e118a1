"""Evidently's quality report of each period with labels (drift_platform/core/ml/quality_report.py), published by
the predictions asset of every monitor (a platform model's, lib/assets/predictions.py, and an external model's,
lib/assets/logged_predictions.py): a run of the monitor's Evidently project, one per period (a re-run replaces
the period's earlier quality run), its HTML in the monitor's folder of the store, links in the metadata. A viewer
that is down never fails the step: the snapshot stays in the store and the metadata says the push failed.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from drift_platform.core.names import LABELS, PREDICTIONS
from drift_platform.core.settings import Monitor
from drift_platform.lib.assets import DataFrame, asset_key
from drift_platform.lib.assets.drift_report import recorded_viewer_runs
from drift_platform.resources import ObjectStore, ReportViewer

QUALITY_RUN_ID = "quality_run_id"
QUALITY_URL = "quality_report_url"
QUALITY_HTML = "quality_report_html"
QUALITY_PUSH = "quality_viewer_push"
QUALITY_SNAPSHOT = "quality_snapshot_key"  # where a quality report the viewer did not take waits


def quality_key(period: str, run_id: str, suffix: str) -> str:
    """A period's quality report in the monitor's folder of the store, versioned per Dagster run."""
    return f"quality_reports/{period}/{run_id}.{suffix}"


def quality_run(context, monitor: Monitor, period: str):
    """What Evidently's UI shows of the period's quality run: the period's start as its time (the dashboard plots
    periods in order), its name and metadata."""
    import pandas as pd

    from drift_platform.core.stats.drift import RunInfo

    return RunInfo(timestamp=pd.Timestamp(period).to_pydatetime(), name=f"{monitor.period_label} {period} quality",
                   metadata={"monitor": monitor.name, "period": period, "report": "quality",
                             "dagster_run_id": context.run.run_id})


def publish_quality_report(context, monitor: Monitor, period: str, snapshot: Any, viewer: ReportViewer,
                           folder) -> dict[str, dg.MetadataValue]:
    """One period's quality snapshot: its HTML stored, then a run of the monitor's project replacing the period's
    earlier one; when the viewer is down, the snapshot stored and the failure in the metadata."""
    from drift_platform.core.stats.drift import snapshot_html
    from drift_platform.resources.viewer import ViewerUnavailable

    run_id = context.run.run_id
    html_key = quality_key(period, run_id, "html")
    folder.write_bytes(html_key, snapshot_html(snapshot), "text/html")
    metadata = {QUALITY_HTML: folder.link(html_key)}
    # The period's quality run may have been published by its predictions or, once late labels landed, by its
    # labels: either replaces the other's, so Evidently shows one quality run a period.
    earlier = [run for name in (PREDICTIONS, LABELS)
               for run in recorded_viewer_runs(context.instance, asset_key(monitor, name), period, QUALITY_RUN_ID)]
    try:
        published = viewer.publish(monitor.name, monitor.description, snapshot, replaces=earlier, log=context.log)
    except ViewerUnavailable as exc:
        snapshot_key = quality_key(period, run_id, "snapshot.json")
        folder.write_bytes(snapshot_key, snapshot.dumps().encode(), "application/json")
        context.log.warning(f"{monitor.name} {period}: the quality report is in the store ({snapshot_key}); "
                            f"Evidently UI ({viewer.describe()}) did not take it: {exc}")
        return {**metadata, QUALITY_PUSH: dg.MetadataValue.text(f"failed: {exc}"),
                QUALITY_RUN_ID: dg.MetadataValue.text("-"), QUALITY_SNAPSHOT: dg.MetadataValue.text(snapshot_key)}
    return {**metadata, QUALITY_URL: dg.MetadataValue.url(published.url), QUALITY_PUSH: dg.MetadataValue.text("ok"),
            QUALITY_RUN_ID: dg.MetadataValue.text(published.run_id)}


def publish_quality_reports(context, monitor: Monitor, frames: Mapping[str, DataFrame], classes: Any,
                            viewer: ReportViewer, store: ObjectStore) -> dict[str, dict[str, dg.MetadataValue]]:
    """Each period's quality report (frames: period -> its predictions frame, in predictions_layout(spec,
    classes)) for the periods with a labelled, predicted row: period -> the metadata to add to the period's
    materialization (`quality_report_url` when the viewer took it, `quality_report_html`, `quality_run_id`,
    `quality_viewer_push`). Periods without a report (core/ml/quality_report.py `no_report_reason`: no labels,
    one class only) are left out. A monitor that estimates its metric gets its realized value in the run."""
    from drift_platform.core.ml.quality_report import definition_and_rows, no_report_reason, quality_snapshot
    from drift_platform.lib.assets.estimate_report import with_realized

    folder, published = store.scoped(monitor.name), {}
    for period, frame in frames.items():
        snapshot = quality_snapshot(frame, monitor.spec, classes, quality_run(context, monitor, period))
        if snapshot is None:
            why = no_report_reason(definition_and_rows(frame, monitor.spec, classes)[1], monitor.spec)
            context.log.info(f"{monitor.name} {period}: no quality report ({why})")
            continue
        snapshot = with_realized(monitor, snapshot, frame, classes)  # beside the estimate on the dashboard
        published[period] = publish_quality_report(context, monitor, period, snapshot, viewer, folder)
    return published
