"""Labels that arrive after the features (a monitor's `labels:`): the `labels` asset lands a period's labels.

Per period: its labels are read (from `labels.source`, the rows whose datetime is in the period; `in_source`:
the monitor's source's rows of the period that have a target; or a landed file, `labels_url`, that must hold only
that period), checked (core/intake/labels.py: the target's rules, one label per key, keys among the period's
history rows, a differing label only with `revise: true`), then in ONE transaction the ledger `<monitor>_labels`
gets the new and revised labels and the target is updated by key in `<monitor>_history` and
`<monitor>_predictions`. A broken rule fails the step without retries and writes nothing. The period's
`no_model_degradation` check runs on this asset: when its labels land, not when its features do.
"""

from collections.abc import Iterator

import dagster as dg
from pydantic import Field

from drift_platform.core.names import COMBINED_HISTORY, LABELS, MONITORING, PREDICTIONS
from drift_platform.core.settings import Monitor
from drift_platform.lib.assets import DataFrame, asset_args, asset_key
from drift_platform.lib.partitions import period_step_args, period_windows
from drift_platform.resources import ObjectStore, ReportViewer, WarehouseResource

PREVIEW_ROWS = 10


class LabelsConfig(dg.Config):
    """Where this run's labels come from, and whether a label may change."""

    labels_url: str | None = Field(
        default=None, description="A file holding this period's labels only (URL or path): the key columns, the "
        "datetime column and the target. Unset: the monitor's labels source (labels.source, or its own source "
        "with in_source: true), cut to the period.")
    revise: bool = Field(
        default=False, description="Record a label that differs from the one landed before as a new revision "
        "(the ledger keeps both, with when each landed); unset, such a label is an error naming the rows.")


def landed_labels(monitor: Monitor, warehouse: WarehouseResource, start, end) -> DataFrame:
    """The latest revision of each key's label landed for [start, end) (an empty ledger before the first)."""
    from drift_platform.core.intake.labels import empty_ledger, labels_layout, latest_labels

    table = monitor.table(LABELS)
    if not warehouse.table_exists(table):
        return empty_ledger(monitor.spec)
    return latest_labels(warehouse.read(table, labels_layout(monitor.spec), start, end), monitor.spec)


def labels_origin(monitor: Monitor, labels_url: str | None) -> tuple[str, str]:
    """Where the run's labels are read (a URL or path) and how metadata names it."""
    from drift_platform.core.intake.source import describe_source

    if labels_url:
        return labels_url, describe_source(labels_url)
    if monitor.labels.in_source:
        return monitor.source, f"in_source: {describe_source(monitor.source)}"
    return monitor.labels.source, describe_source(monitor.labels.source)


def known_classes(monitor: Monitor, warehouse: WarehouseResource):
    """The classes a classifier's labels must be among: the spec's, else the reference's labels."""
    spec = monitor.spec
    if not spec.is_classifier or spec.known_classes is not None:
        return spec.known_classes
    reference = warehouse.read(monitor.table("reference"), spec.layout)
    return sorted(reference[spec.target].dropna().unique().tolist())


def history_rows(monitor: Monitor, warehouse: WarehouseResource, window) -> DataFrame:
    """The period's rows of `<monitor>_history` (none before its first drift job run)."""
    import pandas as pd

    table, layout = monitor.table("history"), monitor.spec.layout
    return warehouse.read(table, layout, *window) if warehouse.table_exists(table) else pd.DataFrame(
        columns=list(layout.columns))


