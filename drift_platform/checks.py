"""Asset checks: the properties that should hold of each week's data."""


import warnings

import dagster as dg
from pydantic import Field

from drift_platform.assets.monitoring import drift_report
from drift_platform.assets.predictions import predictions
from drift_platform.constants import NO_DATASET_DRIFT_CHECK, NO_MODEL_DEGRADATION_CHECK
from drift_platform.partitions import weekly_partitions
from drift_platform.resources import ArtifactStore, DatasetResource, WarehouseResource


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
            "week": dg.MetadataValue.text(summary["week"]),
            "drift_share": dg.MetadataValue.float(summary["share"]),
            "drift_share_threshold": dg.MetadataValue.float(summary["drift_share_threshold"]),
            "drifted_columns": dg.MetadataValue.text(", ".join(drifted) or "-"),
            "drifted_count": dg.MetadataValue.int(len(drifted)),
            "report_html": dg.MetadataValue.text(summary["report_html"]),
        },
    )


# Partitioned asset checks are a preview feature in Dagster 1.13; this project relies on them knowingly.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=Warning)


@dg.asset_check(
    asset=drift_report,
    name=NO_DATASET_DRIFT_CHECK,
    partitions_def=weekly_partitions,
    blocking=False,  # a drifted week is still appended to the history
    description="The week's data has not drifted: the share of drifted columns stays below the threshold.",
)
def no_dataset_drift(drift_report: dict) -> dg.AssetCheckResult:
    return drift_check_result(drift_report)


# --- model quality (concept drift) -----------------------------------------------------------------------------
class ModelQualityConfig(dg.Config):
    """When the champion's error on a week counts as degraded."""

    max_ratio: float = Field(
        default=2.0, description="Fail when the week's RMSLE exceeds this multiple of the model's own holdout RMSLE"
    )
    severity: str = Field(default="ERROR", description="Severity of a failure: ERROR or WARN")


def quality_check_result(quality, week: str, version: str, severity: str) -> dg.AssetCheckResult:
    """The check's result from `training.weekly_quality` on the week's stored predictions."""
    level = dg.AssetCheckSeverity(severity.upper())
    metadata: dict[str, dg.MetadataValue] = {
        "week": dg.MetadataValue.text(week),
        "model_version": dg.MetadataValue.text(version),
        "labelled_rows": dg.MetadataValue.int(quality.rows),
        "holdout_rmsle": dg.MetadataValue.float(quality.holdout_rmsle),
        "max_ratio": dg.MetadataValue.float(quality.max_ratio),
    }
    if quality.rmsle is None:
        return dg.AssetCheckResult(
            passed=True, severity=level, metadata=metadata,
            description=f"not evaluated: no labelled row with a prediction in week {week} yet",
        )
    metadata["rmsle"] = dg.MetadataValue.float(quality.rmsle)
    metadata["rmsle_ratio"] = dg.MetadataValue.float(quality.ratio)
    return dg.AssetCheckResult(
        passed=not quality.degraded,
        severity=level,
        description=(
            f"champion {version}: RMSLE {quality.rmsle:.4f} on week {week} vs {quality.holdout_rmsle:.4f} on its "
            f"holdout, ratio {quality.ratio:.2f} ({'above' if quality.degraded else 'within'} the bound "
            f"{quality.max_ratio:.2f})"
        ),
        metadata=metadata,
    )


@dg.asset_check(
    asset=predictions,
    name=NO_MODEL_DEGRADATION_CHECK,
    partitions_def=weekly_partitions,
    blocking=False,  # a degraded week is still appended to the history; retrain_on_drift_sensor reacts
    description="The champion's error on the week's labelled batch stays within a bound of its own holdout error "
    "(concept drift: the relation between features and target changed).",
)
def no_model_degradation(
    context: dg.AssetCheckExecutionContext,
    config: ModelQualityConfig,
    dataset: DatasetResource,
    warehouse: WarehouseResource,
    model_store: ArtifactStore,
) -> dg.AssetCheckResult:
    import pandas as pd

    from drift_platform.assets.predictions import MODEL_VERSION_COLUMN, prediction_column, read_week
    from drift_platform.model_registry import metric, read_manifest
    from drift_platform.training import weekly_quality

    if config.severity.upper() not in ("WARN", "ERROR"):
        raise dg.Failure(f"severity must be WARN or ERROR, got {config.severity!r}", allow_retries=False)
    spec = dataset.spec()
    week = context.partition_key
    start, end = (pd.Timestamp(t.replace(tzinfo=None)) for t in context.partition_time_window)
    rows = read_week(warehouse, spec, start, end)  # what users read: the stored predictions
    if rows is None or rows.empty:
        raise dg.Failure(f"no predictions stored for week {week}: materialize predictions first", allow_retries=False)
    versions = sorted(rows[MODEL_VERSION_COLUMN].dropna().unique())
    if len(versions) != 1:
        raise dg.Failure(f"week {week} holds predictions of {len(versions)} model versions: {versions}",
                         allow_retries=False)
    holdout = metric(read_manifest(model_store, versions[0]), "holdout_rmsle")
    if holdout is None:
        raise dg.Failure(f"model {versions[0]} has no holdout RMSLE in its manifest", allow_retries=False)
    quality = weekly_quality(rows[spec.target], rows[prediction_column(spec)], holdout, config.max_ratio)
    return quality_check_result(quality, week, versions[0], config.severity)
