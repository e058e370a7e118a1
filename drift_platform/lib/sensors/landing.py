"""`<monitor>_landing_sensor`: batch files dropped into a monitor's landing folder become runs of its drift job.

Upstream teams deliver a period's rows whenever they have them: a file matching the monitor's `landing.pattern`
(default `*.csv`) in its landing folder of the object store (`<store>/<monitor>/landing/`: a local folder by
default, an S3 prefix in production). For each new file, a tick of the sensor

- reads it and finds its period: every datetime must fall in ONE partition (a Monday-to-Sunday week, or a day);
- checks it against the dataset's contract for that period (the same `conform` the run applies);
- a good file is moved to `archive/<period>/<sha256[:12]>-<name>` and a run of the drift job is requested for
  that period, with `current_batch` reading the archived file (`batch_url`). The run is an ordinary run: the
  drift report, the checks, the history and the retrain sensor apply as they are;
- a bad file is moved to `quarantine/<sha256[:12]>-<name>` with `<sha256[:12]>-<name>.reason.txt` beside it;
- files are moved, never deleted.

A monitor whose labels arrive late may set `labels.pattern` (e.g. `labels*.csv`): a file matching it is a period's
labels, not a batch. It must hold the key columns, the datetime column and the target (its type and classes), every
row in one period; it is archived under `archive/labels/<period>/` and becomes a run of the labels job reading it
(`labels_url`), which checks its keys and the labels landed before.

A file seen before (same name, same content hash) is not processed twice: the cursor remembers where each one
went, and a second copy is moved onto its first copy's place (same bytes, same key) without a new run; the run
key `landing:<name>:<sha256>` makes a repeated request harmless even without the cursor. A file is taken once
it has not changed for `landing.min_age_seconds` (default 10), so a half-copied file is not read. A file whose
period has not ended yet waits in the landing folder until it has. If a tick dies between moving a file to the
archive and saving its cursor, the next tick finds the archived file missing from the cursor and requests its
run then.
"""

import fnmatch
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

import dagster as dg

from drift_platform.core.names import CURRENT_BATCH, LABELS, TAG_MONITOR, TAG_TRIGGER
from drift_platform.core.settings import Monitor
from drift_platform.resources import ObjectStore
from drift_platform.resources.store import ScopedStore

ARCHIVE = "archive"
QUARANTINE = "quarantine"
TAG_LANDING_FILE = "drift_platform/landing_file"
TAG_LANDING_SHA256 = "drift_platform/landing_sha256"


@dataclass(frozen=True)
class LandingZone:
    """A monitor's landing folder: where files land (top level), and its archive and quarantine folders."""

    folder: ScopedStore
    pattern: str
    min_age_s: float
    labels_pattern: str | None = None

    def landed(self):
        """Files at the top level whose name matches the pattern (or the labels' pattern), hidden files excluded."""
        return [f for f in self.folder.list_files()
                if self._matches(PurePosixPath(f.key).name, self.pattern) or self.is_labels(f.key)]

    def is_labels(self, name: str) -> bool:
        """A file of labels (its name matches `labels.pattern`), not a batch."""
        return self.labels_pattern is not None and self._matches(PurePosixPath(name).name, self.labels_pattern)

    @staticmethod
    def _matches(name: str, pattern: str) -> bool:
        return not name.startswith(".") and fnmatch.fnmatchcase(name, pattern)


def landing_zone(monitor: Monitor, store: ObjectStore) -> LandingZone:
    settings = monitor.landing
    return LandingZone(store.scoped(f"{monitor.name}/{settings.folder.strip('/')}"), settings.pattern,
                       settings.min_age_seconds, monitor.labels.pattern if monitor.labels else None)


# --- what a landed file holds --------------------------------------------------------------------------------
class BadBatch(ValueError):
    """The file cannot be a batch: the reason is written next to it in the quarantine."""


class NotYet(Exception):
    """The file's period has not ended: no partition exists for it yet."""


