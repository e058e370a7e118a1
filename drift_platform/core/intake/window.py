"""One period's rows from a monitor's source, whatever its kind, checked against the dataset's contract.

`read_window` is the one entry the assets use (lib/assets/ingestion.py). Each kind's reader
(`settings.source_kind`) gives an Arrow table of the window's rows in the spec's types: a CSV streamed with only
the window's rows kept (csv_arrow.py), a Parquet file or folder with partitions pruned and row groups chosen by
their datetime statistics (parquet.py), a SQL table or query with the window's WHERE run in the database
(sql_source.py). The contract is then checked on the Arrow columns (arrow_contract.py), which becomes pandas
once, at the end; so a period gives the same frame from any source holding the same rows. What the read cost
(rows, bytes, files) comes back with it, for the period's metadata.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform.core.settings import SqlSource, source_kind

if TYPE_CHECKING:
    import pandas as pd

    from drift_platform.core.intake.reads import SourceRead


@dataclass(frozen=True)
class WindowRead:
    """A period's rows, conformed (`frame`), with what reading them took.

    - `extra_columns`: source columns the spec does not declare (dropped; the caller reports them).
    - `rows_read`: rows the reader kept for the window (a landed CSV: every row of the file).
    - `bytes_read`: bytes fetched (a CSV: the file's size; Parquet: the files' bytes read; SQL: bytes received).
    - `files_read`: Parquet files opened (1 for a CSV, 0 for a database).
    - `origin`: where the rows came from, redacted; `kind`: csv, parquet or sql."""

    frame: pd.DataFrame
    extra_columns: list[str] = field(default_factory=list)
    rows_read: int = 0
    bytes_read: int = 0
    files_read: int = 0
    origin: str = ""
    kind: str = "csv"


def read_window(
    source: str | SqlSource, spec: DatasetSpec, start: Any, end: Any, *, timezone: str = "UTC",
    whole_file: bool = False, s3_client: Callable[[], Any] | None = None, s3_options: dict[str, Any] | None = None,
    withhold_target: bool = False,
) -> WindowRead:
    """The source's rows in [start, end), conformed to the spec (contract.conform's frame).

    `whole_file` (a landed file that must hold only the window's rows: a CSV): rows outside the window are an
    error, not cut off. `s3_client` makes the boto3 client a CSV at s3:// is fetched with; `s3_options` are
    pyarrow's S3FileSystem options (endpoint_override, access_key, ...) for Parquet at s3://.
    `withhold_target` (labels that arrive late): the target is left empty and may be absent from the source."""
    from dataclasses import replace

    import pandas as pd
    import pyarrow as pa

    from drift_platform.core.intake.arrow_contract import conform_table

    start, end = pd.Timestamp(start), pd.Timestamp(end)
    read = source_read(source, spec, start, end, timezone=timezone, whole_file=whole_file, s3_client=s3_client,
                       s3_options=s3_options, withhold_target=withhold_target)
    tables, read = [read.table], replace(read, table=None)  # the table's one holder: the contract frees it
    frame = conform_table(tables.pop(), spec, window=(start, end), timezone=timezone, withhold_target=withhold_target)
    pa.default_memory_pool().release_unused()  # pyarrow's allocator keeps freed pages: give them back
    return WindowRead(frame, read.extra_columns, read.rows, read.bytes_read, read.files, read.origin,
                      source_kind(source))


def source_read(
    source: str | SqlSource, spec: DatasetSpec, start: pd.Timestamp, end: pd.Timestamp, *, timezone: str,
    whole_file: bool, s3_client: Callable[[], Any] | None, s3_options: dict[str, Any] | None,
    withhold_target: bool,
) -> SourceRead:
    """The window as its kind's reader gives it: an Arrow table of the window's rows (a landed CSV's: all)."""
    kind = source_kind(source)
    if kind == "csv":
        from drift_platform.core.intake.csv_arrow import read_csv_window

        return read_csv_window(source, spec, start, end, timezone=timezone, s3_client=s3_client,
                               whole_file=whole_file, withhold_target=withhold_target)
    if kind == "parquet":
        from drift_platform.core.intake.parquet import read_parquet_window

        return read_parquet_window(source, spec, start, end, timezone=timezone, s3=s3_options,
                                   withhold_target=withhold_target)
    from drift_platform.core.intake.sql_source import read_sql_window

    return read_sql_window(source.url, spec, start, end, table=source.table, query=source.query,
                           timezone=timezone, optional={spec.target} if withhold_target else ())
