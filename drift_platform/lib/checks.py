"""Asset checks: the properties that should hold of each period's data and of the model's error on it."""

import warnings
from collections.abc import Callable

import dagster as dg

from drift_platform.core.names import (
    NO_DATA_QUALITY_CHECK,
    NO_DATASET_DRIFT_CHECK,
    NO_ESTIMATED_DEGRADATION_CHECK,
    NO_MODEL_DEGRADATION_CHECK,
    NO_MULTIVARIATE_DRIFT_CHECK,
    NO_PREDICTION_DRIFT_CHECK,
)
from drift_platform.core.settings import Monitor, QualitySettings
from drift_platform.lib.jobs import retry_policy
from drift_platform.lib.partitions import by_period, period_windows
from drift_platform.lib.run_config import run_config_class, settings_from
from drift_platform.resources import ObjectStore, WarehouseResource

# Partitioned asset checks are a preview feature in Dagster 1.13; this project relies on them knowingly.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=Warning)


def drift_check_result(summary: dict) -> dg.AssetCheckResult:
    """`no_dataset_drift` from the drift report's summary: the share of drifted columns against the threshold."""
    drifted = summary["drifted_columns"]
    return dg.AssetCheckResult(
        passed=not summary["dataset_drift"],
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"{len(drifted)} of {len(summary['columns'])} monitored columns drifted "
            f"(share {summary['share']:.2f}, threshold {summary['drift_share_threshold']:.2f})"
        ),
        metadata={
            "monitor": dg.MetadataValue.text(summary["monitor"]),
            "period": dg.MetadataValue.text(summary["period"]),
            "drift_share": dg.MetadataValue.float(summary["share"]),
            "drift_share_threshold": dg.MetadataValue.float(summary["drift_share_threshold"]),
            "drifted_columns": dg.MetadataValue.text(", ".join(drifted) or "-"),
            "drifted_count": dg.MetadataValue.int(len(drifted)),
            "report_html": dg.MetadataValue.text(summary["report_html"]),
            **({"report_url": dg.MetadataValue.url(summary["report_url"])} if summary.get("report_url") else {}),
        },
    )


def summary_check_head(summary: dict, numbers: dict
                       ) -> tuple[dg.AssetCheckSeverity, dict[str, dg.MetadataValue], dg.AssetCheckResult | None]:
    """What a check of the drift report's summary starts with, from its part of the summary (`numbers`): its
    severity, the monitor and period as metadata, and its passing result when it did not judge the period
    ({"skipped": why}; else None)."""
    level = dg.AssetCheckSeverity(numbers["severity"])
    metadata: dict[str, dg.MetadataValue] = {
        "monitor": dg.MetadataValue.text(summary["monitor"]),
        "period": dg.MetadataValue.text(summary["period"]),
    }
    if "skipped" not in numbers:
        return level, metadata, None
    return level, metadata, dg.AssetCheckResult(passed=True, severity=level, metadata=metadata,
                                                description=f"not evaluated: {numbers['skipped']}")


