"""What a source reader returns: one period's rows as an Arrow table, with what reading them cost.

Every reader of a non-CSV source (Parquet: `parquet.read_parquet_window`; SQL: `sql_source.read_sql_window`)
returns a `SourceRead`. Its table holds the spec's columns that the source has, under their identifiers (a
source name, `spec.source_name(column)`, renamed), cast to the spec's Arrow types (`dataset.arrow_type`) where the
cast is exact, the datetime column as a naive timestamp in the monitor's timezone; only the rows with
start <= datetime < end. Plain Python: pyarrow is imported by the readers, not here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SourceRead:
    """One window read from a source.

    - `table`: a pyarrow.Table (identifiers, the spec's types, the window's rows).
    - `rows`: its row count.
    - `bytes_read`: bytes fetched from files (Parquet) or received from the database (SQL); how each reader
      measures it is in its docstring.
    - `origin`: where the rows came from, redacted (no credentials, no query string).
    - `extra_columns`: source columns the spec does not declare, dropped (the caller reports them).
    - `files`: how many files were opened (Parquet; 0 for a database).
    """

    table: Any
    rows: int
    bytes_read: int
    origin: str
    extra_columns: list[str] = field(default_factory=list)
    files: int = 0

    def to_pandas(self):
        """The table as a DataFrame (datetimes as datetime64[ns], numbers as numpy dtypes where no value is
        missing), for the paths that still take pandas."""
        return self.table.to_pandas(coerce_temporal_nanoseconds=True)


def redact_url(url: str) -> str:
    """A URL without its user, password and query string (which may carry tokens): what messages show. A plain
    path is returned as it is."""
    import urllib.parse

    if "://" not in url:
        return url
    parts = urllib.parse.urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def naive_time(value: Any, timezone: str) -> dt.datetime:
    """A window bound as a plain naive datetime in `timezone` (a pandas Timestamp, datetime, date or ISO text)."""
    from zoneinfo import ZoneInfo

    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    if value.tzinfo is not None:
        value = value.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)
    return dt.datetime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                       value.microsecond)
