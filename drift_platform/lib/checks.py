"""Asset checks: the properties that should hold of each period's data and of the model's error on it."""

import warnings

import dagster as dg

from drift_platform.core.names import (
    NO_DATASET_DRIFT_CHECK,
    NO_MODEL_DEGRADATION_CHECK,
    NO_MULTIVARIATE_DRIFT_CHECK,
)
from drift_platform.core.settings import Monitor
from drift_platform.lib.jobs import retry_policy
from drift_platform.lib.partitions import by_period, period_windows
from drift_platform.lib.run_config import run_config_class, settings_from
from drift_platform.resources import ObjectStore, WarehouseResource

# Partitioned asset checks are a preview feature in Dagster 1.13; this project relies on them knowingly.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=Warning)


def drift_check_result(summary: dict) -> dg.AssetCheckResult:
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


def multivariate_check_result(summary: dict) -> dg.AssetCheckResult:
    """`no_multivariate_drift` from the drift report's summary: the domain classifier's AUC against the threshold
    the reference's own chunks set, the p-value, and the columns it leaned on most."""
    numbers = summary["multivariate"]
    level = dg.AssetCheckSeverity(numbers["severity"])
    metadata: dict[str, dg.MetadataValue] = {
        "monitor": dg.MetadataValue.text(summary["monitor"]),
        "period": dg.MetadataValue.text(summary["period"]),
    }
    if "skipped" in numbers:
        return dg.AssetCheckResult(passed=True, severity=level, metadata=metadata,
                                   description=f"not evaluated: {numbers['skipped']}")
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
    })
    return dg.AssetCheckResult(
        passed=not numbers["drifted"],
        severity=level,
        description=(f"domain classifier AUC {numbers['auc']:.3f} {'above' if numbers['drifted'] else 'within'} the "
                     f"threshold {numbers['threshold']:.3f} set by the reference's own chunks (p = "
                     f"{numbers['p_value']:.3f}); leaned on {', '.join(list(top)[:3]) or '-'}"),
        metadata=metadata,
    )


def quality_check_result(quality, monitor: str, period: str, version: str, severity: str) -> dg.AssetCheckResult:
    """The check's result from `training.period_quality` on the period's stored predictions: the error, the bound
    and how it was set (the walk-forward baseline's mean, spread and size, or the holdout ratio), and why a period
    was not judged."""
    level = dg.AssetCheckSeverity(severity)
    metadata: dict[str, dg.MetadataValue] = {
        "monitor": dg.MetadataValue.text(monitor),
        "period": dg.MetadataValue.text(period),
        "model_version": dg.MetadataValue.text(version),
        "labelled_rows": dg.MetadataValue.int(quality.rows),
        "holdout_rmsle": dg.MetadataValue.float(quality.holdout_rmsle),
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
            metadata["baseline_mean_rmsle"] = dg.MetadataValue.float(baseline.mean)
        if baseline.std is not None:
            metadata["baseline_std_rmsle"] = dg.MetadataValue.float(baseline.std)
    if quality.bound is not None:
        metadata["bound_rmsle"] = dg.MetadataValue.float(quality.bound)
    if quality.rmsle is None:
        return dg.AssetCheckResult(
            passed=True, severity=level, metadata=metadata,
            description=f"not evaluated: no labelled row with a prediction in {period} yet",
        )
    metadata["rmsle"] = dg.MetadataValue.float(quality.rmsle)
    if quality.ratio is not None:
        metadata["rmsle_ratio"] = dg.MetadataValue.float(quality.ratio)
    if not quality.judged:
        return dg.AssetCheckResult(
            passed=True, severity=level, metadata=metadata,
            description=f"champion {version}: RMSLE {quality.rmsle:.4f} on {period}, not judged: {quality.note}",
        )
    return dg.AssetCheckResult(
        passed=not quality.degraded,
        severity=level,
        description=(
            f"champion {version}: RMSLE {quality.rmsle:.4f} on {period}, {'above' if quality.degraded else 'within'} "
            f"the bound {quality.bound:.4f} ({quality.note})"
        ),
        metadata=metadata,
    )


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
    for period, result in results.items():
        latest = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key.asset_key, asset_partitions=[period]), limit=1).records
        target = (AssetCheckEvaluationTargetMaterializationData(
            storage_id=latest[0].storage_id, run_id=latest[0].run_id, timestamp=latest[0].timestamp)
            if latest else None)
        context.op_execution_context.log_event(dg.AssetCheckEvaluation(
            asset_key=key.asset_key, check_name=key.name, passed=result.passed, metadata=result.metadata,
            severity=result.severity, description=result.description, blocking=spec.blocking, partition=period,
            target_materialization_data=target))
    return None


