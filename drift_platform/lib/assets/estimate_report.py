"""A period's estimated metric (`no_estimated_degradation`'s estimate: CBPE, DLE) as a small run of the monitor's
Evidently project, published by the predictions asset of a monitor that estimates (lib/assets/predictions.py,
lib/assets/logged_predictions.py): one run per period (a re-run replaces the period's earlier estimate run),
tagged "estimate", which the dashboard's "Estimated vs realized <metric>" panel plots beside the quality runs'
realized value (core/evidently_workspace.py). A viewer that is down never fails the step: the snapshot stays in
the store for `<monitor>_viewer_sync_job` and the metadata says the push failed.
"""

from collections.abc import Mapping

import dagster as dg

from drift_platform.core.names import PREDICTIONS
from drift_platform.core.settings import Monitor
from drift_platform.lib.assets import asset_key
from drift_platform.lib.assets.drift_report import recorded_viewer_runs
from drift_platform.resources import ObjectStore, ReportViewer

ESTIMATE_RUN_ID = "estimate_run_id"
ESTIMATE_URL = "estimate_report_url"
ESTIMATE_PUSH = "estimate_viewer_push"
ESTIMATE_SNAPSHOT = "estimate_snapshot_key"  # where an estimate run the viewer did not take waits


def monitor_metric(monitor: Monitor) -> str:
    """The monitor's metric (training.metric, or its task's default), e.g. log_loss, rmsle."""
    from drift_platform.core.ml.recipe import recipe_of

    return recipe_of(monitor.spec, monitor.training).metric


def estimated_metric(monitor: Monitor) -> str | None:
    """The metric the dashboard's "Estimated vs realized" panel plots: the monitor's, when it estimates it."""
    return monitor_metric(monitor) if monitor.estimates else None


def with_realized(monitor: Monitor, snapshot, frame, classes):
    """A period's quality snapshot with the realized value of the monitor's metric on its labelled rows (`frame`:
    its predictions, in predictions_layout), as the quality check computes it, for the dashboard's "Estimated vs
    realized" panel: only for a monitor that estimates, and when the rows define the value."""
    if not monitor.estimates:
        return snapshot
    from drift_platform.core.evidently_workspace import add_realized_metric
    from drift_platform.core.intake.dataset import positive_of
    from drift_platform.core.ml.predictions import prediction_numbers
    from drift_platform.core.ml.training import Scoring

    spec, metric = monitor.spec, monitor_metric(monitor)
    given = spec.label(spec.positive_class) if spec.positive_class is not None else None
    positive = positive_of(list(classes), given) if classes and len(classes) == 2 else None
    scoring = Scoring(metric, tuple(classes) if classes else None, positive)
    value = prediction_numbers(frame, spec, None, scoring).get(metric)
    return snapshot if value is None else add_realized_metric(snapshot, metric, value)


def estimate_key(period: str, run_id: str) -> str:
    """A period's estimate snapshot in the monitor's folder of the store, versioned per Dagster run."""
    return f"estimate_reports/{period}/{run_id}.snapshot.json"


def estimate_snapshot_of(context, monitor: Monitor, period: str, estimate: Mapping[str, float]):
    """The period's estimate run: the period's start as its time (the dashboard plots periods in order)."""
    import pandas as pd

    from drift_platform.core.evidently_workspace import estimate_snapshot

    return estimate_snapshot(monitor_metric(monitor), estimate, pd.Timestamp(period).to_pydatetime(),
                             f"{monitor.period_label} {period} estimate",
                             {"monitor": monitor.name, "period": period, "report": "estimate",
                              "dagster_run_id": context.run.run_id})


def publish_estimate_run(context, monitor: Monitor, period: str, estimate: Mapping[str, float],
                         viewer: ReportViewer, folder) -> dict[str, dg.MetadataValue]:
    """One period's estimate as a run of the monitor's project replacing the period's earlier one; when the
    viewer is down, the snapshot stored and the failure in the metadata."""
    from drift_platform.resources.viewer import ViewerUnavailable

    snapshot = estimate_snapshot_of(context, monitor, period, estimate)
    earlier = recorded_viewer_runs(context.instance, asset_key(monitor, PREDICTIONS), period, ESTIMATE_RUN_ID)
    try:
        published = viewer.publish(monitor.name, monitor.description, snapshot, replaces=earlier, log=context.log)
    except ViewerUnavailable as exc:
        snapshot_key = estimate_key(period, context.run.run_id)
        folder.write_bytes(snapshot_key, snapshot.dumps().encode(), "application/json")
        context.log.warning(f"{monitor.name} {period}: the estimate run is in the store ({snapshot_key}); "
                            f"Evidently UI ({viewer.describe()}) did not take it: {exc}")
        return {ESTIMATE_PUSH: dg.MetadataValue.text(f"failed: {exc}"), ESTIMATE_RUN_ID: dg.MetadataValue.text("-"),
                ESTIMATE_SNAPSHOT: dg.MetadataValue.text(snapshot_key)}
    return {ESTIMATE_URL: dg.MetadataValue.url(published.url), ESTIMATE_PUSH: dg.MetadataValue.text("ok"),
            ESTIMATE_RUN_ID: dg.MetadataValue.text(published.run_id)}


def publish_estimate_runs(context, monitor: Monitor, estimates: dict[str, dict[str, float]], viewer: ReportViewer,
                          store: ObjectStore) -> dict[str, dict[str, dg.MetadataValue]]:
    """Each period's estimate of the monitor's metric as a run of its Evidently project. `estimates`: period ->
    {"value": the point estimate, "lower": its band's lower bound, "upper": its upper bound} (floats; a bound that
    is None is the value; other keys are ignored; a period absent, or whose value is None, gets no run). Returns period -> the metadata to add to
    the period's materialization: `estimate_run_id` ("-" when the viewer did not take it), `estimate_viewer_push`
    ("ok" or "failed: why"), and `estimate_report_url` (taken) or `estimate_snapshot_key` (waiting in the store
    for the viewer sync job)."""
    folder, published = store.scoped(monitor.name), {}
    for period, estimate in estimates.items():
        if estimate.get("value") is None:
            continue
        parts = {part: float(estimate[part] if estimate.get(part) is not None else estimate["value"])
                 for part in ("value", "lower", "upper")}
        published[period] = publish_estimate_run(context, monitor, period, parts, viewer, folder)
    return published
