"""Monitoring: each period's drift report of the current batch against the reference."""

import dagster as dg

from drift_platform.assets import DataFrame, asset_args, asset_key, run_config_class, settings_from
from drift_platform.assets.ingestion import ensure_reference
from drift_platform.constants import CURRENT_BATCH, DRIFT_REPORT, MONITORING, REFERENCE_DATA
from drift_platform.monitor import Monitor
from drift_platform.resources import ObjectStore, WarehouseResource
from drift_platform.step_settings import DriftSettings

TOP_DRIFTED = 5


def report_key(partition: str, run_id: str, suffix: str) -> str:
    """Reports are versioned per run: re-running a period keeps the earlier report."""
    return f"drift_reports/{partition}/{run_id}.{suffix}"


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


def build_drift_report(monitor: Monitor, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    DriftConfig = run_config_class(DriftSettings, monitor.drift, f"DriftConfig_{monitor.name}")  # noqa: N806

    @dg.asset(
        **asset_args(monitor, DRIFT_REPORT, MONITORING, partitions_def=partitions, kinds={"evidently"},
                     ins={"current_batch": dg.AssetIn(asset_key(monitor, CURRENT_BATCH))},
                     deps=[asset_key(monitor, REFERENCE_DATA)])
    )
    def drift_report(
        context: dg.AssetExecutionContext,
        config: DriftConfig,
        current_batch: DataFrame,
        warehouse: WarehouseResource,
        store: ObjectStore,
    ) -> dg.Output[dict]:
        """Evidently's data-drift preset, this period's batch against the reference, over the spec's monitored
        columns. The HTML and JSON reports go to the report store; the per-column results are in the metadata,
        and the `no_dataset_drift` check turns the dataset-level verdict into a pass or a fail."""
        from drift_platform.drift import compute_drift

        reference = ensure_reference(monitor, warehouse, store, context.log)
        result = compute_drift(reference, current_batch, monitor.spec, settings_from(config, DriftSettings))

        folder = store.scoped(monitor.name)
        partition, run_id = context.partition_key, context.run.run_id
        html_key, json_key = report_key(partition, run_id, "html"), report_key(partition, run_id, "json")
        folder.write_bytes(html_key, result.report_html, "text/html")
        folder.write_bytes(json_key, result.report_json.encode(), "application/json")
        summary = {
            **result.summary(),
            "monitor": monitor.name,
            "period": partition,
            "report_html": folder.location(html_key),
            "report_json": folder.location(json_key),
            "reference_rows": len(reference),
            "current_rows": len(current_batch),
        }
        metadata: dict[str, dg.MetadataValue] = {
            "dataset_drift": dg.MetadataValue.bool(result.dataset_drift),
            "drift_share": dg.MetadataValue.float(result.share),
            "drift_share_threshold": dg.MetadataValue.float(result.drift_share_threshold),
            "drifted_columns": dg.MetadataValue.int(result.drifted_count),
            "monitored_columns": dg.MetadataValue.int(len(result.columns)),
            "columns": dg.MetadataValue.md(result.table().to_markdown(index=False, floatfmt=".4g")),
            "top_drifted_columns": dg.MetadataValue.text(top_drifted(result.columns)),
            "report_html": folder.link(html_key),
            "report_json": folder.link(json_key),
            "reference_rows": dg.MetadataValue.int(len(reference)),
            "current_rows": dg.MetadataValue.int(len(current_batch)),
        }
        for column in result.columns:
            metadata[f"score/{column.column}"] = dg.MetadataValue.float(column.score)
            metadata[f"drifted/{column.column}"] = dg.MetadataValue.int(int(column.drifted))
        return dg.Output(summary, metadata=metadata)

    return drift_report