def checked_periods(context, monitor: Monitor, partitions, config: LabelsConfig, warehouse: WarehouseResource,
                    store: ObjectStore) -> dict:
    """Each period of the run with its window, its labels' changes and the repeats in its file; every period
    checked before anything is written. A broken rule fails the step without retries, naming the rows."""
    from drift_platform.core.intake.labels import (
        compare_labels,
        one_label_per_key,
        read_labels,
        require_known_keys,
    )
    from drift_platform.core.intake.source import SourceError, read_source

    spec, windows = monitor.spec, period_windows(context, partitions)
    if config.labels_url and len(windows) > 1:
        raise dg.Failure("labels_url holds one period's labels: it cannot feed a run of several periods",
                         allow_retries=False)
    url, shown = labels_origin(monitor, config.labels_url)
    try:
        raw, classes = read_source(url, store.s3_client), known_classes(monitor, warehouse)
        checked = {}
        for period, window in windows.items():
            what = f"{monitor.period_label} {period}"
            try:
                labels = read_labels(raw, spec, window, whole_file=bool(config.labels_url),
                                     timezone=monitor.timezone, classes=classes)
                labels, repeats = one_label_per_key(labels, spec)
                require_known_keys(labels, history_rows(monitor, warehouse, window), spec, what)
                changes = compare_labels(labels, landed_labels(monitor, warehouse, *window), spec, config.revise)
            except ValueError as exc:  # LabelsError, DataContractError
                raise dg.Failure(description=f"the labels of {what} ({shown}) cannot land: {exc}",
                                 metadata={"rule_violation": dg.MetadataValue.text(str(exc))},
                                 allow_retries=False) from exc
            checked[period] = (window, changes, repeats)
    except SourceError as exc:
        if exc.retryable:
            raise
        raise dg.Failure(description=f"the labels ({shown}): {exc}", allow_retries=False) from exc
    return checked


def write_labels(monitor: Monitor, warehouse: WarehouseResource, changes, landed_at, run_id: str) -> None:
    """A period's new and revised labels appended to the ledger and set by key in the history and the
    predictions, in one transaction (nothing when nothing changed)."""
    from drift_platform.core.intake.labels import labels_layout, ledger_rows

    spec = monitor.spec
    if changes.appended.empty:
        return
    rows = ledger_rows(changes.appended, spec, landed_at, run_id)
    warehouse.append_and_update(monitor.table(LABELS), labels_layout(spec), rows,
                                [monitor.table("history"), monitor.table(PREDICTIONS)],
                                rows[[*spec.key, spec.target]], spec.target)


def counts_metadata(monitor: Monitor, warehouse: WarehouseResource, window, changes, repeats: int,
                    landed_at, source: str) -> dict[str, dg.MetadataValue]:
    """A period's labels in numbers: labelled and pending rows (of its history rows, after the landing), new,
    unchanged (a repeat in the file included) and revised labels, the revisions, when and from where."""
    spec = monitor.spec
    rows = history_rows(monitor, warehouse, window)
    labelled = int(rows[spec.target].notna().sum())
    revised = changes.revised
    return {
        "labelled_rows": dg.MetadataValue.int(labelled),
        "pending_rows": dg.MetadataValue.int(len(rows) - labelled),
        "new_labels": dg.MetadataValue.int(changes.new),
        "unchanged_labels": dg.MetadataValue.int(changes.unchanged + repeats),
        "revised_labels": dg.MetadataValue.int(len(revised)),
        "revisions": dg.MetadataValue.md(revised.head(PREVIEW_ROWS * 5).to_markdown(index=False)
                                         if len(revised) else "-"),
        "landed_at": dg.MetadataValue.text(f"{landed_at:%Y-%m-%d %H:%M:%S} UTC"),
        "labels_source": dg.MetadataValue.text(source),
    }


def quality_metadata(context, monitor: Monitor, warehouse: WarehouseResource, period: str, window,
                     reports: tuple[ReportViewer, ObjectStore]) -> dict[str, dg.MetadataValue]:
    """The realized metric `<m>` on the period's stored predictions (now labelled), `estimated_<m>` as the period's
    latest predictions materialization recorded it, and the period's Evidently quality report, published now
    that the labels are in; empty while the period has no predictions."""
    from drift_platform.core.ml.gate import holdout_of
    from drift_platform.core.ml.model_registry import read_manifest
    from drift_platform.core.ml.predictions import prediction_numbers
    from drift_platform.core.ml.training import scoring_from_manifest
    from drift_platform.core.names import EXTERNAL_MODEL_VERSION
    from drift_platform.lib.assets.logged_predictions import external_manifest_for
    from drift_platform.lib.assets.predictions import champion_classes, read_period
    from drift_platform.lib.assets.quality_report import publish_quality_reports

    folder = reports[1].scoped(monitor.name)
    external = (external_manifest_for(monitor, warehouse, reports[1], context.log) if monitor.external else None)
    classes = external.get("classes") if external else champion_classes(monitor, folder)
    rows = read_period(warehouse, monitor, *window, classes)
    versions = sorted(rows["model_version"].dropna().unique()) if rows is not None else []
    if len(versions) != 1:
        return {}
    manifest = external if versions[0] == EXTERNAL_MODEL_VERSION else read_manifest(folder, versions[0])
    scoring = scoring_from_manifest(manifest)
    m = scoring.metric
    numbers = prediction_numbers(rows, monitor.spec, holdout_of(manifest), scoring)
    metadata = {"metric": dg.MetadataValue.text(m), "model_version": dg.MetadataValue.text(versions[0])}
    if m in numbers:
        metadata[m] = dg.MetadataValue.float(numbers[m])
    latest = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key(monitor, PREDICTIONS), asset_partitions=[period]), limit=1).records
    estimated = latest[0].asset_materialization.metadata.get(f"estimated_{m}") if latest else None
    if estimated is not None:
        metadata[f"estimated_{m}"] = estimated
    published = publish_quality_reports(context, monitor, {period: rows}, classes, *reports)
    return {**metadata, **published.get(period, {})}


