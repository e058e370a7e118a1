"""Estimated performance of each period before its labels (issue 22): the estimator fitted on the reference
(core/ml/estimation.py: CBPE for a classifier, DLE for a regressor) and the period estimates that the predictions
asset adds to its metadata when the monitor estimates (`monitor.estimates`), which `no_estimated_degradation`
(lib/checks.py) judges.

The estimator is fitted on the reference table's labelled rows with the model's outputs there: the champion's
predictions for a model the platform serves, the logged ones for an external model. It is kept in the monitor's
store folder (core/ml/estimator_store.py) keyed by the model version and a digest of the reference table's
warehouse fingerprint (all its columns) and of what shapes the estimator: a new champion, or a changed reference,
refits it; a run of an unchanged one reads it back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dagster as dg

from drift_platform.core.settings import Monitor
from drift_platform.resources import ObjectStore, ReportViewer, WarehouseResource

if TYPE_CHECKING:
    from drift_platform.lib.assets import DataFrame

SKIPPED = "estimation_skipped"  # why a period has no estimate (metadata), read by no_estimated_degradation


def estimated_keys(metric: str) -> tuple[str, str, str]:
    """The metadata keys of a period's estimate: estimated_<m>, estimated_<m>_lower, estimated_<m>_upper."""
    return f"estimated_{metric}", f"estimated_{metric}_lower", f"estimated_{metric}_upper"


def reference_digest(monitor: Monitor, warehouse: WarehouseResource, metric: str) -> str:
    """A digest of the reference table (its warehouse fingerprint over every column but datetimes, whose bounds it
    holds; one scan, no rows read) and of what shapes the estimator (the metric, calibration and seed)."""
    import hashlib
    import json

    layout, estimation = monitor.spec.layout, monitor.estimation
    columns = [c for c, kind in layout.columns.items() if kind != "datetime"]
    shaped = {"reference": warehouse.fingerprint(monitor.table("reference"), layout, columns), "metric": metric,
              "calibration": estimation.calibration, "seed": estimation.seed}
    return hashlib.sha256(json.dumps(shaped, sort_keys=True, default=str).encode()).hexdigest()[:12]


def model_manifest(monitor: Monitor, warehouse: WarehouseResource, store: ObjectStore, version: str, log) -> dict:
    """The manifest of the model that made the predictions: the champion version's, or the external model's."""
    from drift_platform.core.ml.model_registry import read_manifest
    from drift_platform.lib.assets.logged_predictions import external_manifest_for

    if monitor.external:
        return external_manifest_for(monitor, warehouse, store, log)
    return read_manifest(store.scoped(monitor.name), version)


def reference_outputs(monitor: Monitor, reference: DataFrame, model: Any, version: str, classes) -> DataFrame:
    """The model's outputs on the reference rows (in the predictions table's layout, time order): the champion's
    predictions, or the external model's logged ones."""
    from drift_platform.core.ml.external import logged_predictions_frame
    from drift_platform.core.ml.predictions import predictions_frame

    if monitor.external:
        return logged_predictions_frame(reference, monitor.spec, classes)
    return predictions_frame(model, reference, monitor.spec, version, classes)


