"""One period's rows from a monitor's source, whatever its kind, checked against the dataset's contract.

`read_window` is the one entry the assets use (lib/assets/ingestion.py). The kind is the source's
(`settings.source_kind`): a CSV (source.py), a Parquet file or folder (parquet.py: partitions pruned, row groups
chosen by their datetime statistics) or a SQL table or query (sql_source.py: the window's WHERE run in the
database). Parquet and SQL readers return an Arrow table of the window's rows only; it is then checked by the
same contract as a CSV's rows (contract.conform), so a period gives the same frame from any source holding the
same rows. What the read cost (rows, bytes, files) comes back with it, for the period's metadata.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform.core.settings import SqlSource, describe_source, source_kind

if TYPE_CHECKING:
    import pandas as pd

    from drift_platform.core.intake.reads import SourceRead


@dataclass(frozen=True)
class WindowRead:
    """A period's rows, conformed (`frame`), with what reading them took.

    - `extra_columns`: source columns the spec does not declare (dropped; the caller reports them).
    - `rows_read`: rows the reader kept for the window (a CSV: every row of the file, which is parsed whole).
    - `bytes_read`: bytes fetched (a CSV: the file's; Parquet: the files' bytes read; SQL: bytes received).
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
    import pandas as pd

    from drift_platform.core.intake.source import load_window

    kind = source_kind(source)
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if kind == "csv":
        frame, extra = load_window(source, spec, start, end, whole_file=whole_file, s3_client=s3_client,
                                   timezone=timezone, withhold_target=withhold_target)
        return WindowRead(frame, extra, len(frame), 0, 1, describe_source(source), kind)
    if kind == "parquet":
        from drift_platform.core.intake.parquet import read_parquet_window

        read = read_parquet_window(source, spec, start, end, timezone=timezone, s3=s3_options,
                                   withhold_target=withhold_target)
    else:
        from drift_platform.core.intake.sql_source import read_sql_window

        read = read_sql_window(source.url, spec, start, end, table=source.table, query=source.query,
                               timezone=timezone, optional={spec.target} if withhold_target else ())
    frame = conformed(read, spec, (start, end), timezone, withhold_target)
    return WindowRead(frame, read.extra_columns, read.rows, read.bytes_read, read.files, read.origin, kind)


def conformed(read: SourceRead, spec: DatasetSpec, window: tuple[pd.Timestamp, pd.Timestamp], timezone: str,
              withhold_target: bool) -> pd.DataFrame:
    """A reader's window checked against the contract: not empty, within `max_rows`, then contract.conform."""
    from drift_platform.core.intake.contract import DataContractError, conform

    start, end = window
    if read.rows == 0:
        raise DataContractError(f"no rows with {spec.datetime_column!r} in [{start:%Y-%m-%d %H:%M}, "
                                f"{end:%Y-%m-%d %H:%M}) in {read.origin}: the period is empty")
    if read.rows > spec.max_rows:
        raise DataContractError(f"{read.rows} rows in the window exceed the cap max_rows={spec.max_rows}")
    return conform(read.to_pandas(), spec, window=window, timezone=timezone, withhold_target=withhold_target)