@dataclass(frozen=True)
class Batch:
    period: str
    rows: int
    extra_columns: list[str]


def _period_of(when, monitor: Monitor, partitions: dg.TimeWindowPartitionsDefinition) -> str:
    """The one partition the datetimes fall in (BadBatch if they span several, NotYet if it has not ended)."""
    import pandas as pd

    first, last = when.min(), when.max()
    weekly = monitor.cadence == "weekly"
    start = (first - pd.Timedelta(days=first.weekday()) if weekly else first).normalize()
    if last >= start + pd.Timedelta(days=7 if weekly else 1):
        shape = "one Monday-to-Sunday week" if weekly else "one day"
        raise BadBatch(f"the rows span more than {shape} (first {first:%Y-%m-%d %H:%M}, last {last:%Y-%m-%d %H:%M});"
                       f" a batch file holds {shape}")
    period, first_period = f"{start:%Y-%m-%d}", partitions.get_first_partition_key()
    if first_period is None or period < first_period:
        label = monitor.period_label
        raise BadBatch(f"{label} {period} is before the first monitored {label} {first_period}")
    if not partitions.has_partition_key(period):
        raise NotYet(f"{monitor.period_label} {period} has not ended yet")
    return period


def timed_rows(data: bytes, name: str, monitor: Monitor, partitions: dg.TimeWindowPartitionsDefinition):
    """A landed file's rows (identifiers, datetimes read), the one period they fall in and its [start, end).

    Raises BadBatch (quarantine) or NotYet (wait)."""
    import pandas as pd

    from drift_platform.core.intake.contract import DataContractError, read_times, to_identifiers
    from drift_platform.core.intake.source import SourceError, parse_csv

    spec = monitor.spec
    try:
        raw = to_identifiers(parse_csv(data, name), spec)
    except SourceError as exc:
        raise BadBatch(str(exc)) from None
    column = spec.datetime_column
    if column not in raw.columns:
        raise BadBatch(f"missing required column(s) [{spec.described(column)}]; the dataset spec {spec.name!r} "
                       "declares them")
    if raw.empty:
        raise BadBatch("the file has a header but no rows")
    if len(raw) > spec.max_rows:
        raise BadBatch(f"{len(raw)} rows exceed the cap max_rows={spec.max_rows}")
    try:
        raw = read_times(raw, spec, monitor.timezone)
    except DataContractError as exc:
        raise BadBatch(str(exc)) from None
    when = raw[column]
    if when.isna().any():
        raise BadBatch(f"column {spec.described(column)}: missing datetime in {int(when.isna().sum())} row(s)")
    period = _period_of(when, monitor, partitions)
    window = partitions.time_window_for_partition_key(period)
    return raw, period, tuple(pd.Timestamp(t.replace(tzinfo=None)) for t in (window.start, window.end))


def inspect_batch(data: bytes, name: str, monitor: Monitor, partitions: dg.TimeWindowPartitionsDefinition) -> Batch:
    """The period a file's rows belong to, once the file passes the dataset's contract for that period (a
    monitor whose labels arrive late: without its target). Raises BadBatch (quarantine) or NotYet (wait)."""
    from drift_platform.core.intake.contract import DataContractError, conform, extra_columns

    raw, period, window = timed_rows(data, name, monitor, partitions)
    try:
        frame = conform(raw, monitor.spec, window=window, timezone=monitor.timezone,
                        withhold_target=monitor.late_labels)
    except DataContractError as exc:
        raise BadBatch(f"breaks the data contract: {exc}") from None
    return Batch(period=period, rows=len(frame), extra_columns=extra_columns(raw, monitor.spec))