def multivariate_check_result(summary: dict) -> dg.AssetCheckResult:
    """`no_multivariate_drift` from the drift report's summary: the domain classifier's AUC against the threshold
    the reference's own chunks set, the p-value, the columns it leaned on most, and how the null's chunks were
    drawn (`null_method`: contiguous blocks; absent from summaries made before it existed)."""
    numbers = summary["multivariate"]
    level, metadata, skipped = summary_check_head(summary, numbers)
    if skipped is not None:
        return skipped
    top = numbers["top_columns"]
    metadata.update({
        "auc": dg.MetadataValue.float(numbers["auc"]),
        "threshold": dg.MetadataValue.float(numbers["threshold"]),
        "p_value": dg.MetadataValue.float(numbers["p_value"]),
        "null_draws": dg.MetadataValue.int(numbers["null_draws"]),
        "null_median_auc": dg.MetadataValue.float(numbers["null_median"]),
        "reference_rows_used": dg.MetadataValue.int(numbers["rows_used"][0]),
        "current_rows_used": dg.MetadataValue.int(numbers["rows_used"][1]),
        "top_columns": dg.MetadataValue.text(", ".join(f"{c} ({w:.2f})" for c, w in top.items()) or "-"),
        "method": dg.MetadataValue.text(numbers["method"]),
        **({"null_method": dg.MetadataValue.text(numbers["null_method"])} if numbers.get("null_method") else {}),
    })
    if numbers.get("judged") is False:
        metadata["judged"] = dg.MetadataValue.bool(False)
        return dg.AssetCheckResult(passed=True, severity=level, metadata=metadata, description=(
            f"not judged: the reference's own periods are told from the rest of it perfectly (threshold AUC "
            f"{numbers['threshold']:.2f}), so no period can be shown to differ more; a longer reference is needed "
            f"(this period's AUC {numbers['auc']:.3f} is in the metadata)"))
    return dg.AssetCheckResult(
        passed=not numbers["drifted"],
        severity=level,
        description=(f"domain classifier AUC {numbers['auc']:.3f} {'above' if numbers['drifted'] else 'within'} the "
                     f"threshold {numbers['threshold']:.3f} set by the reference's own chunks (p = "
                     f"{numbers['p_value']:.3f}); leaned on {', '.join(list(top)[:3]) or '-'}"),
        metadata=metadata,
    )


def data_quality_metadata(numbers: dict) -> dict[str, dg.MetadataValue]:
    """A judged period's data-quality metadata: the per-column markdown table (column, measure, reference
    value, period value, bound, passed), the counts and the worst column's measure."""
    from drift_platform.core.stats.quality import measure_text, quality_table

    worst = numbers["worst"]
    return {
        "columns": dg.MetadataValue.md(quality_table(numbers["table"])),
        "columns_checked": dg.MetadataValue.int(numbers["columns_checked"]),
        "columns_failed": dg.MetadataValue.int(numbers["columns_failed"]),
        "failed_columns": dg.MetadataValue.text(", ".join(numbers["failed_columns"]) or "-"),
        "worst_column": dg.MetadataValue.text(worst["column"]),
        "worst_measure": dg.MetadataValue.text(worst["measure"]),
        "worst_share": dg.MetadataValue.float(worst["period"]),
        "worst_bound": dg.MetadataValue.float(worst["bound"]),
        "worst": dg.MetadataValue.text(measure_text(worst)),
        "period_rows": dg.MetadataValue.int(numbers["rows"]),
        "reference_periods": dg.MetadataValue.int(numbers["blocks"]),
    }


def data_quality_check_result(summary: dict) -> dg.AssetCheckResult:
    """`no_data_quality_regression` from the drift report's summary: each monitored column's missing and
    outside-range / unseen-level shares against the bounds the reference's own periods set
    (core/stats/quality.py), with `data_quality_metadata`."""
    from drift_platform.core.stats.quality import quality_description

    level, metadata, skipped = summary_check_head(summary, summary["data_quality"])
    if skipped is not None:
        return skipped
    judged = summary["data_quality"]
    return dg.AssetCheckResult(passed=judged["passed"], severity=level, description=quality_description(judged),
                               metadata={**metadata, **data_quality_metadata(judged)})


def metric_label(monitor: Monitor) -> str:
    """How texts name the monitor's metric, e.g. "RMSLE", "ROC AUC"."""
    from drift_platform.core.ml.metrics import METRICS
    from drift_platform.core.ml.recipe import recipe_of

    return METRICS[recipe_of(monitor.spec, monitor.training).metric].label


