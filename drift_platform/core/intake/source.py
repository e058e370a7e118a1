"""Reading the production data source: a CSV at an http(s) URL, an s3:// URL, a file:// URL or a local path.

Errors say what went wrong in terms a data engineer can act on: the URL answered 404, the server sent an HTML
page instead of CSV, the bytes are not UTF-8, the file is truncated.
"""

from __future__ import annotations

import io
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from drift_platform.core.intake.contract import (
    DataContractError,
    conform,
    cut_window,
    extra_columns,
    read_times,
    to_identifiers,
)
from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform.core.intake.reads import redact_url

SUPPORTED_SCHEMES = ("http", "https", "s3", "file", "")
HTTP_TIMEOUT_S = 60


class SourceError(RuntimeError):
    """The source could not be read as a CSV. `retryable` says whether trying again may help (a server error
    or an unreachable host) or not (404, HTML instead of CSV, bad bytes)."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


def describe_source(url: str) -> str:
    return redact_url(url)


def fetch_bytes(url: str, s3_client: Callable[[], Any] | None = None) -> bytes:
    """The bytes at `url`; `s3_client` makes the S3 client for s3:// URLs (the object store's)."""
    scheme = urllib.parse.urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme not in SUPPORTED_SCHEMES:
        raise SourceError(
            f"source {describe_source(url)!r}: scheme {scheme!r} is not supported; use http, https, s3, file or a path"
        )
    if scheme == "s3":
        if s3_client is None:
            raise SourceError(f"source {url}: no S3 client to read it with")
        return _fetch_s3(url, s3_client())
    if scheme in ("http", "https"):
        request = urllib.request.Request(url, headers={"Accept": "text/csv, text/plain;q=0.9, */*;q=0.1"})
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
                content_type = response.headers.get("Content-Type", "")
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise SourceError(
                f"source {describe_source(url)} answered HTTP {exc.code} {exc.reason}",
                retryable=exc.code >= 500 or exc.code == 429,
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise SourceError(f"source {describe_source(url)} is unreachable: {exc}", retryable=True) from None
        if "html" in content_type.lower() or body.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
            raise SourceError(f"source {describe_source(url)} returned an HTML page, not CSV (Content-Type {content_type!r})")
        return body
    path = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)) if scheme == "file" else Path(url)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SourceError(f"source file {path} does not exist") from None
    except OSError as exc:
        raise SourceError(f"source file {path} cannot be read: {exc}") from None


def _fetch_s3(url: str, client: Any) -> bytes:
    """An object from S3 or an S3-compatible server, through the object store's client."""
    from botocore.exceptions import BotoCoreError, ClientError

    parts = urllib.parse.urlsplit(url)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    if not bucket or not key:
        raise SourceError(f"source {url!r} must name a bucket and a key: s3://bucket/key")
    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "?")
        raise SourceError(f"source {url} could not be read from S3: {code}", retryable=code.startswith("5")) from None
    except BotoCoreError as exc:
        raise SourceError(f"source {url} is unreachable: {type(exc).__name__}", retryable=True) from None


def parse_csv(data: bytes, origin: str) -> pd.DataFrame:
    if not data.strip():
        raise SourceError(f"source {origin} is empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"source {origin} is not UTF-8 text: invalid byte at offset {exc.start}") from None
    if text.lstrip()[:15].lower().startswith(("<!doctype html", "<html")):
        raise SourceError(f"source {origin} is an HTML page, not CSV")
    if not text.endswith("\n"):
        # A file cut off mid-row is the common failure of interrupted transfers; refuse rather than guess.
        last = text.rsplit("\n", 1)[-1]
        header = text.split("\n", 1)[0]
        if last.count(",") != header.count(","):
            raise SourceError(
                f"source {origin} looks truncated: its last line has {last.count(',') + 1} fields, "
                f"the header {header.count(',') + 1}"
            )
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=True)
    except pd.errors.ParserError as exc:
        raise SourceError(f"source {origin} is not a well-formed CSV: {exc}") from None


def read_source(url: str, s3_client: Callable[[], Any] | None = None) -> pd.DataFrame:
    """The whole source as strings; types are applied by the dataset contract."""
    return parse_csv(fetch_bytes(url, s3_client), describe_source(url))


def load_window(
    url: str, spec: DatasetSpec, start: pd.Timestamp, end: pd.Timestamp, *, whole_file: bool = False,
    s3_client: Callable[[], Any] | None = None, timezone: str = "UTC", withhold_target: bool = False,
) -> tuple[pd.DataFrame, list[str]]:
    """The source's rows in [start, end), conformed to the spec, and the unknown columns that were dropped.

    Datetimes are read once (`contract.read_times`: offsets converted to `timezone`, naive ones taken as in it),
    then cut to the window. With `whole_file`, the file is one batch: a row outside the window is an error
    instead of being cut off. With `withhold_target` (labels that arrive late) the target is left empty, and may
    be absent from the source (`contract.conform`).
    """
    return window_frame(read_source(url, s3_client), spec, start, end, whole_file=whole_file, timezone=timezone,
                        withhold_target=withhold_target)


def window_frame(
    source: pd.DataFrame, spec: DatasetSpec, start: pd.Timestamp, end: pd.Timestamp, *, whole_file: bool = False,
    timezone: str = "UTC", withhold_target: bool = False,
) -> tuple[pd.DataFrame, list[str]]:
    """`load_window` of a source already parsed (`parse_csv`: strings): the window conformed, the extra columns."""
    raw = to_identifiers(source, spec)
    require_time_column(raw.columns, spec)
    timed = read_times(raw, spec, timezone)
    window = timed if whole_file else cut_window(timed, spec.datetime_column, start, end)
    require_rows(len(window), spec, start, end)
    frame = conform(window, spec, window=(start, end), timezone=timezone, withhold_target=withhold_target)
    return frame, extra_columns(raw, spec)


def require_time_column(columns: Iterable[str], spec: DatasetSpec) -> None:
    """The datetime column is there (before anything else: a window is cut on it)."""
    column = spec.datetime_column
    if column not in columns:
        raise DataContractError(
            f"missing required column(s) [{spec.described(column)}]; the dataset spec {spec.name!r} declares them"
        )


def require_rows(count: int, spec: DatasetSpec, start: pd.Timestamp, end: pd.Timestamp) -> None:
    """A window holds at least one row, and at most the spec's `max_rows`."""
    if not count:
        raise DataContractError(
            f"no rows with {spec.datetime_column!r} in [{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M}): the period "
            "is empty"
        )
    if count > spec.max_rows:
        raise DataContractError(f"{count} rows in the window exceed the cap max_rows={spec.max_rows}")
