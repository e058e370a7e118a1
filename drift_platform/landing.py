"""landing_zone_sensor: batch files dropped into a folder (or an S3 prefix) become runs of weekly_drift_job.

Upstream teams deliver a week's rows whenever they have them: a file matching DRIFT_LANDING_PATTERN (default
`week*.csv`) in DRIFT_LANDING_DIR (default `<data dir>/landing`; `s3://bucket/prefix` in production). For each
new file, a tick of the sensor

- reads it and finds its week: every datetime must fall in ONE Monday-to-Sunday week of the weekly partitions;
- checks it against the dataset's contract for that week (the same `conform` the run applies);
- a good file is moved to `archive/<week>/<sha256[:12]>-<name>` and a run of `weekly_drift_job` is requested for
  that week, with `current_batch` reading the archived file (`batch_url`). The run is an ordinary weekly run:
  the drift report, the `no_dataset_drift` check, the history and `retrain_on_drift_sensor` apply as they are;
- a bad file is moved to `quarantine/<sha256[:12]>-<name>` with `<sha256[:12]>-<name>.reason.txt` beside it;
- files are moved, never deleted.

A file seen before (same name, same content hash) is not processed twice: the cursor remembers where each one
went, and a second copy is moved onto its first copy's place (same bytes, same key) without a new run; the run
key `landing:<name>:<sha256>` makes a repeated request harmless even without the cursor. A file is taken once
it has not changed for DRIFT_LANDING_MIN_AGE_SECONDS (default 10), so a half-copied file is not read. A file
whose week has not ended yet waits in the landing folder until it has. If a tick dies between moving a file
to the archive and saving its cursor, the next tick finds the archived file missing from the cursor and
requests its run then.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import dagster as dg

from drift_platform.constants import TAG_TRIGGER
from drift_platform.jobs import weekly_drift_job
from drift_platform.partitions import weekly_partitions
from drift_platform.resources import DatasetResource
from drift_platform.settings import data_dir, sensor_interval_seconds

if TYPE_CHECKING:
    from drift_platform.dataset import DatasetSpec

ARCHIVE = "archive"
QUARANTINE = "quarantine"
DEFAULT_PATTERN = "week*.csv"
DEFAULT_MIN_AGE_S = 10.0
TAG_LANDING_FILE = "drift_platform/landing_file"
TAG_LANDING_SHA256 = "drift_platform/landing_sha256"


@dataclass(frozen=True)
class LandedFile:
    name: str
    modified: float  # seconds since the epoch


class LandingZone:
    """Where batch files land: a local folder or an S3 prefix. Keys are '/'-separated paths relative to it;
    a landed file's key is its name (top level only: the archive and quarantine folders are below it)."""

    pattern: str
    min_age_s: float

    def describe(self) -> str:
        raise NotImplementedError

    def landed(self) -> list[LandedFile]:
        """Files at the top level whose name matches the pattern, hidden files excluded."""
        raise NotImplementedError

    def list_under(self, folder: str) -> list[str]:
        raise NotImplementedError

    def read(self, key: str) -> bytes:
        raise NotImplementedError

    def move(self, key: str, target: str) -> None:
        """Move a file onto `target` (replacing it, which is harmless when it holds the same bytes)."""
        raise NotImplementedError

    def write_text(self, key: str, text: str) -> None:
        raise NotImplementedError

    def url(self, key: str) -> str:
        """How the run reads the file: a path or an s3:// URL (see drift_platform.source)."""
        raise NotImplementedError

    def _matches(self, name: str) -> bool:
        return not name.startswith(".") and fnmatch.fnmatchcase(name, self.pattern)