def inspect_labels(data: bytes, name: str, monitor: Monitor, partitions: dg.TimeWindowPartitionsDefinition) -> Batch:
    """The period a labels file's rows belong to, once they are labels of the spec (the key columns, the datetime
    column, the target of its type and classes); their keys and the labels landed before are checked by the
    labels job's run. Raises BadBatch (quarantine) or NotYet (wait)."""
    from drift_platform.core.intake.contract import DataContractError
    from drift_platform.core.intake.labels import label_columns, read_labels

    raw, period, window = timed_rows(data, name, monitor, partitions)
    try:
        frame = read_labels(raw, monitor.spec, window, whole_file=True, timezone=monitor.timezone,
                            classes=monitor.spec.known_classes)
    except DataContractError as exc:
        raise BadBatch(f"are not labels of the dataset spec: {exc}") from None
    known = label_columns(monitor.spec)
    return Batch(period=period, rows=len(frame), extra_columns=[c for c in raw.columns if c not in known])


# --- the sensor ------------------------------------------------------------------------------------------------
@dataclass
class LandingCursor:
    """Where each processed file went: "<name>:<sha256>" -> its key in the archive or the quarantine."""

    done: dict[str, str]

    @classmethod
    def parse(cls, raw: str | None) -> "LandingCursor":
        return cls(done=dict(json.loads(raw)["done"])) if raw else cls(done={})

    def serialize(self) -> str:
        return json.dumps({"done": self.done}, sort_keys=True)


def run_key_for(name: str, sha256: str) -> str:
    return f"landing:{name}:{sha256}"


def archive_key(period: str, name: str, sha256: str, labels: bool = False) -> str:
    """Where a processed file goes: archive/<period>/..., a labels file archive/labels/<period>/...."""
    return f"{ARCHIVE}/{LABELS + '/' if labels else ''}{period}/{sha256[:12]}-{name}"


def quarantine_key(name: str, sha256: str) -> str:
    return f"{QUARANTINE}/{sha256[:12]}-{name}"


def run_request(monitor: Monitor, zone: LandingZone, period: str, name: str, sha256: str, key: str,
                labels: bool = False) -> dg.RunRequest:
    """A drift job run reading the archived batch (`batch_url`), or a labels job run its labels (`labels_url`)."""
    op, field = (LABELS, "labels_url") if labels else (CURRENT_BATCH, "batch_url")
    return dg.RunRequest(
        run_key=run_key_for(name, sha256),
        partition_key=period,
        job_name=monitor.job_name("labels_job" if labels else "drift_job"),
        run_config={"ops": {f"{monitor.name}__{op}": {"config": {field: zone.folder.url(key)}}}},
        tags={TAG_MONITOR: monitor.name, TAG_TRIGGER: "landing", TAG_LANDING_FILE: name, TAG_LANDING_SHA256: sha256},
    )


def _reason_text(name: str, sha256: str, reason: str) -> str:
    return (
        f"file: {name}\nsha256: {sha256}\nquarantined: {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC\n"
        f"reason: {reason}\n"
    )


def _unrecorded_archive(monitor: Monitor, zone: LandingZone, partitions, cursor: LandingCursor, log: Any):
    """Archived files the cursor does not know (a tick that died after the move): their run requests."""
    placed, requests = set(cursor.done.values()), []
    for key in zone.folder.list_keys(ARCHIVE):
        parts = PurePosixPath(key).parts
        labels = len(parts) == 4 and parts[1] == LABELS
        if key in placed or len(parts) != (4 if labels else 3) or "-" not in parts[-1]:
            continue
        period, (prefix, name) = parts[-2], parts[-1].split("-", 1)
        sha256 = hashlib.sha256(zone.folder.read_bytes(key)).hexdigest()
        if not sha256.startswith(prefix) or not partitions.has_partition_key(period):
            continue
        log.warning(f"{key} is archived but has no run request on record: requesting it now")
        requests.append(run_request(monitor, zone, period, name, sha256, key, labels))
        cursor.done[f"{name}:{sha256}"] = key
    return requests


