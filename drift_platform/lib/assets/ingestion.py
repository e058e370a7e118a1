"""Ingestion: the reference window, each period's batch, and the history they add up to."""

import dagster as dg
from pydantic import Field

from drift_platform.core.names import COMBINED_HISTORY, CURRENT_BATCH, INGESTION, REFERENCE_DATA
from drift_platform.core.settings import Monitor
from drift_platform.lib.assets import DataFrame, asset_args, asset_key
from drift_platform.lib.partitions import by_period, output_for, period_step_args, period_windows
from drift_platform.resources import ObjectStore, WarehouseResource

PREVIEW_ROWS = 10


def frame_metadata(frame: DataFrame, when: str) -> dict[str, dg.MetadataValue]:
    """A frame's rows, its first and last `when` (minutes) and a preview of its first PREVIEW_ROWS rows."""
    first, last = frame[when].min(), frame[when].max()
    return {
        "rows": dg.MetadataValue.int(len(frame)),
        "first": dg.MetadataValue.text(f"{first:%Y-%m-%d %H:%M}" if len(frame) else "-"),
        "last": dg.MetadataValue.text(f"{last:%Y-%m-%d %H:%M}" if len(frame) else "-"),
        "preview": dg.MetadataValue.md(frame.head(PREVIEW_ROWS).to_markdown(index=False)),
    }


def table_schema(spec) -> dg.TableSchema:
    """The dataset's columns as Dagster sees them (shown in the asset's Columns tab)."""
    roles = {spec.datetime_column: "datetime", spec.target: "target"}
    roles.update({c: "numerical feature" for c in spec.numerical_features})
    roles.update({c: "categorical feature" for c in spec.categorical_features})
    roles.update({c: "ignored" for c in spec.ignored})
    key = spec.key
    for name in key:
        roles[name] = f"{roles[name] + ', ' if name in roles else ''}row key" + (" (with " + ", ".join(
            k for k in key if k != name) + ")" if len(key) > 1 else "")
    sources = {c: f" (source column {spec.source_name(c)!r})" for c in spec.columns if spec.source_name(c) != c}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, typ, description=roles.get(name, "") + sources.get(name, ""),
                           constraints=dg.TableColumnConstraints(
                               nullable=name not in (*key, spec.datetime_column), unique=[name] == key))
            for name, typ in spec.columns.items()
        ],
        constraints=dg.TableConstraints(other=[f"primary key ({', '.join(key)})"]),
    )


def load_checked(
    monitor: Monitor, store: ObjectStore, start, end, what: str, batch_url: str | None = None,
    reference: bool = False,
):
    """The source's rows in [start, end) (or those of `batch_url`, a file that must hold only that window's
    rows), checked against the contract, as a `core.intake.window.WindowRead` (the frame, the columns dropped,
    the rows and bytes read). Only the window is read from a Parquet or SQL source. A contract violation fails
    the step without retries: bad data does not get better by retrying; an unreachable source, a database down
    or a server error may, and is left to the retry policy.

    Labels that arrive late (`labels:`): a period's target is withheld (it may be empty or absent); the
    `reference` window keeps its labels, the source's (`in_source`) or joined by key from `labels.source`."""
    from dataclasses import replace

    from drift_platform.core.intake.contract import DataContractError
    from drift_platform.core.intake.labels import labelled_reference
    from drift_platform.core.intake.source import SourceError, read_source
    from drift_platform.core.intake.window import read_window

    labels = monitor.labels
    withhold = labels is not None and not (reference and labels.in_source)
    try:
        read = read_window(batch_url or monitor.source, monitor.spec, start, end, timezone=monitor.timezone,
                           whole_file=bool(batch_url), s3_client=store.s3_client, s3_options=s3_options(store),
                           withhold_target=withhold)
        if reference and withhold:
            read = replace(read, frame=labelled_reference(read.frame, read_source(labels.source, store.s3_client),
                                                          monitor.spec, (start, end), monitor.timezone))
        return read
    except DataContractError as exc:
        raise dg.Failure(
            description=f"{what} breaks the data contract: {exc}",
            metadata={"rule_violation": dg.MetadataValue.text(str(exc))},
            allow_retries=False,
        ) from exc
    except SourceError as exc:
        if exc.retryable:  # left to the retry policy, naming the period
            raise SourceError(f"{what}: {exc}", retryable=True) from exc
        raise dg.Failure(description=f"{what}: {exc}", allow_retries=False) from exc