def quality_metadata(quality, monitor: str, period: str, version: str) -> dict[str, dg.MetadataValue]:
    """The check's metadata, named with the metric m (`metric`; e.g. rmsle, roc_auc): the period's <m>, the bound
    (bound_<m>) and how it was set (the walk-forward baseline's mean, spread and size, or the holdout ratio),
    and why a period was not judged. `bound_direction` says which side fails: "above" for an error (RMSLE, log
    loss: mean + sigmas x std), "below" where greater is better (ROC AUC, F1, accuracy: mean - sigmas x std;
    the ratio bound then scales the shortfall 1 - <m>, and <m>_ratio is (1 - <m>) / (1 - reference))."""
    from drift_platform.core.ml.metrics import METRICS

    m = quality.metric
    metadata: dict[str, dg.MetadataValue] = {
        "monitor": dg.MetadataValue.text(monitor),
        "period": dg.MetadataValue.text(period),
        "model_version": dg.MetadataValue.text(version),
        "metric": dg.MetadataValue.text(m),
        "bound_direction": dg.MetadataValue.text("below" if METRICS[m].greater_is_better else "above"),
        "labelled_rows": dg.MetadataValue.int(quality.rows),
        f"holdout_{m}": dg.MetadataValue.float(quality.holdout),
        "max_ratio": dg.MetadataValue.float(quality.max_ratio),
        "bound_method": dg.MetadataValue.text(quality.method),
        "judged": dg.MetadataValue.bool(quality.judged),
        "note": dg.MetadataValue.text(quality.note or "-"),
    }
    baseline = quality.baseline
    if baseline is not None:
        metadata["baseline_periods"] = dg.MetadataValue.int(baseline.n)
        metadata["baseline_rows"] = dg.MetadataValue.int(sum(baseline.rows))
        if baseline.mean is not None:
            metadata[f"baseline_mean_{m}"] = dg.MetadataValue.float(baseline.mean)
        if baseline.std is not None:
            metadata[f"baseline_std_{m}"] = dg.MetadataValue.float(baseline.std)
    if quality.bound is not None:
        metadata[f"bound_{m}"] = dg.MetadataValue.float(quality.bound)
    if quality.value is not None:
        metadata[m] = dg.MetadataValue.float(quality.value)
        if quality.ratio is not None:
            metadata[f"{m}_ratio"] = dg.MetadataValue.float(quality.ratio)
    return metadata


def quality_check_result(quality, monitor: str, period: str, version: str, severity: str) -> dg.AssetCheckResult:
    """The check's result from `training.period_quality` on the period's stored predictions: the verdict
    (core/ml/quality.py) and the metadata (`quality_metadata`)."""
    from drift_platform.core.ml.quality import quality_verdict

    passed, description = quality_verdict(quality, period, version)
    return dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity(severity), description=description,
                               metadata=quality_metadata(quality, monitor, period, version))


def period_quality_result(monitor: Monitor, settings: QualitySettings, warehouse: WarehouseResource,
                          store: ObjectStore, period: str, start, end) -> dg.AssetCheckResult:
    """`no_model_degradation` for one period: its stored predictions (what users read), the manifest of the one
    model version that made them, judged (core/ml/quality.py); an external model's logged predictions (version
    `external`) by the manifest its reference's logged predictions make (lib/assets/logged_predictions.py).
    Nothing to judge by fails the run, without retries."""
    from drift_platform.core.ml.model_registry import read_manifest
    from drift_platform.core.ml.quality import QualityInputError, judge_period, period_model_version
    from drift_platform.core.names import EXTERNAL_MODEL_VERSION
    from drift_platform.lib.assets.logged_predictions import external_manifest_for
    from drift_platform.lib.assets.predictions import champion_classes, read_period

    folder = store.scoped(monitor.name)
    external = external_manifest_for(monitor, warehouse, store, dg.get_dagster_logger()) if monitor.external else None
    rows = read_period(warehouse, monitor, start, end,
                       external.get("classes") if external else champion_classes(monitor, folder))
    try:
        version = period_model_version(rows, period)
        manifest = external if external and version == EXTERNAL_MODEL_VERSION else read_manifest(folder, version)
        quality = judge_period(rows, monitor.spec, version, manifest, settings)
    except QualityInputError as exc:
        raise dg.Failure(str(exc), allow_retries=False) from exc
    return quality_check_result(quality, monitor.name, period, version, settings.severity)