def land_labels(context, monitor: Monitor, partitions, config: LabelsConfig, warehouse: WarehouseResource,
                reports: tuple[ReportViewer, ObjectStore]) -> dict[str, dict[str, dg.MetadataValue]]:
    """Every period of the run checked, then each landed (one transaction a period): its metadata by period."""
    import pandas as pd

    checked = checked_periods(context, monitor, partitions, config, warehouse, reports[1])
    landed_at = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("s")
    source, landed = labels_origin(monitor, config.labels_url)[1], {}
    for period, (window, changes, repeats) in checked.items():
        write_labels(monitor, warehouse, changes, landed_at, context.run.run_id)
        landed[period] = {**counts_metadata(monitor, warehouse, window, changes, repeats, landed_at, source),
                          **quality_metadata(context, monitor, warehouse, period, window, reports)}
        context.log.info(f"{monitor.period_label} {period}: {changes.new} new, {changes.unchanged + repeats} "
                         f"unchanged and {len(changes.revised)} revised label(s) from {source}; "
                         f"{landed[period]['pending_rows'].value} row(s) still pending")
    return landed


def report_landed(context, landed: dict[str, dict[str, dg.MetadataValue]]) -> Iterator[dg.MaterializeResult]:
    """The run's materialization (each period's metadata), after which no_model_degradation judges the periods.
    A run none of whose periods has stored predictions (no champion when their features landed) records its
    periods' materializations as events instead: nothing to judge, so the check is skipped, not failed."""
    if any("model_version" in metadata for metadata in landed.values()):
        for period, metadata in landed.items():
            context.add_asset_metadata(metadata, partition_key=period)
        yield dg.MaterializeResult()
        return
    for period, metadata in landed.items():
        context.log.info(f"{period}: no predictions stored (no champion when its features landed): "
                         "no_model_degradation has nothing to judge")
        context.log_event(dg.AssetMaterialization(asset_key=context.asset_key, partition=period, metadata=metadata))


def build_labels(monitor: Monitor, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The monitor's `labels` asset (a monitor whose labels arrive late), partitioned by period."""

    @dg.asset(**asset_args(monitor, LABELS, MONITORING, partitions_def=partitions, kinds={"warehouse"},
                         deps=[asset_key(monitor, COMBINED_HISTORY), asset_key(monitor, PREDICTIONS)],
                         output_required=False,  # a period without predictions: recorded, nothing to judge
                         **period_step_args(monitor)))
    def labels(context: dg.AssetExecutionContext, config: LabelsConfig, warehouse: WarehouseResource,
               store: ObjectStore, viewer: ReportViewer) -> Iterator[dg.MaterializeResult]:
        """The period's labels, landed after its features: checked (their type and classes, one per key, keys of
        the period's rows, a differing label only with `revise: true`), then in one transaction appended to the
        ledger `<monitor>_labels` (every landing and revision, with landed_at and run_id) and set by key in the
        history and the predictions. Metadata: labelled_rows, pending_rows, new_labels, unchanged_labels,
        revised_labels (and the revisions), landed_at, labels_source, the realized metric <m>, estimated_<m> from
        the period's predictions, and the period's Evidently quality report (`quality_report_url`).
        `no_model_degradation` runs on this asset: when the labels land (skipped for a period without
        predictions)."""
        yield from report_landed(context, land_labels(context, monitor, partitions, config, warehouse,
                                                      (viewer, store)))

    return labels