def s3_options(store: ObjectStore) -> dict[str, str] | None:
    """pyarrow's S3FileSystem options for a Parquet source at s3://, from the object store's S3 settings (None:
    pyarrow's own chain, the environment's AWS_* variables)."""
    import urllib.parse

    endpoint = store.s3_endpoint_url
    options = {"access_key": store.aws_access_key_id, "secret_key": store.aws_secret_access_key,
               "region": store.aws_region}
    if endpoint:
        parts = urllib.parse.urlsplit(endpoint)
        options.update(endpoint_override=parts.netloc or parts.path, scheme=parts.scheme or "https")
    options = {key: value for key, value in options.items() if value}
    return options or None


def ensure_reference(monitor: Monitor, warehouse: WarehouseResource, store: ObjectStore, log) -> DataFrame:
    """The reference table's rows; on first use the table is created from the source's reference window."""
    import pandas as pd

    from drift_platform.core.settings import describe_source

    spec, table = monitor.spec, monitor.table("reference")
    if not warehouse.table_exists(table):
        start, end = (pd.Timestamp(t) for t in spec.reference_window)
        read = load_checked(monitor, store, start, end, "the reference window", reference=True)
        warehouse.replace_windows(table, spec.layout, [(read.frame, start, end)])
        log.info(
            f"created table {table!r} with {len(read.frame)} rows from {describe_source(monitor.source)} "
            f"[{start:%Y-%m-%d}, {end:%Y-%m-%d}): {read.rows_read:,} rows, {read.bytes_read:,} bytes read"
            + (f"; ignored unknown columns {read.extra_columns}" if read.extra_columns else "")
        )
    return warehouse.read(table, spec.layout)


def reference_statistics(monitor: Monitor, warehouse: WarehouseResource, store: ObjectStore, log):
    """The reference's drift statistics (drift_platform/core/stats/reference_stats.py, with the data-quality
    blocks of its periods: core/stats/quality.py) and how they were had:
    "cached" (the warehouse fingerprint of the reference table matches the one they were built from: no
    reference row is read) or "built" (first use, or the table changed: read, rebuilt, kept in the store). A
    tampered artifact fails the step, naming it."""
    from drift_platform.core.stats.drift import REPORT_SAMPLE_ROWS, REPORT_SAMPLE_SEED, column_kinds
    from drift_platform.core.stats.quality import reference_periods
    from drift_platform.core.stats.reference_cache import (
        ReferenceStatsIntegrityError,
        cached_stats,
        save_stats,
    )
    from drift_platform.core.stats.reference_stats import build_reference_stats

    table, folder, layout = monitor.table("reference"), store.scoped(monitor.name), monitor.spec.layout
    kinds = column_kinds(monitor.spec)
    created = not warehouse.table_exists(table)
    frame = ensure_reference(monitor, warehouse, store, log) if created else None
    fingerprint = {"kinds": kinds, **warehouse.fingerprint(table, layout, list(kinds))}
    try:
        stats = None if created else cached_stats(folder, fingerprint)
        if stats is not None:
            return stats, "cached"
        frame = warehouse.read(table, layout) if frame is None else frame
        stats = build_reference_stats(frame, kinds, sample_rows=REPORT_SAMPLE_ROWS, seed=REPORT_SAMPLE_SEED,
                                      quality_blocks=reference_periods(monitor.spec, monitor.cadence),
                                      time_column=monitor.spec.datetime_column)
        manifest = save_stats(folder, stats, fingerprint)
    except ReferenceStatsIntegrityError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    log.info(f"reference statistics {stats.version[:12]} ({stats.rows} rows, {manifest['bytes']:,} bytes) "
             f"{'built for the new reference table' if created else 'built: the reference table changed or had none'}")
    return stats, "built"