@dataclass
class LocalLandingZone(LandingZone):
    root: Path
    pattern: str = DEFAULT_PATTERN
    min_age_s: float = DEFAULT_MIN_AGE_S

    def describe(self) -> str:
        return str(self.root)

    def landed(self) -> list[LandedFile]:
        self.root.mkdir(parents=True, exist_ok=True)  # so that people see where to drop files
        return [
            LandedFile(entry.name, entry.stat().st_mtime)
            for entry in sorted(self.root.iterdir())
            if entry.is_file() and self._matches(entry.name)
        ]

    def list_under(self, folder: str) -> list[str]:
        base = self.root / folder
        if not base.is_dir():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file())

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def move(self, key: str, target: str) -> None:
        destination = self.root / target
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.root / key, destination)  # same file system: atomic, never a half-moved file

    def write_text(self, key: str, text: str) -> None:
        destination = self.root / key
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(f".{destination.name}.tmp")
        partial.write_text(text)
        os.replace(partial, destination)

    def url(self, key: str) -> str:
        return str((self.root / key).resolve())


@dataclass
class S3LandingZone(LandingZone):
    """An S3 prefix, read with the same client settings as drift_platform.source reads s3:// URLs
    (endpoint DRIFT_S3_ENDPOINT_URL, credentials from boto3's chain), so a run can read what landed."""

    bucket: str
    prefix: str = ""
    pattern: str = DEFAULT_PATTERN
    min_age_s: float = DEFAULT_MIN_AGE_S
    endpoint_url: str | None = None

    def __post_init__(self) -> None:
        self.prefix = self.prefix.strip("/")
        self._client: Any = None

    def client(self):
        if self._client is None:
            import boto3

            self._client = boto3.client("s3", endpoint_url=self.endpoint_url)
        return self._client

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _objects(self, prefix: str, delimiter: str | None = None):
        kwargs = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        for page in self.client().get_paginator("list_objects_v2").paginate(**kwargs):
            yield from page.get("Contents", [])

    def landed(self) -> list[LandedFile]:
        top = f"{self.prefix}/" if self.prefix else ""
        found = []
        for obj in self._objects(top, delimiter="/"):
            name = obj["Key"][len(top):]
            if name and self._matches(name):
                found.append(LandedFile(name, obj["LastModified"].timestamp()))
        return sorted(found, key=lambda f: f.name)

    def list_under(self, folder: str) -> list[str]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        return sorted(obj["Key"][strip:] for obj in self._objects(self._key(folder) + "/"))

    def read(self, key: str) -> bytes:
        return self.client().get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def move(self, key: str, target: str) -> None:
        # S3 has no rename: copy, then delete the landed object only once its copy exists.
        source = {"Bucket": self.bucket, "Key": self._key(key)}
        self.client().copy_object(Bucket=self.bucket, Key=self._key(target), CopySource=source)
        self.client().delete_object(**source)

    def write_text(self, key: str, text: str) -> None:
        self.client().put_object(
            Bucket=self.bucket, Key=self._key(key), Body=text.encode(), ContentType="text/plain; charset=utf-8"
        )

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"


def landing_zone(env: Mapping[str, str] = os.environ) -> LandingZone:
    """DRIFT_LANDING_DIR (a path or s3://bucket/prefix; default <data dir>/landing), DRIFT_LANDING_PATTERN
    (a glob on file names; default week*.csv), DRIFT_LANDING_MIN_AGE_SECONDS (default 10)."""
    where = env.get("DRIFT_LANDING_DIR") or str(data_dir(env) / "landing")
    pattern = env.get("DRIFT_LANDING_PATTERN") or DEFAULT_PATTERN
    min_age = float(env.get("DRIFT_LANDING_MIN_AGE_SECONDS") or DEFAULT_MIN_AGE_S)
    if where.startswith("s3://"):
        bucket, _, prefix = where.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"DRIFT_LANDING_DIR {where!r} names no bucket; expected s3://bucket/prefix")
        return S3LandingZone(bucket=bucket, prefix=prefix, pattern=pattern, min_age_s=min_age,
                             endpoint_url=env.get("DRIFT_S3_ENDPOINT_URL") or None)
    return LocalLandingZone(root=Path(where), pattern=pattern, min_age_s=min_age)


# --- what a landed file holds --------------------------------------------------------------------------------
class BadBatch(ValueError):
    """The file cannot be a batch: the reason is written next to it in the quarantine."""


