"""Ingestion: the reference window, this week's batch, and the history they add up to."""


from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from drift_platform.assets import DataFrame
from drift_platform.constants import INGESTION_GROUP, OWNERS
from drift_platform.partitions import weekly_partitions
from drift_platform.resources import DatasetResource, WarehouseResource

if TYPE_CHECKING:
    pass

PREVIEW_ROWS = 10


def frame_metadata(frame: DataFrame, when: str) -> dict[str, dg.MetadataValue]:
    first, last = frame[when].min(), frame[when].max()
    return {
        "rows": dg.MetadataValue.int(len(frame)),
        "first": dg.MetadataValue.text(f"{first:%Y-%m-%d %H:%M}" if len(frame) else "-"),
        "last": dg.MetadataValue.text(f"{last:%Y-%m-%d %H:%M}" if len(frame) else "-"),
        "preview": dg.MetadataValue.md(frame.head(PREVIEW_ROWS).to_markdown(index=False)),
    }


def table_schema(spec) -> dg.TableSchema:
    """The dataset's columns as Dagster sees them (shown in the asset's Columns tab)."""
    roles = {spec.datetime_column: "datetime (primary key)", spec.target: "target"}
    roles.update({c: "numerical feature" for c in spec.numerical_features})
    roles.update({c: "categorical feature" for c in spec.categorical_features})
    roles.update({c: "ignored" for c in spec.ignored})
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, typ, description=roles.get(name, ""),
                           constraints=dg.TableColumnConstraints(nullable=name != spec.datetime_column,
                                                                 unique=name == spec.datetime_column))
            for name, typ in spec.columns.items()
        ]
    )


def load_checked(
    dataset: DatasetResource, start, end, what: str, batch_url: str | None = None
) -> tuple[DataFrame, list[str]]:
    """The source's rows in [start, end). A contract violation fails the step without retries: bad data does
    not get better by retrying; an unreachable source or a server error may, and is left to the retry policy."""
    from drift_platform.contract import DataContractError
    from drift_platform.dataset import DatasetSpecError
    from drift_platform.source import SourceError

    try:
        return dataset.load_window(start, end, batch_url=batch_url)
    except (DataContractError, DatasetSpecError) as exc:
        raise dg.Failure(
            description=f"{what} breaks the data contract: {exc}",
            metadata={"rule_violation": dg.MetadataValue.text(str(exc))},
            allow_retries=False,
        ) from exc
    except SourceError as exc:
        if exc.retryable:
            raise
        raise dg.Failure(description=f"{what}: {exc}", allow_retries=False) from exc


def ensure_reference(dataset: DatasetResource, warehouse: WarehouseResource, log) -> DataFrame:
    """The reference table's rows; on first use the table is created from the source's reference window."""
    import pandas as pd

    spec = dataset.spec()
    if not warehouse.table_exists(warehouse.reference_table):
        start, end = (pd.Timestamp(t) for t in spec.reference_window)
        frame, extra = load_checked(dataset, start, end, "the reference window")
        warehouse.replace_windows(warehouse.reference_table, spec, [(frame, start, end)])
        log.info(
            f"created table {warehouse.reference_table!r} with {len(frame)} rows from {dataset.source_label()} "
            f"[{start:%Y-%m-%d}, {end:%Y-%m-%d})" + (f"; ignored unknown columns {extra}" if extra else "")
        )
    return warehouse.read(warehouse.reference_table, spec)


@dg.asset(
    group_name=INGESTION_GROUP,
    kinds={"warehouse", "pandas"},
    owners=OWNERS,
)
def reference_data(
    context: dg.AssetExecutionContext, dataset: DatasetResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """The baseline the model was trained on: the reference window, kept in the warehouse table `reference`.

    Created from the source over the spec's reference window the first time; read from the table after that,
    so the baseline does not move when the source does. Downstream assets read it from the warehouse.
    """
    frame = ensure_reference(dataset, warehouse, context.log)
    spec = dataset.spec()
    return dg.MaterializeResult(
        metadata={
            **frame_metadata(frame, spec.datetime_column),
            "table": dg.MetadataValue.text(warehouse.reference_table),
            "warehouse": dg.MetadataValue.text(warehouse.describe()),
        }
    )


class BatchConfig(dg.Config):
    """Where this run's batch comes from, when not from the dataset's source (e.g. a file that landed)."""

    batch_url: str | None = Field(
        default=None,
        description="A file holding exactly this week's rows (URL or path). Unlike the source, which is cut to "
        "the week, every row of it must fall in the week.",
    )


@dg.asset(
    group_name=INGESTION_GROUP,
    partitions_def=weekly_partitions,
    kinds={"csv", "pandas"},
    owners=OWNERS,
)
def current_batch(
    context: dg.AssetExecutionContext, config: BatchConfig, dataset: DatasetResource
) -> dg.Output[DataFrame]:
    """This week's production data: the source's rows whose datetime falls in the partition's week (Monday to
    Sunday), checked against the dataset's contract (columns, types, unique datetimes inside the week)."""
    start, end = (t.replace(tzinfo=None) for t in context.partition_time_window)
    frame, extra = load_checked(dataset, start, end, f"week {context.partition_key}", batch_url=config.batch_url)
    from drift_platform.contract import constant_columns

    spec = dataset.spec()
    constant = constant_columns(frame, spec)
    if extra:
        context.log.warning(f"ignored columns not in the dataset spec: {extra}")
    return dg.Output(
        frame,
        metadata={
            **frame_metadata(frame, spec.datetime_column),
            "constant_columns": dg.MetadataValue.text(", ".join(constant) or "-"),
            "missing_values": dg.MetadataValue.int(int(frame[spec.features].isna().sum().sum())),
            "dagster/column_schema": table_schema(spec),
            "source": dg.MetadataValue.text(dataset.source_label(config.batch_url)),
            "ignored_columns": dg.MetadataValue.text(", ".join(extra) or "-"),
        },
    )


@dg.asset(
    group_name=INGESTION_GROUP,
    partitions_def=weekly_partitions,
    deps=[reference_data],
    kinds={"warehouse"},
    owners=OWNERS,
)
def combined_history(
    context: dg.AssetExecutionContext,
    current_batch: DataFrame,
    dataset: DatasetResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """The warehouse table `history`: the reference rows and every weekly batch, each exactly once.

    Materializing a week again replaces that week's rows (delete the window, insert, one transaction), so
    backfills and re-runs never duplicate; the primary key on the datetime column makes a duplicate impossible.
    """
    import pandas as pd

    spec = dataset.spec()
    reference = ensure_reference(dataset, warehouse, context.log)
    ref_start, ref_end = (pd.Timestamp(t) for t in spec.reference_window)
    start, end = (pd.Timestamp(t.replace(tzinfo=None)) for t in context.partition_time_window)
    _, replaced = warehouse.replace_windows(
        warehouse.history_table, spec, [(reference, ref_start, ref_end), (current_batch, start, end)]
    )
    stats = warehouse.stats(warehouse.history_table, spec)
    return dg.MaterializeResult(
        metadata={
            "total_rows": dg.MetadataValue.int(stats["rows"]),
            "week_rows": dg.MetadataValue.int(len(current_batch)),
            "replaced_week_rows": dg.MetadataValue.int(replaced),
            "first": dg.MetadataValue.text(f"{stats['first']:%Y-%m-%d}"),
            "last": dg.MetadataValue.text(f"{stats['last']:%Y-%m-%d}"),
            "table": dg.MetadataValue.text(warehouse.history_table),
        }
    )