class BatchConfig(dg.Config):
    """Where this run's batch comes from, when not from the monitor's source (e.g. a file that landed)."""

    batch_url: str | None = Field(
        default=None,
        description="A file holding exactly this period's rows (URL or path). Unlike the source, which is cut to "
        "the period, every row of it must fall in the period.",
    )


def batch_metadata(monitor: Monitor, frame: DataFrame, read, batch_url: str | None
                   ) -> dict[str, dg.MetadataValue]:
    """A period's batch as its metadata shows it: rows, first and last, preview, constant columns, missing
    values, the schema, where it came from and the columns ignored, and what reading it took (`read`, a
    WindowRead: the source's kind, rows, bytes and files read)."""
    from drift_platform.core.intake.contract import constant_columns
    from drift_platform.core.settings import describe_source

    spec, extra = monitor.spec, read.extra_columns
    return {
        **frame_metadata(frame, spec.datetime_column),
        "constant_columns": dg.MetadataValue.text(", ".join(constant_columns(frame, spec)) or "-"),
        "missing_values": dg.MetadataValue.int(int(frame[spec.features].isna().sum().sum())),
        "dagster/column_schema": table_schema(spec),
        "source": dg.MetadataValue.text(describe_source(batch_url or monitor.source)),
        "ignored_columns": dg.MetadataValue.text(", ".join(extra) or "-"),
        "source_kind": dg.MetadataValue.text(read.kind),
        "rows_read": dg.MetadataValue.int(read.rows_read),
        "bytes_read": dg.MetadataValue.int(read.bytes_read),
        "files_read": dg.MetadataValue.int(read.files_read),
    }


def replace_history(context, monitor: Monitor, partitions: dg.PartitionsDefinition, current_batch,
                    warehouse: WarehouseResource, store: ObjectStore) -> None:
    """The run's periods and the reference written to `<monitor>_history` in one transaction (each period's
    window replaced); each period's rows and the rows it replaced in its metadata."""
    import pandas as pd

    spec = monitor.spec
    reference = ensure_reference(monitor, warehouse, store, context.log)
    ref_start, ref_end = (pd.Timestamp(t) for t in spec.reference_window)
    windows, batches = period_windows(context, partitions), by_period(context, current_batch)
    from drift_platform.core.intake.contract import DataContractError, reference_labels_check

    try:  # a classifier's labels against the reference's, when its spec lists no classes
        for line in reference_labels_check(reference, batches, spec):
            context.log.warning(line)
    except DataContractError as exc:
        raise dg.Failure(description=f"breaks the data contract: {exc}", allow_retries=False) from exc
    # Every period of the run in one transaction with the reference, as one period is.
    _, *replaced = warehouse.replace_windows(
        monitor.table("history"), spec.layout,
        [(reference, ref_start, ref_end), *((batches[k], *windows[k]) for k in windows)],
    )
    for period_key, replaced_rows in zip(windows, replaced, strict=True):
        context.add_asset_metadata({
            "period_rows": dg.MetadataValue.int(len(batches[period_key])),
            "replaced_period_rows": dg.MetadataValue.int(replaced_rows),
        }, partition_key=period_key)


def build_reference_data(monitor: Monitor) -> dg.AssetsDefinition:
    """The monitor's `reference_data` asset."""

    @dg.asset(**asset_args(monitor, REFERENCE_DATA, INGESTION, kinds={"warehouse", "pandas"}))
    def reference_data(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, store: ObjectStore
    ) -> dg.MaterializeResult:
        """The baseline the model was trained on: the spec's reference window, kept in the warehouse table
        `<monitor>_reference`. Created from the source the first time; read from the table after that, so the
        baseline does not move when the source does. Downstream assets read it from the warehouse."""
        frame = ensure_reference(monitor, warehouse, store, context.log)
        return dg.MaterializeResult(
            metadata={
                **frame_metadata(frame, monitor.spec.datetime_column),
                "table": dg.MetadataValue.text(monitor.table("reference")),
                "warehouse": dg.MetadataValue.text(warehouse.describe()),
            }
        )

    return reference_data