class NotYet(Exception):
    """The file's week has not ended: no partition exists for it yet."""


@dataclass(frozen=True)
class Batch:
    week: str
    rows: int
    extra_columns: list[str]


def inspect_batch(data: bytes, name: str, spec: DatasetSpec) -> Batch:
    """The week a file's rows belong to, once the file passes the dataset's contract for that week.

    Raises BadBatch (quarantine) or NotYet (wait)."""
    import pandas as pd

    from drift_platform.contract import DataContractError, conform, extra_columns
    from drift_platform.source import SourceError, parse_csv

    try:
        raw = parse_csv(data, name)
    except SourceError as exc:
        raise BadBatch(str(exc)) from None
    column = spec.datetime_column
    if column not in raw.columns:
        raise BadBatch(f"missing required column(s) {[column]}; the dataset spec {spec.name!r} declares them")
    if raw.empty:
        raise BadBatch("the file has a header but no rows")
    if len(raw) > spec.max_rows:
        raise BadBatch(f"{len(raw)} rows exceed the cap max_rows={spec.max_rows}")
    when = pd.to_datetime(raw[column], errors="coerce", format="mixed")
    unparseable = when.isna() & raw[column].notna()
    if unparseable.any():
        examples = raw.loc[unparseable, column].head(3).tolist()
        raise BadBatch(f"column {column!r}: unparseable datetime in {int(unparseable.sum())} row(s), e.g. {examples}")
    if when.isna().any():
        raise BadBatch(f"column {column!r}: missing datetime in {int(when.isna().sum())} row(s)")
    if getattr(when.dt, "tz", None) is not None:
        when = when.dt.tz_convert("UTC").dt.tz_localize(None)
    first, last = when.min(), when.max()
    monday = (first - pd.Timedelta(days=first.weekday())).normalize()
    if last >= monday + pd.Timedelta(days=7):
        raise BadBatch(
            f"column {column!r}: the rows span more than one week (first {first:%Y-%m-%d}, last {last:%Y-%m-%d}); "
            "a batch file holds one Monday-to-Sunday week"
        )
    week = f"{monday:%Y-%m-%d}"
    first_week = weekly_partitions.get_first_partition_key()
    if first_week is None or week < first_week:
        raise BadBatch(f"week {week} is before the first monitored week {first_week}")
    if not weekly_partitions.has_partition_key(week):
        raise NotYet(f"week {week} has not ended yet")
    window = weekly_partitions.time_window_for_partition_key(week)
    start, end = (pd.Timestamp(t.replace(tzinfo=None)) for t in (window.start, window.end))
    try:
        frame = conform(raw, spec, window=(start, end))
    except DataContractError as exc:
        raise BadBatch(f"breaks the data contract: {exc}") from None
    return Batch(week=week, rows=len(frame), extra_columns=extra_columns(raw, spec))


# --- the sensor ------------------------------------------------------------------------------------------------
@dataclass
class LandingCursor:
    """Where each processed file went: "<name>:<sha256>" -> its key in the archive or the quarantine."""

    done: dict[str, str]

    @classmethod
    def parse(cls, raw: str | None) -> LandingCursor:
        return cls(done=dict(json.loads(raw)["done"])) if raw else cls(done={})

    def serialize(self) -> str:
        return json.dumps({"done": self.done}, sort_keys=True)


def run_key_for(name: str, sha256: str) -> str:
    return f"landing:{name}:{sha256}"


def archive_key(week: str, name: str, sha256: str) -> str:
    return f"{ARCHIVE}/{week}/{sha256[:12]}-{name}"


def quarantine_key(name: str, sha256: str) -> str:
    return f"{QUARANTINE}/{sha256[:12]}-{name}"


def run_request(zone: LandingZone, week: str, name: str, sha256: str, key: str) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=run_key_for(name, sha256),
        partition_key=week,
        run_config={"ops": {"current_batch": {"config": {"batch_url": zone.url(key)}}}},
        tags={TAG_TRIGGER: "landing", TAG_LANDING_FILE: name, TAG_LANDING_SHA256: sha256},
    )