def latest_materializations(instance: dg.DagsterInstance, asset_key: dg.AssetKey, periods: list[str]) -> dict:
    """Each period's latest materialization record of `asset_key` (none: absent), for a run's periods in one
    query, newest first, so a period's first record is its latest; a period none of whose records came back
    (the others' re-runs filled the limit) is asked alone."""
    limit = 4 * len(periods)
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=periods), limit=limit).records
    latest: dict = {}
    for record in records:
        latest.setdefault(record.partition_key, record)
    for period in (p for p in periods if p not in latest and len(records) == limit):
        found = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[period]), limit=1).records
        if found:
            latest[period] = found[0]
    return latest


def record_per_period(context: dg.AssetCheckExecutionContext,
                      results: dict[str, dg.AssetCheckResult]) -> dg.AssetCheckResult | None:
    """One evaluation per period of the run. A run of one period returns its result, which Dagster records
    against the period. AssetCheckResult has no partition in Dagster 1.13: returned by a run of several periods
    (a backfill) it would be recorded once, without a period, and leave each period's planned evaluation PLANNED.
    So each period's result is logged as an AssetCheckEvaluation naming its partition, which fills that period's
    planned row: the retrain sensor then sees one evaluation per period, as after one run per period."""
    if len(results) == 1:
        return next(iter(results.values()))
    from dagster._core.definitions.asset_checks.asset_check_evaluation import (
        AssetCheckEvaluationTargetMaterializationData,
    )

    spec = context.check_specs[0]
    key = spec.key
    latest = latest_materializations(context.instance, key.asset_key, list(results))
    for period, result in results.items():
        record = latest.get(period)
        target = (AssetCheckEvaluationTargetMaterializationData(
            storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp) if record else None)
        context.op_execution_context.log_event(dg.AssetCheckEvaluation(
            asset_key=key.asset_key, check_name=key.name, passed=result.passed, metadata=result.metadata,
            severity=result.severity, description=result.description, blocking=spec.blocking, partition=period,
            target_materialization_data=target))
    return None


def report_check(monitor: Monitor, drift_report: dg.AssetsDefinition, partitions: dg.PartitionsDefinition, *,
                 name: str, description: str,
                 result: Callable[[dict], dg.AssetCheckResult]) -> dg.AssetChecksDefinition:
    """A check `name` on the monitor's drift report, per period: `result` of each period's summary."""

    @dg.asset_check(
        asset=drift_report,
        name=name,
        partitions_def=partitions,
        retry_policy=retry_policy(monitor),  # as in the drift job, also in an asset backfill's runs
        blocking=False,  # a drifted period is still appended to the history
        description=description,
    )
    def report_check_fn(context: dg.AssetCheckExecutionContext, drift_report: dict) -> dg.AssetCheckResult | None:
        reports = by_period(context, drift_report)
        return record_per_period(context, {period: result(summary) for period, summary in reports.items()})

    return report_check_fn


def dataset_drift_check(monitor: Monitor, drift_report: dg.AssetsDefinition,
                        partitions: dg.PartitionsDefinition) -> dg.AssetChecksDefinition:
    """`no_dataset_drift` on the monitor's drift report, per period."""
    return report_check(
        monitor, drift_report, partitions, name=NO_DATASET_DRIFT_CHECK, result=drift_check_result,
        description="The period's data has not drifted: the share of drifted columns stays below the threshold.",
    )