def build_checks(monitor: Monitor, drift_report: dg.AssetsDefinition, predictions: dg.AssetsDefinition,
                 partitions: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    QualityConfig = run_config_class(monitor.quality, f"QualityConfig_{monitor.name}")  # noqa: N806

    @dg.asset_check(
        asset=drift_report,
        name=NO_DATASET_DRIFT_CHECK,
        partitions_def=partitions,
        retry_policy=retry_policy(monitor),  # as in the drift job, also in an asset backfill's runs
        blocking=False,  # a drifted period is still appended to the history
        description="The period's data has not drifted: the share of drifted columns stays below the threshold.",
    )
    def no_dataset_drift(context: dg.AssetCheckExecutionContext, drift_report: dict) -> dg.AssetCheckResult | None:
        reports = by_period(context, drift_report)
        return record_per_period(context,
                                 {period: drift_check_result(summary) for period, summary in reports.items()})

    @dg.asset_check(
        asset=predictions,
        name=NO_MODEL_DEGRADATION_CHECK,
        partitions_def=partitions,
        retry_policy=retry_policy(monitor),  # as in the drift job, also in an asset backfill's runs
        blocking=False,  # a degraded period is still appended to the history; the retrain sensor reacts
        description="The champion's error on the period's labelled batch stays within the bound its recipe's own "
        "walk-forward errors set (mean + sigmas x std; or max_ratio x its holdout error): else concept drift, the "
        "relation between features and target changed. Too few labelled rows to tell: passes, and says so.",
    )
    def no_model_degradation(
        context: dg.AssetCheckExecutionContext, config: QualityConfig, warehouse: WarehouseResource,
        store: ObjectStore,
    ) -> dg.AssetCheckResult | None:
        from drift_platform.core.ml.model_registry import metric, read_manifest
        from drift_platform.core.ml.training import QualityBaseline, period_quality
        from drift_platform.lib.assets.predictions import MODEL_VERSION_COLUMN, prediction_column, read_period

        settings = settings_from(config, monitor.quality)
        results = {}
        for period, (start, end) in period_windows(context, partitions).items():  # one, or each of a backfill run
            rows = read_period(warehouse, monitor, start, end)  # what users read: the stored predictions
            if rows is None or rows.empty:
                raise dg.Failure(f"no predictions stored for {period}: materialize predictions first",
                                 allow_retries=False)
            versions = sorted(rows[MODEL_VERSION_COLUMN].dropna().unique())
            if len(versions) != 1:
                raise dg.Failure(f"{period} holds predictions of {len(versions)} model versions: {versions}",
                                 allow_retries=False)
            manifest = read_manifest(store.scoped(monitor.name), versions[0])
            holdout = metric(manifest, "holdout_rmsle")
            if holdout is None:
                raise dg.Failure(f"model {versions[0]} has no holdout RMSLE in its manifest", allow_retries=False)
            baseline = manifest.get("metrics", {}).get("quality_baseline")
            spec = monitor.spec
            quality = period_quality(
                rows[spec.target], rows[prediction_column(spec)], holdout, settings.max_ratio,
                baseline=QualityBaseline.from_dict(baseline) if baseline else None, bound=settings.bound,
                sigmas=settings.sigmas, min_period_rows=settings.min_period_rows,
                min_baseline_periods=settings.min_baseline_periods,
            )
            results[period] = quality_check_result(quality, monitor.name, period, versions[0], settings.severity)
        return record_per_period(context, results)

    checks = [no_dataset_drift, no_model_degradation]
    if monitor.multivariate.enabled:

        @dg.asset_check(
            asset=drift_report,
            name=NO_MULTIVARIATE_DRIFT_CHECK,
            partitions_def=partitions,
            retry_policy=retry_policy(monitor),  # as in the drift job, also in an asset backfill's runs
            blocking=False,
            description="The period's rows cannot be told from the reference's by a classifier on the monitored "
            "columns together (cross-validated ROC AUC within the threshold the reference's own chunks set): "
            "catches changes no single column shows, e.g. a flipped correlation. WARN by default; the retrain "
            "sensor acts on it only when the monitor's retrain_on lists it.",
        )
        def no_multivariate_drift(context: dg.AssetCheckExecutionContext,
                                  drift_report: dict) -> dg.AssetCheckResult | None:
            reports = by_period(context, drift_report)
            return record_per_period(context, {period: multivariate_check_result(summary)
                                               for period, summary in reports.items()})

        checks.append(no_multivariate_drift)
    return checks