def estimator_for(monitor: Monitor, warehouse: WarehouseResource, store: ObjectStore, version: str, model: Any,
                  log) -> tuple[Any, dict]:
    """The estimator of the monitor's metric for the model `version` (`model`: the champion; None for an external
    model) and its store manifest: read from the store, else fitted on the reference table's rows and kept there.
    A stored one that is tampered with or unreadable is refitted, with a warning."""
    import time

    from drift_platform.core.ml.estimation import estimation_method, fit_on_table
    from drift_platform.core.ml.estimator_store import estimator_stem, stored_or_fitted
    from drift_platform.core.ml.training import in_time_order, scoring_from_manifest
    from drift_platform.lib.assets.ingestion import ensure_reference

    spec, settings = monitor.spec, monitor.estimation
    scoring = scoring_from_manifest(model_manifest(monitor, warehouse, store, version, log))
    reference = ensure_reference(monitor, warehouse, store, log) if not warehouse.table_exists(
        monitor.table("reference")) else None
    digest = reference_digest(monitor, warehouse, scoring.metric)
    classes = list(scoring.classes) if scoring.classes is not None else None

    def fit() -> tuple[Any, dict]:
        started = time.perf_counter()
        rows = in_time_order(reference if reference is not None else warehouse.read(
            monitor.table("reference"), spec.layout), spec).reset_index(drop=True)
        outputs = reference_outputs(monitor, rows, model, version, classes)
        estimator = fit_on_table(scoring.metric, outputs, spec, classes, scoring.positive,
                                 None if classes else rows, calibration=settings.calibration, seed=settings.seed)
        log.info(f"{estimation_method(estimator)} of {scoring.metric} fitted for model {version} on "
                 f"{estimator.reference_rows} reference rows in {time.perf_counter() - started:.2f} s")
        return estimator, {"metric": scoring.metric, "model_version": version, "reference_version": digest,
                           "rows": estimator.reference_rows, "calibration": getattr(estimator, "method", None)}

    estimator, manifest, _ = stored_or_fitted(store.scoped(monitor.name), estimator_stem(version, digest), fit,
                                              log.warning)
    return estimator, manifest


def period_estimates(monitor: Monitor, estimator: Any, manifest: dict, frames: dict[str, DataFrame],
                     batches: dict[str, DataFrame]) -> dict[str, dict[str, Any]]:
    """Each period's estimate of the metric from its rows of the predictions table (`frames`; a regressor's
    features from `batches`), as plain metadata values: estimated_<m>, estimated_<m>_lower, estimated_<m>_upper,
    estimation_method, estimator (its store key); a period that cannot be estimated (no row with the model's
    outputs): estimation_skipped, saying why."""
    from drift_platform.core.ml.estimation import CBPEstimator, estimate_on_table, estimation_method
    from drift_platform.core.ml.training import in_time_order

    metric, spec = manifest["metric"], monitor.spec
    found: dict[str, dict[str, Any]] = {}
    for period, frame in frames.items():
        features = None if isinstance(estimator, CBPEstimator) else in_time_order(
            batches[period], spec).reset_index(drop=True)
        try:
            e = estimate_on_table(estimator, metric, frame, spec, features, seed=monitor.estimation.seed)
        except ValueError as exc:
            found[period] = {SKIPPED: f"{period} cannot be estimated: {exc}"}
            continue
        found[period] = {**dict(zip(estimated_keys(metric), (e.value, e.lower, e.upper), strict=True)),
                         "estimation_method": estimation_method(estimator), "estimator": manifest["artifact"]}
    return found


def estimate_metadata(context, monitor: Monitor, warehouse: WarehouseResource, store: ObjectStore,
                      viewer: ReportViewer, version: str, model: Any, frames: dict[str, DataFrame],
                      batches: dict[str, DataFrame]) -> dict[str, dict[str, dg.MetadataValue]]:
    """The predictions asset's hook: each period's estimate (`period_estimates`) as metadata, with its Evidently
    estimate run (lib/assets/estimate_report.py); {} when the monitor does not estimate. An estimator that cannot
    be fitted (e.g. a reference of one class) skips every period, saying why, and fails no step."""
    import time

    from drift_platform.lib.assets.drift_report import as_metadata
    from drift_platform.lib.assets.estimate_report import publish_estimate_runs

    if not monitor.estimates:
        return {}
    try:
        estimator, manifest = estimator_for(monitor, warehouse, store, version, model, context.log)
    except ValueError as exc:
        context.log.warning(f"no estimate of the model's performance: {exc}")
        return {period: {SKIPPED: dg.MetadataValue.text(f"the estimator cannot be fitted: {exc}")} for period in frames}
    started = time.perf_counter()
    values = period_estimates(monitor, estimator, manifest, frames, batches)
    context.log.info(f"{len(values)} period estimate(s) in {time.perf_counter() - started:.2f} s")
    keys = estimated_keys(manifest["metric"])
    runs = publish_estimate_runs(context, monitor, {
        period: dict(zip(("value", "lower", "upper"), (v[k] for k in keys), strict=True))
        for period, v in values.items() if keys[0] in v}, viewer, store)
    return {period: {**as_metadata(v), **runs.get(period, {})} for period, v in values.items()}