def model_degradation_check(monitor: Monitor, predictions: dg.AssetsDefinition,
                            partitions: dg.PartitionsDefinition) -> dg.AssetChecksDefinition:
    """`no_model_degradation` on the monitor's stored predictions, per period, checked on `predictions` (the
    predictions asset, or the labels asset of a monitor whose labels arrive late); its run config is the
    monitor's quality settings."""
    QualityConfig = run_config_class(monitor.quality, f"QualityConfig_{monitor.name}")  # noqa: N806

    @dg.asset_check(
        asset=predictions,
        name=NO_MODEL_DEGRADATION_CHECK,
        partitions_def=partitions,
        retry_policy=retry_policy(monitor),  # as in the drift job, also in an asset backfill's runs
        blocking=False,  # a degraded period is still appended to the history; the retrain sensor reacts
        description=(f"The external model's {metric_label(monitor)} on the period's labelled rows (its logged "
                     "predictions) stays within the bound its values on the reference's periods set"
                     if monitor.external else
                     f"The champion's {metric_label(monitor)} on the period's labelled batch stays within the bound "
                     "its recipe's own walk-forward values set") + " (mean + sigmas x std for an error, mean - sigmas "
        "x std where greater is better; or max_ratio x its holdout error): else concept drift, the relation between "
        "features and target changed. Too few labelled rows to tell: passes, and says so.",
    )
    def no_model_degradation(
        context: dg.AssetCheckExecutionContext, config: QualityConfig, warehouse: WarehouseResource,
        store: ObjectStore,
    ) -> dg.AssetCheckResult | None:
        settings = settings_from(config, monitor.quality)
        windows = period_windows(context, partitions)  # one period, or each of a backfill run
        return record_per_period(context, {
            period: with_quality_report_url(context.instance, predictions.key, period,
                                            period_quality_result(monitor, settings, warehouse, store, period,
                                                                  start, end))
            for period, (start, end) in windows.items()
        })

    return no_model_degradation


def latest_metadata(instance: dg.DagsterInstance, key: dg.AssetKey, period: str) -> dict[str, dg.MetadataValue] | None:
    """The metadata of the period's latest materialization of the asset `key` (None: never materialized)."""
    latest = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[period]),
                                             limit=1).records
    return dict(latest[0].asset_materialization.metadata) if latest else None


def with_quality_report_url(instance: dg.DagsterInstance, key: dg.AssetKey, period: str,
                            result: dg.AssetCheckResult) -> dg.AssetCheckResult:
    """The check's result with `quality_report_url`, the link to the period's Evidently quality report, and the
    period's estimate of the metric (`estimated_<m>`, when the monitor estimates), as the period's latest
    materialization of `key` recorded them (absent when it has none: no labels, viewer down)."""
    from drift_platform.lib.assets.quality_report import QUALITY_URL

    found = latest_metadata(instance, key, period) or {}
    m = result.metadata["metric"].value if "metric" in result.metadata else None
    added = {name: found[name] for name in (QUALITY_URL, f"estimated_{m}") if name in found}
    return result.with_metadata({**result.metadata, **added}) if added else result