def _reason_text(name: str, sha256: str, reason: str) -> str:
    return (
        f"file: {name}\nsha256: {sha256}\nquarantined: {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC\n"
        f"reason: {reason}\n"
    )


def scan(zone: LandingZone, spec: DatasetSpec, cursor: LandingCursor, log: Any,
         now: float | None = None) -> tuple[list[dg.RunRequest], list[str]]:
    """One pass over the landing zone: move every settled file to the archive or the quarantine, and return
    the run requests and a line per file for the skip reason. Updates `cursor`."""
    now = time.time() if now is None else now
    requests: list[dg.RunRequest] = []
    notes: list[str] = []
    placed = set(cursor.done.values())

    # Archived files the cursor does not know: a tick that died after the move. Request their runs now.
    for key in zone.list_under(ARCHIVE):
        parts = PurePosixPath(key).parts
        if key in placed or len(parts) != 3 or "-" not in parts[2]:
            continue
        week, (prefix, name) = parts[1], parts[2].split("-", 1)
        sha256 = hashlib.sha256(zone.read(key)).hexdigest()
        if not sha256.startswith(prefix) or not weekly_partitions.has_partition_key(week):
            continue
        log.warning(f"{key} is archived but has no run request on record: requesting it now")
        requests.append(run_request(zone, week, name, sha256, key))
        cursor.done[f"{name}:{sha256}"] = key

    for landed in zone.landed():
        name = landed.name
        if now - landed.modified < zone.min_age_s:
            notes.append(f"{name}: changed {now - landed.modified:.0f} s ago, waiting until it settles")
            continue
        data = zone.read(name)
        sha256 = hashlib.sha256(data).hexdigest()
        identity = f"{name}:{sha256}"
        if identity in cursor.done:
            # Same name, same bytes: moved onto its first copy (identical), no second run.
            zone.move(name, cursor.done[identity])
            log.info(f"{name} (sha256 {sha256[:12]}) was processed before, as {cursor.done[identity]}; not again")
            notes.append(f"{name}: seen before")
            continue
        try:
            batch = inspect_batch(data, name, spec)
        except NotYet as exc:
            notes.append(f"{name}: {exc}; it stays until then")
            continue
        except BadBatch as exc:
            target = quarantine_key(name, sha256)
            zone.write_text(f"{target}.reason.txt", _reason_text(name, sha256, str(exc)))
            zone.move(name, target)
            cursor.done[identity] = target
            log.warning(f"{name} quarantined as {zone.url(target)}: {exc}")
            notes.append(f"{name}: quarantined")
            continue
        target = archive_key(batch.week, name, sha256)
        zone.move(name, target)
        cursor.done[identity] = target
        extra = f"; ignoring unknown columns {batch.extra_columns}" if batch.extra_columns else ""
        log.info(f"{name}: {batch.rows} rows of week {batch.week}, archived as {zone.url(target)}{extra}")
        requests.append(run_request(zone, batch.week, name, sha256, target))
    return requests, notes


@dg.sensor(
    job=weekly_drift_job,
    minimum_interval_seconds=sensor_interval_seconds(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "A weekly_drift_job run for each batch file that lands in DRIFT_LANDING_DIR (matching "
        "DRIFT_LANDING_PATTERN): checked, archived, run once; bad files go to quarantine/ with the reason."
    ),
)
def landing_zone_sensor(context: dg.SensorEvaluationContext, dataset: DatasetResource) -> dg.SensorResult:
    zone = landing_zone()
    cursor = LandingCursor.parse(context.cursor)
    requests, notes = scan(zone, dataset.spec(), cursor, context.log)
    skip = None
    if not requests:
        detail = "; ".join(notes) if notes else f"no new file matching {zone.pattern!r}"
        skip = dg.SkipReason(f"{zone.describe()}: {detail}")
    return dg.SensorResult(run_requests=requests, cursor=cursor.serialize(), skip_reason=skip)