def build_current_batch(monitor: Monitor, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The monitor's `current_batch` asset, one partition a period."""
    period = monitor.period_label

    @dg.asset(**asset_args(monitor, CURRENT_BATCH, INGESTION, partitions_def=partitions, kinds={monitor.source_kind, "pandas"},
                         **period_step_args(monitor)))
    def current_batch(context: dg.AssetExecutionContext, config: BatchConfig, store: ObjectStore,
                      warehouse: WarehouseResource) -> dg.Output[DataFrame]:
        """This period's production data: the source's rows whose datetime falls in the partition (a Monday-to-Sunday
        week or a day), checked against the dataset's contract (columns, types, unique datetimes inside the period).
        A backfill run of several periods loads each period the same way (a dict by period). Labels that arrive
        late (`labels:`): the source's target is withheld and the labels already landed (`<monitor>_labels`, the
        latest revision per key) are filled in, so a re-run of a period keeps them."""
        windows = period_windows(context, partitions)
        if config.batch_url and len(windows) > 1:
            raise dg.Failure("batch_url holds one period's rows: it cannot feed a run of several periods",
                             allow_retries=False)
        frames = {}
        for period_key, (start, end) in windows.items():
            read = load_checked(monitor, store, start, end, f"{period} {period_key}", config.batch_url)
            frame, extra = read.frame, read.extra_columns
            if monitor.late_labels:
                frame = with_landed_labels(monitor, warehouse, frame, start, end)
            if extra:
                context.log.warning(f"{period} {period_key}: ignored columns not in the dataset spec: {extra}")
            context.add_asset_metadata(batch_metadata(monitor, frame, read, config.batch_url),
                                       partition_key=period_key)
            frames[period_key] = frame
        return dg.Output(output_for(frames))

    return current_batch


def with_landed_labels(monitor: Monitor, warehouse: WarehouseResource, frame: DataFrame, start, end) -> DataFrame:
    """A late-labels monitor's batch with the labels landed for its keys (the latest revision of each)."""
    from drift_platform.core.intake.labels import fill_labels
    from drift_platform.lib.assets.labels import landed_labels

    return fill_labels(frame, landed_labels(monitor, warehouse, start, end), monitor.spec)


def build_combined_history(monitor: Monitor, partitions: dg.PartitionsDefinition,
                           reference_data: dg.AssetsDefinition) -> dg.AssetsDefinition:
    """The monitor's `combined_history` asset, one partition a period, after `reference_data`."""

    @dg.asset(
        **asset_args(monitor, COMBINED_HISTORY, INGESTION, partitions_def=partitions, kinds={"warehouse"},
                     ins={"current_batch": dg.AssetIn(asset_key(monitor, CURRENT_BATCH))},
                     deps=[reference_data], **period_step_args(monitor))
    )
    def combined_history(
        context: dg.AssetExecutionContext, current_batch: DataFrame, warehouse: WarehouseResource, store: ObjectStore
    ) -> dg.MaterializeResult:
        """The warehouse table `<monitor>_history`: the reference rows and every period, each exactly once.

        Materializing a period again replaces its rows (delete the window, insert, one transaction), so backfills
        and re-runs never duplicate; the primary key on the datetime column makes a duplicate impossible."""
        replace_history(context, monitor, partitions, current_batch, warehouse, store)
        table = monitor.table("history")
        stats = warehouse.stats(table, monitor.spec.layout)
        return dg.MaterializeResult(
            metadata={
                "total_rows": dg.MetadataValue.int(stats["rows"]),
                "first": dg.MetadataValue.text(f"{stats['first']:%Y-%m-%d}"),
                "last": dg.MetadataValue.text(f"{stats['last']:%Y-%m-%d}"),
                "table": dg.MetadataValue.text(table),
            }
        )

    return combined_history


def build_ingestion(monitor: Monitor, partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """The monitor's three ingestion assets, in this order: reference_data, current_batch, combined_history."""
    reference_data = build_reference_data(monitor)
    return [reference_data, build_current_batch(monitor, partitions),
            build_combined_history(monitor, partitions, reference_data)]