def estimated_period_result(monitor: Monitor, warehouse: WarehouseResource, store: ObjectStore, period: str,
                            found: dict[str, dg.MetadataValue] | None) -> dg.AssetCheckResult:
    """`no_estimated_degradation` for one period, from its latest predictions materialization's metadata (`found`):
    the estimate of the metric against `estimation.bound`, else the bound `no_model_degradation` judges the
    realized value by (core/ml/quality.py `quality_bound`). Passes, "not evaluated: why", without an estimate."""
    from drift_platform.core.ml.quality import QualityInputError, estimate_verdict, quality_bound
    from drift_platform.lib.assets.estimation import SKIPPED, estimated_keys, model_manifest

    settings, text = monitor.estimation, dg.MetadataValue.text
    level = dg.AssetCheckSeverity(settings.severity)
    head = {"monitor": text(monitor.name), "period": text(period),
            "labels": text("pending" if monitor.late_labels else "in the batch")}
    m = found["metric"].value if found and "metric" in found else None
    if found is None:
        why = f"no predictions of {period} (no champion model yet?)"
    elif SKIPPED in found:
        why = found[SKIPPED].value
    else:
        why = None if f"estimated_{m}" in found else f"{period}'s predictions carry no estimate"
    if why:
        return dg.AssetCheckResult(passed=True, severity=level, metadata=head, description=f"not evaluated: {why}")
    version = found["model_version"].value
    estimate = tuple(float(found[k].value) for k in estimated_keys(m))
    if settings.bound is not None:
        bound, note, method = settings.bound, "estimation.bound", "configured"
    else:
        try:
            manifest = model_manifest(monitor, warehouse, store, version, dg.get_dagster_logger())
            limit = quality_bound(manifest, monitor.quality, version)
        except QualityInputError as exc:
            raise dg.Failure(str(exc), allow_retries=False) from exc
        bound, note, method = limit.value, limit.note, limit.method
    passed, description = estimate_verdict(m, estimate, bound, note, period, version, monitor.late_labels)
    metadata = {**head, "metric": text(m), "model_version": text(version),
                **{name: dg.MetadataValue.float(v) for name, v in zip(("estimated", "lower", "upper"), estimate,
                                                                       strict=True)},
                **({"bound": dg.MetadataValue.float(float(bound))} if bound is not None else {}),
                "bound_method": text(method), "method": found["estimation_method"],
                "rows": found.get("predicted_rows", dg.MetadataValue.int(0))}
    return dg.AssetCheckResult(passed=passed, severity=level, description=description, metadata=metadata)


def estimated_degradation_check(monitor: Monitor, predictions: dg.AssetsDefinition,
                                partitions: dg.PartitionsDefinition) -> dg.AssetChecksDefinition:
    """`no_estimated_degradation` on the monitor's predictions, per period, when the monitor estimates."""

    @dg.asset_check(
        asset=predictions,
        name=NO_ESTIMATED_DEGRADATION_CHECK,
        partitions_def=partitions,
        retry_policy=retry_policy(monitor),
        blocking=False,
        description=f"The {metric_label(monitor)} estimated from the model's outputs on the period, before its "
        "labels (CBPE for a classifier: its probabilities calibrated on the reference; DLE for a regressor: a "
        "model of its loss), stays within estimation.bound, else the bound no_model_degradation judges the "
        "realized value by. Assumes the relation between features and target holds: concept drift is for the "
        "labels check. WARN by default; the retrain sensor acts on it only when retrain_on lists it.",
    )
    def no_estimated_degradation(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                                 store: ObjectStore) -> dg.AssetCheckResult | None:
        return record_per_period(context, {
            period: estimated_period_result(monitor, warehouse, store, period,
                                            latest_metadata(context.instance, predictions.key, period))
            for period in period_windows(context, partitions)})

    return no_estimated_degradation


def multivariate_drift_check(monitor: Monitor, drift_report: dg.AssetsDefinition,
                             partitions: dg.PartitionsDefinition) -> dg.AssetChecksDefinition:
    """`no_multivariate_drift` on the monitor's drift report, per period."""
    return report_check(
        monitor, drift_report, partitions, name=NO_MULTIVARIATE_DRIFT_CHECK, result=multivariate_check_result,
        description="The period's rows cannot be told from the reference's by a classifier on the monitored "
        "columns together (cross-validated ROC AUC within the threshold the reference's own chunks set): "
        "catches changes no single column shows, e.g. a flipped correlation. WARN by default; the retrain "
        "sensor acts on it only when the monitor's retrain_on lists it.",
    )


# What the UI says of `no_data_quality_regression`.
DATA_QUALITY_DESCRIPTION = (
    "No monitored column's share of missing values, of values outside the reference's range (numerical) or of "
    "levels the reference never shows (categorical) exceeds the bound the reference's own periods set (each "
    "measured against the rest of the reference). WARN by default; the retrain sensor acts on it only when the "
    "monitor's retrain_on lists it."
)


