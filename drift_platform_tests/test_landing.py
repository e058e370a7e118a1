"""landing_zone_sensor: files dropped into a folder (or an S3 prefix on a real S3-compatible server) become
weekly runs that take the same contract, drift report, check, history and retrain path as scheduled weeks."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from drift_platform.landing import LandingCursor, landing_zone_sensor
from drift_platform.settings import DEFAULT_SOURCE_PATH
from drift_platform_tests.conftest import local_resources
from drift_platform_tests.helpers import Platform, check_evaluations

WEEK = "2011-07-04"  # drifts against the January reference
RAW = pd.read_csv(DEFAULT_SOURCE_PATH, dtype=str)


def week_csv(start: str = WEEK, days: int = 7, transform=None) -> bytes:
    """The sample's rows of `days` days from `start`, as a CSV file's bytes (strings kept as in the source)."""
    first = pd.Timestamp(start)
    when = pd.to_datetime(RAW["dteday"])
    rows = RAW[(when >= first) & (when < first + pd.Timedelta(days=days))].copy()
    if transform is not None:
        rows = transform(rows)
    return rows.to_csv(index=False).encode()


class Landing:
    """The sensor on a landing folder, ticked as the daemon would, keeping its cursor."""

    def __init__(self, platform: Platform, root: Path) -> None:
        self.platform, self.root, self.cursor = platform, root, None

    def drop(self, name: str, data: bytes) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / name
        path.write_bytes(data)
        return path

    def tick(self) -> dg.SensorResult:
        with dg.build_sensor_context(instance=self.platform.instance, cursor=self.cursor,
                                     resources=self.platform.resources) as context:
            result = landing_zone_sensor(context)
        self.cursor = result.cursor
        return result

    def files(self, folder: str = "") -> list[str]:
        base = self.root / folder
        return sorted(p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file())

    def run(self, request: dg.RunRequest, raise_on_error: bool = True):
        job = self.platform.defs.resolve_job_def("weekly_drift_job")
        return job.execute_in_process(partition_key=request.partition_key, run_config=request.run_config,
                                      tags=request.tags, instance=self.platform.instance,
                                      raise_on_error=raise_on_error)


@pytest.fixture
def landing(tmp_path, instance, monkeypatch) -> Landing:
    # The dataset's own source lacks July: a July week can only come from the landed file.
    source = tmp_path / "source_without_july.csv"
    RAW[~RAW["dteday"].str.startswith("2011-07")].to_csv(source, index=False)
    root = tmp_path / "landing"
    monkeypatch.setenv("DRIFT_LANDING_DIR", str(root))
    monkeypatch.setenv("DRIFT_LANDING_MIN_AGE_SECONDS", "0")
    monkeypatch.delenv("DRIFT_LANDING_PATTERN", raising=False)
    return Landing(Platform(local_resources(tmp_path, source=source), instance), root)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_landed_week_is_archived_and_goes_the_scheduled_weeks_way(landing: Landing) -> None:
    data = week_csv()
    landing.drop("week27.csv", data)
    result = landing.tick()

    [request] = result.run_requests
    archived = f"archive/{WEEK}/{sha(data)[:12]}-week27.csv"
    assert landing.files() == [archived]  # moved, not copied; nothing deleted
    assert (landing.root / archived).read_bytes() == data
    assert request.partition_key == WEEK and request.run_key == f"landing:week27.csv:{sha(data)}"
    assert request.run_config == {"ops": {"current_batch": {"config": {"batch_url": str(landing.root / archived)}}}}
    assert request.tags["drift_platform/trigger"] == "landing"

    run = landing.run(request)
    batch = run.asset_materializations_for_node("current_batch")[0].metadata
    assert batch["rows"].value == 7 and batch["source"].value == str(landing.root / archived)
    [evaluation] = check_evaluations(run)
    assert evaluation.check_name == "no_dataset_drift" and evaluation.passed is False
    assert len(landing.platform.history()) == 28 + 7

    # The same retrain and alert path as a scheduled week.
    [retrain] = landing.platform.tick().run_requests
    assert retrain.tags["drift_platform/week"] == WEEK

    again = landing.tick()
    assert not again.run_requests and "no new file matching 'week*.csv'" in again.skip_reason.skip_message


def test_a_file_seen_twice_is_processed_once(landing: Landing) -> None:
    data = week_csv()
    landing.drop("week27.csv", data)
    [first] = landing.tick().run_requests

    landing.drop("week27.csv", data)  # delivered again: same name, same bytes
    repeat = landing.tick()
    assert not repeat.run_requests and "week27.csv: seen before" in repeat.skip_reason.skip_message
    assert landing.files() == [f"archive/{WEEK}/{sha(data)[:12]}-week27.csv"]

    corrected = week_csv(transform=lambda rows: rows.assign(hum="0.5"))  # same name, new content
    landing.drop("week27.csv", corrected)
    landing.drop("week27_copy.csv", data)  # same content, another name
    requests = landing.tick().run_requests
    assert sorted(r.run_key for r in requests) == sorted(
        [f"landing:week27.csv:{sha(corrected)}", f"landing:week27_copy.csv:{sha(data)}"]
    )
    assert first.run_key not in {r.run_key for r in requests}
    assert len(landing.files("archive")) == 3


def test_a_tick_lost_after_the_move_is_made_good(landing: Landing) -> None:
    """The daemon died after moving the file but before saving the cursor: the archive is the truth."""
    data = week_csv()
    landing.drop("week27.csv", data)
    [request] = landing.tick().run_requests
    landing.cursor = None  # the cursor of that tick was never saved
    [again] = landing.tick().run_requests
    assert (again.run_key, again.partition_key, again.run_config) == (
        request.run_key, request.partition_key, request.run_config
    )  # the same run key: Dagster will not launch it twice if the first request did reach it
    assert not landing.tick().run_requests
    assert LandingCursor.parse(landing.cursor).done == {f"week27.csv:{sha(data)}": landing.files()[0]}


def _drop_column(rows):
    return rows.drop(columns=["hum"])


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (week_csv(transform=_drop_column), "missing required column(s) ['hum']"),
        (week_csv(days=9), "the rows span more than one week (first 2011-07-04, last 2011-07-12)"),
        (week_csv(transform=lambda r: r.assign(dteday=["2011-07-04", "yesterday", *r["dteday"][2:]])),
         "unparseable datetime in 1 row(s)"),
        (week_csv(transform=lambda r: r.assign(dteday=["2011-07-04"] * len(r))), "duplicate datetimes"),
        (week_csv(transform=lambda r: r.assign(cnt="-1")), "target 'cnt' must be non-negative"),
        (week_csv(transform=lambda r: r.assign(temp="warm")), "column 'temp' must be float"),
        (week_csv("2011-01-10"), "week 2011-01-10 is before the first monitored week 2011-01-31"),
        (b"", "is empty"),
        (week_csv(days=0), "a header but no rows"),
        ("dteday,temp\n2011-07-04,été\n".encode("latin-1"), "is not UTF-8 text"),
        (week_csv()[:-40], "looks truncated"),
    ],
    ids=["missing_column", "two_weeks", "bad_datetime", "duplicate_days", "negative_target", "text_in_float",
         "before_first_week", "empty", "header_only", "latin1", "truncated"],
)
def test_a_bad_file_is_quarantined_with_its_reason(landing: Landing, data: bytes, reason: str) -> None:
    landing.drop("week27.csv", data)
    result = landing.tick()
    assert not result.run_requests and "week27.csv: quarantined" in result.skip_reason.skip_message
    kept = f"quarantine/{sha(data)[:12]}-week27.csv"
    assert landing.files() == [kept, f"{kept}.reason.txt"]
    assert (landing.root / kept).read_bytes() == data
    text = (landing.root / f"{kept}.reason.txt").read_text()
    assert "file: week27.csv" in text and f"sha256: {sha(data)}" in text and reason in text
    assert not landing.tick().run_requests


def test_what_is_not_taken_stays_where_it_is(landing: Landing, monkeypatch) -> None:
    today = dt.date.today()
    monday = today - dt.timedelta(days=today.weekday())
    this_week = week_csv(transform=lambda r: r.assign(dteday=[f"{monday + dt.timedelta(days=i)}" for i in range(7)]))
    landing.drop("week_now.csv", this_week)  # its week has not ended: no partition yet
    landing.drop("notes.txt", b"not a batch")  # not matching week*.csv
    landing.drop("week27.parquet", b"PAR1")
    landing.drop(".week27.csv.part", week_csv())  # a hidden file being written
    landing.root.joinpath("archive").mkdir()
    result = landing.tick()
    assert not result.run_requests
    assert "week_now.csv: week" in result.skip_reason.skip_message
    assert "has not ended yet; it stays until then" in result.skip_reason.skip_message
    assert landing.files() == [".week27.csv.part", "notes.txt", "week27.parquet", "week_now.csv"]

    monkeypatch.setenv("DRIFT_LANDING_MIN_AGE_SECONDS", "3600")
    landing.drop("week27.csv", week_csv())  # just written: may still be growing
    result = landing.tick()
    assert not result.run_requests and "week27.csv: changed 0 s ago, waiting" in result.skip_reason.skip_message
    assert "week27.csv" in landing.files()

    monkeypatch.setenv("DRIFT_LANDING_MIN_AGE_SECONDS", "0")
    monkeypatch.setenv("DRIFT_LANDING_PATTERN", "*.parquet")
    result = landing.tick()
    assert "week27.parquet: quarantined" in result.skip_reason.skip_message  # the pattern is configurable


def test_s3_landing_prefix(landing: Landing, s3_server, s3_bucket, monkeypatch) -> None:
    """In production files land in a bucket; the run reads the archived object through its s3:// URL."""
    for name, value in {
        "DRIFT_LANDING_DIR": f"s3://{s3_bucket}/drift/landing", "DRIFT_S3_ENDPOINT_URL": s3_server.endpoint_url,
        "AWS_ACCESS_KEY_ID": s3_server.access_key, "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        "AWS_DEFAULT_REGION": s3_server.region,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    client = s3_server.client()
    good, bad = week_csv(), week_csv(transform=_drop_column)
    for key, body in (("week27.csv", good), ("week28.csv", bad), ("other/week29.csv", good), ("notes.txt", b"x")):
        client.put_object(Bucket=s3_bucket, Key=f"drift/landing/{key}", Body=body)

    [request] = landing.tick().run_requests
    archived = f"drift/landing/archive/{WEEK}/{sha(good)[:12]}-week27.csv"
    quarantined = f"drift/landing/quarantine/{sha(bad)[:12]}-week28.csv"
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket)["Contents"])
    assert keys == sorted([archived, quarantined, f"{quarantined}.reason.txt", "drift/landing/other/week29.csv",
                           "drift/landing/notes.txt"])
    assert client.get_object(Bucket=s3_bucket, Key=archived)["Body"].read() == good
    reason = client.get_object(Bucket=s3_bucket, Key=f"{quarantined}.reason.txt")["Body"].read().decode()
    assert "missing required column(s) ['hum']" in reason
    batch_url = f"s3://{s3_bucket}/{archived}"
    assert request.run_config["ops"]["current_batch"]["config"]["batch_url"] == batch_url

    run = landing.run(request)
    batch = run.asset_materializations_for_node("current_batch")[0].metadata
    assert batch["rows"].value == 7 and batch["source"].value == batch_url
    assert not landing.tick().run_requests
