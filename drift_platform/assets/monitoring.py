"""Monitoring: the weekly drift report of the current batch against the reference."""


from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from drift_platform.assets import DataFrame
from drift_platform.assets.ingestion import ensure_reference, reference_data
from drift_platform.constants import MONITORING_GROUP, OWNERS
from drift_platform.partitions import weekly_partitions
from drift_platform.resources import ArtifactStore, DatasetResource, WarehouseResource

if TYPE_CHECKING:
    pass


class DriftConfig(dg.Config):
    """Evidently's DataDriftPreset settings; unset means Evidently's default for the column's type and size."""

    drift_share: float = Field(default=0.5, description="Share of drifted columns at which the dataset has drifted")
    method: str | None = Field(default=None, description="Drift test for every column, e.g. 'ks', 'psi', 'wasserstein'")
    num_method: str | None = Field(default=None, description="Drift test for numerical columns")
    cat_method: str | None = Field(default=None, description="Drift test for categorical columns")
    per_column_method: dict[str, str] = Field(default_factory=dict, description="Drift test per column")
    threshold: float | None = Field(default=None, description="Threshold for every column's test")
    num_threshold: float | None = Field(default=None, description="Threshold for numerical columns")
    cat_threshold: float | None = Field(default=None, description="Threshold for categorical columns")
    per_column_threshold: dict[str, float] = Field(default_factory=dict, description="Threshold per column")


def report_key(partition: str, run_id: str, suffix: str) -> str:
    """Reports are versioned per run: re-running a week keeps the earlier report."""
    return f"drift_reports/{partition}/{run_id}.{suffix}"


PRESIGNED_URL_TTL_S = 7 * 24 * 3600  # the longest a SigV4 presigned URL lives
TOP_DRIFTED = 5


def report_link(store: ArtifactStore, key: str) -> dg.MetadataValue:
    """A report in a form the UI opens with a click: its URL where the store serves one (S3 with
    DRIFT_S3_PUBLIC_URL), a presigned URL (valid a week) on S3 without it, its path on a local store."""
    location = store.location(key)
    s3 = getattr(store, "s3", None)  # S3ArtifactStore; imported only where S3 is configured
    if location.startswith("s3://") and s3 is not None:
        bucket, _, object_key = location.removeprefix("s3://").partition("/")
        url = s3.get_client().generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": object_key}, ExpiresIn=PRESIGNED_URL_TTL_S
        )
        return dg.MetadataValue.url(url)
    return store.metadata_value(key)


def top_drifted(columns, limit: int = TOP_DRIFTED) -> str:
    """The drifted columns, furthest past their threshold first, e.g. "temp (K-S p_value 1.2e-05 < 0.05)".

    Scores point both ways (a p-value drifts below its threshold, a distance above it), so a column's distance
    past the threshold is the ratio of the two, whichever way round is above 1."""

    def margin(c) -> float:
        low, high = sorted((abs(c.score), abs(c.threshold)))
        return float("inf") if low == 0 else high / low

    drifted = sorted((c for c in columns if c.drifted), key=margin, reverse=True)[:limit]
    return ", ".join(
        f"{c.column} ({c.method} {c.score:.3g} {'<' if c.score < c.threshold else '>='} {c.threshold:.3g})"
        for c in drifted
    ) or "-"


@dg.asset(
    group_name=MONITORING_GROUP,
    partitions_def=weekly_partitions,
    deps=[reference_data],
    kinds={"evidently"},
    owners=OWNERS,
)
def drift_report(
    context: dg.AssetExecutionContext,
    config: DriftConfig,
    current_batch: DataFrame,
    dataset: DatasetResource,
    warehouse: WarehouseResource,
    report_store: ArtifactStore,
) -> dg.Output[dict]:
    """Evidently's data-drift preset, this week's batch against the reference, over the spec's monitored columns.

    The HTML and JSON reports go to the report store; the per-column results are in the metadata, and the
    `no_dataset_drift` check turns the dataset-level verdict into a pass or a fail.
    """
    from drift_platform.drift import DriftSettings, compute_drift

    spec = dataset.spec()
    reference = ensure_reference(dataset, warehouse, context.log)
    result = compute_drift(reference, current_batch, spec, DriftSettings(**config.model_dump()))

    partition, run_id = context.partition_key, context.run.run_id
    html_key, json_key = report_key(partition, run_id, "html"), report_key(partition, run_id, "json")
    report_store.write_bytes(html_key, result.report_html, "text/html")
    report_store.write_bytes(json_key, result.report_json.encode(), "application/json")
    table = result.table()
    summary = {
        **result.summary(),
        "week": partition,
        "report_html": report_store.location(html_key),
        "report_json": report_store.location(json_key),
        "reference_rows": len(reference),
        "current_rows": len(current_batch),
    }
    metadata: dict[str, dg.MetadataValue] = {
        "dataset_drift": dg.MetadataValue.bool(result.dataset_drift),
        "drift_share": dg.MetadataValue.float(result.share),
        "drift_share_threshold": dg.MetadataValue.float(result.drift_share_threshold),
        "drifted_columns": dg.MetadataValue.int(result.drifted_count),
        "monitored_columns": dg.MetadataValue.int(len(result.columns)),
        "columns": dg.MetadataValue.md(table.to_markdown(index=False, floatfmt=".4g")),
        "top_drifted_columns": dg.MetadataValue.text(top_drifted(result.columns)),
        "report_html": report_link(report_store, html_key),
        "report_json": report_store.metadata_value(json_key),
        "reference_rows": dg.MetadataValue.int(len(reference)),
        "current_rows": dg.MetadataValue.int(len(current_batch)),
    }
    for column in result.columns:
        metadata[f"score/{column.column}"] = dg.MetadataValue.float(column.score)
        metadata[f"drifted/{column.column}"] = dg.MetadataValue.int(int(column.drifted))
    return dg.Output(summary, metadata=metadata)