def scan(monitor: Monitor, zone: LandingZone, partitions, cursor: LandingCursor, log: Any,
         now: float | None = None) -> tuple[list[dg.RunRequest], list[str]]:
    """One pass over the landing zone: move every settled file to the archive or the quarantine, and return
    the run requests and a line per file for the skip reason. Updates `cursor`."""
    now = time.time() if now is None else now
    requests = _unrecorded_archive(monitor, zone, partitions, cursor, log)
    notes: list[str] = []
    for landed in zone.landed():
        name = landed.key
        if now - landed.modified < zone.min_age_s:
            notes.append(f"{name}: changed {now - landed.modified:.0f} s ago, waiting until it settles")
            continue
        data = zone.folder.read_bytes(name)
        sha256 = hashlib.sha256(data).hexdigest()
        identity = f"{name}:{sha256}"
        if identity in cursor.done:
            # Same name, same bytes: moved onto its first copy (identical), no second run.
            zone.folder.move(name, cursor.done[identity])
            log.info(f"{name} (sha256 {sha256[:12]}) was processed before, as {cursor.done[identity]}; not again")
            notes.append(f"{name}: seen before")
            continue
        labels = zone.is_labels(name)
        try:
            batch = (inspect_labels if labels else inspect_batch)(data, name, monitor, partitions)
        except NotYet as exc:
            notes.append(f"{name}: {exc}; it stays until then")
            continue
        except BadBatch as exc:
            target = quarantine_key(name, sha256)
            zone.folder.write_bytes(f"{target}.reason.txt", _reason_text(name, sha256, str(exc)).encode(),
                                    "text/plain; charset=utf-8")
            zone.folder.move(name, target)
            cursor.done[identity] = target
            log.warning(f"{name} quarantined as {zone.folder.url(target)}: {exc}")
            notes.append(f"{name}: quarantined")
            continue
        target = archive_key(batch.period, name, sha256, labels)
        zone.folder.move(name, target)
        cursor.done[identity] = target
        extra = f"; ignoring unknown columns {batch.extra_columns}" if batch.extra_columns else ""
        log.info(f"{name}: {batch.rows} {'labels' if labels else 'rows'} of {batch.period}, archived as "
                 f"{zone.folder.url(target)}{extra}")
        requests.append(run_request(monitor, zone, batch.period, name, sha256, target, labels))
    return requests, notes


def build_landing_sensor(monitor: Monitor, drift_job, partitions, labels_job=None) -> dg.SensorDefinition:
    """`<monitor>_landing_sensor`: batch files become drift job runs; with `labels_job` (labels that arrive late,
    `labels.pattern` set), label files become labels job runs."""
    labels = " and label files matching " + repr(monitor.labels.pattern) + f" {labels_job.name} runs" if (
        labels_job is not None and monitor.labels.pattern) else ""

    @dg.sensor(
        name=f"{monitor.name}_landing_sensor",
        jobs=[drift_job, labels_job] if labels_job is not None else [drift_job],
        minimum_interval_seconds=monitor.sensor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING if monitor.landing.running else dg.DefaultSensorStatus.STOPPED,
        description=(
            f"A {drift_job.name} run for each batch file that lands in the store's {monitor.name}/"
            f"{monitor.landing.folder}/ (matching {monitor.landing.pattern!r}): checked, archived, run once; "
            f"bad files go to quarantine/ with the reason{labels}."
        ),
    )
    def landing_sensor(context: dg.SensorEvaluationContext, store: ObjectStore) -> dg.SensorResult:
        zone = landing_zone(monitor, store)
        cursor = LandingCursor.parse(context.cursor)
        requests, notes = scan(monitor, zone, partitions, cursor, context.log)
        skip = None
        if not requests:
            detail = "; ".join(notes) if notes else f"no new file matching {zone.pattern!r}"
            skip = dg.SkipReason(f"{zone.folder.describe()}: {detail}")
        return dg.SensorResult(run_requests=requests, cursor=cursor.serialize(), skip_reason=skip)

    return landing_sensor