def data_quality_check(monitor: Monitor, drift_report: dg.AssetsDefinition,
                       partitions: dg.PartitionsDefinition) -> dg.AssetChecksDefinition:
    """`no_data_quality_regression` on the monitor's drift report, per period (when the monitor enables it)."""
    return report_check(monitor, drift_report, partitions, name=NO_DATA_QUALITY_CHECK,
                        result=data_quality_check_result, description=DATA_QUALITY_DESCRIPTION)


def prediction_drift_check_result(summary: dict) -> dg.AssetCheckResult:
    """`no_prediction_drift` from the drift report's summary: each output column of the model against the
    reference's (core/stats/outputs.py), with the first column's test, score and threshold, the drifted columns
    and the target's drift score when the period has labels."""
    numbers = summary.get("prediction_drift") or {"skipped": "the drift report did not test the model's output",
                                                  "severity": "WARN"}
    level, metadata, skipped = summary_check_head(summary, numbers)
    if skipped is not None:
        return skipped
    drifted = [c["column"] for c in numbers["columns"] if c["drifted"]]
    target = summary.get("target_drift") or {}
    metadata.update({
        "column": dg.MetadataValue.text(numbers["column"]),
        "method": dg.MetadataValue.text(numbers["method"]),
        "score": dg.MetadataValue.float(numbers["score"]),
        "threshold": dg.MetadataValue.float(numbers["threshold"]),
        "drifted_columns": dg.MetadataValue.text(", ".join(drifted) or "-"),
        **({"target_drift_score": dg.MetadataValue.float(target["score"])} if "score" in target else {}),
    })
    return dg.AssetCheckResult(
        passed=not numbers["drifted"], severity=level, metadata=metadata,
        description=(f"{len(drifted)} of {len(numbers['columns'])} output column(s) drifted; {numbers['column']}: "
                     f"{numbers['method']} {numbers['score']:.3g} (threshold {numbers['threshold']:.3g})"
                     + (f"; target {target['score']:.3g}{' drifted' if target['drifted'] else ''}"
                        if "score" in target else "")),
    )


def build_checks(monitor: Monitor, drift_report: dg.AssetsDefinition, predictions: dg.AssetsDefinition,
                 partitions: dg.PartitionsDefinition,
                 labels: dg.AssetsDefinition | None = None) -> list[dg.AssetChecksDefinition]:
    """The monitor's asset checks: `no_dataset_drift` and `no_model_degradation` (on `labels` when the labels
    arrive late: evaluated when they land; else on the predictions), `no_multivariate_drift` when
    the monitor's multivariate test is enabled, `no_data_quality_regression` when its data-quality check is and
    `no_prediction_drift` when its prediction drift test is."""
    checks = [dataset_drift_check(monitor, drift_report, partitions),
              model_degradation_check(monitor, labels or predictions, partitions)]
    if monitor.estimates:
        checks.append(estimated_degradation_check(monitor, predictions, partitions))
    if monitor.multivariate.enabled:
        checks.append(multivariate_drift_check(monitor, drift_report, partitions))
    if monitor.data_quality.enabled:
        checks.append(data_quality_check(monitor, drift_report, partitions))
    if monitor.prediction_drift.enabled:
        checks.append(report_check(
            monitor, drift_report, partitions, name=NO_PREDICTION_DRIFT_CHECK, result=prediction_drift_check_result,
            description="The model's output on the period (the champion's predictions, or an external model's "
            "logged ones: the predicted value, the positive class's or each class's probability, or the predicted "
            "class) has not drifted from its output on the reference: Evidently's test per output column, decided "
            "as Evidently decides it; the labelled rows' target drift is in the metadata. WARN by default; the "
            "retrain sensor acts on it only when the monitor's retrain_on lists it. Not evaluated (passes, saying "
            "why) before a model is in service."))
    return checks
