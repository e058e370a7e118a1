"""<monitor>_landing_sensor: files dropped into a monitor's landing folder of the object store (a local folder, or an
S3 prefix on a real S3-compatible server) become runs of its drift job that take the same contract, drift report,
check, history and retrain path as scheduled periods; weekly for the bike-sharing monitor, daily for grid_load."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from drift_platform.lib.sensors.landing import LandingCursor
from drift_platform.resources import ObjectStore, S3ObjectStore
from drift_platform_tests.conftest import (
    BIKE_SOURCE,
    GRID_SOURCE,
    bike_monitor,
    grid_monitor,
    local_resources,
)
from drift_platform_tests.helpers import Platform, check_evaluations

WEEK = "2011-07-04"  # drifts against the January reference
RAW = pd.read_csv(BIKE_SOURCE, dtype=str)
GRID_RAW = pd.read_csv(GRID_SOURCE, dtype=str)


def week_csv(start: str = WEEK, days: int = 7, transform=None) -> bytes:
    """The sample's rows of `days` days from `start`, as a CSV file's bytes (strings kept as in the source)."""
    first = pd.Timestamp(start)
    when = pd.to_datetime(RAW["dteday"])
    rows = RAW[(when >= first) & (when < first + pd.Timedelta(days=days))].copy()
    if transform is not None:
        rows = transform(rows)
    return rows.to_csv(index=False).encode()


def grid_csv(start: str, days: int = 1) -> bytes:
    """The grid sample's hourly rows of `days` days from `start`."""
    first = pd.Timestamp(start)
    when = pd.to_datetime(GRID_RAW["timestamp"])
    return GRID_RAW[(when >= first) & (when < first + pd.Timedelta(days=days))].to_csv(index=False).encode()


class Landing:
    """A monitor's landing sensor on its landing folder, ticked as the daemon would, keeping its cursor."""

    def __init__(self, platform: Platform, root: Path | None) -> None:
        self.platform, self.root, self.cursor = platform, root, None

    @property
    def store(self) -> ObjectStore:
        return self.platform.resources["store"]

    def drop(self, name: str, data: bytes) -> Path:
        """A file put into the landing folder by an upstream team (straight onto the disk, not through the store)."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / name
        path.write_bytes(data)
        return path

    def tick(self) -> dg.SensorResult:
        with dg.build_sensor_context(instance=self.platform.instance, cursor=self.cursor,
                                     resources=self.platform.resources) as context:
            result = self.platform.sensor("landing_sensor")(context)
        self.cursor = result.cursor
        return result

    def files(self, folder: str = "") -> list[str]:
        base = self.root / folder
        return sorted(p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file())

    def run(self, request: dg.RunRequest, raise_on_error: bool = True):
        return self.platform.job("drift_job").execute_in_process(
            partition_key=request.partition_key, run_config=request.run_config, tags=request.tags,
            instance=self.platform.instance, raise_on_error=raise_on_error,
        )  # fmt: skip

    def with_landing(self, **landing) -> Landing:
        """The same folder, instance and cursor, under other landing settings of the monitor (as after a redeploy)."""
        monitor = self.platform.monitor.model_copy(
            update={"landing": self.platform.monitor.landing.model_copy(update=landing)}
        )
        other = Landing(Platform(self.platform.resources, self.platform.instance, monitor=monitor), self.root)
        other.cursor = self.cursor
        return other


def source_without_july(tmp_path: Path) -> Path:
    """The dataset's own source lacks July: a July week can only come from the landed file."""
    source = tmp_path / "source_without_july.csv"
    RAW[~RAW["dteday"].str.startswith("2011-07")].to_csv(source, index=False)
    return source


@pytest.fixture
def landing(tmp_path, instance) -> Landing:
    platform = Platform(local_resources(tmp_path), instance, monitor=bike_monitor(source=source_without_july(tmp_path)))
    # The monitor's landing folder of the store: <store root>/bike_sharing/landing/
    return Landing(platform, tmp_path / "store" / "bike_sharing" / "landing")


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
    assert request.run_config == {
        "ops": {"bike_sharing__current_batch": {"config": {"batch_url": str(landing.root / archived)}}}
    }
    assert request.tags["drift_platform/trigger"] == "landing"
    assert request.tags["drift_platform/monitor"] == "bike_sharing"

    run = landing.run(request)
    batch = run.asset_materializations_for_node("bike_sharing__current_batch")[0].metadata
    assert batch["rows"].value == 7 and batch["source"].value == str(landing.root / archived)
    [evaluation] = check_evaluations(run, "no_dataset_drift")
    assert evaluation.check_name == "no_dataset_drift" and evaluation.passed is False
    assert evaluation.asset_key == landing.platform.key("drift_report")
    assert len(landing.platform.history()) == 28 + 7

    # The same retrain and alert path as a scheduled week.
    [retrain] = landing.platform.tick().run_requests
    assert retrain.tags["drift_platform/period"] == WEEK

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
        (week_csv(days=9), "the rows span more than one Monday-to-Sunday week (first 2011-07-04 00:00, "
                           "last 2011-07-12 00:00)"),
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


def test_what_is_not_taken_stays_where_it_is(landing: Landing) -> None:
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

    waiting = landing.with_landing(min_age_seconds=3600)  # the monitor's landing.min_age_seconds
    waiting.drop("week27.csv", week_csv())  # just written: may still be growing
    result = waiting.tick()
    assert not result.run_requests and "week27.csv: changed 0 s ago, waiting" in result.skip_reason.skip_message
    assert "week27.csv" in waiting.files()

    parquet = waiting.with_landing(min_age_seconds=0, pattern="*.parquet")  # the pattern is configurable
    result = parquet.tick()
    assert "week27.parquet: quarantined" in result.skip_reason.skip_message
    assert "week27.csv" in parquet.files() and "week_now.csv" in parquet.files()  # not matching: left alone


def test_s3_landing_prefix(tmp_path, instance, s3_server, s3_bucket) -> None:
    """In production the store is a bucket: files land under <prefix>/<monitor>/landing/ and the run reads the
    archived object through its s3:// URL, with the store's S3 connection."""
    store = S3ObjectStore(
        bucket=s3_bucket, prefix="drift", s3_endpoint_url=s3_server.endpoint_url, aws_region=s3_server.region,
        aws_access_key_id=s3_server.access_key, aws_secret_access_key=s3_server.secret_key,
    )  # fmt: skip
    platform = Platform(local_resources(tmp_path, store=store), instance,
                        monitor=bike_monitor(source=source_without_july(tmp_path)))
    landing = Landing(platform, None)
    client = s3_server.client()
    folder = "drift/bike_sharing/landing"
    good, bad = week_csv(), week_csv(transform=_drop_column)
    for key, body in (("week27.csv", good), ("week28.csv", bad), ("other/week29.csv", good), ("notes.txt", b"x")):
        client.put_object(Bucket=s3_bucket, Key=f"{folder}/{key}", Body=body)

    [request] = landing.tick().run_requests
    archived = f"{folder}/archive/{WEEK}/{sha(good)[:12]}-week27.csv"
    quarantined = f"{folder}/quarantine/{sha(bad)[:12]}-week28.csv"
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket)["Contents"])
    assert keys == sorted([archived, quarantined, f"{quarantined}.reason.txt", f"{folder}/other/week29.csv",
                           f"{folder}/notes.txt"])
    assert client.get_object(Bucket=s3_bucket, Key=archived)["Body"].read() == good
    reason = client.get_object(Bucket=s3_bucket, Key=f"{quarantined}.reason.txt")["Body"].read().decode()
    assert "missing required column(s) ['hum']" in reason
    batch_url = f"s3://{s3_bucket}/{archived}"
    assert request.run_config["ops"]["bike_sharing__current_batch"]["config"]["batch_url"] == batch_url

    run = landing.run(request)
    batch = run.asset_materializations_for_node("bike_sharing__current_batch")[0].metadata
    assert batch["rows"].value == 7 and batch["source"].value == batch_url
    assert not landing.tick().run_requests


def test_daily_monitor_lands_a_day_and_refuses_two(tmp_path, instance) -> None:
    """grid_load's partitions are days: a file of one day's hours lands in that day's partition; a file spanning
    two days is quarantined, naming the one day a batch file must hold."""
    monitor = grid_monitor(landing={"pattern": "day*.csv", "min_age_seconds": 0})
    landing = Landing(Platform(local_resources(tmp_path), instance, monitor=monitor),
                      tmp_path / "store" / "grid_load" / "landing")
    one_day, two_days = grid_csv("2011-02-08"), grid_csv("2011-02-09", days=2)
    landing.drop("day_0208.csv", one_day)
    landing.drop("day_0209.csv", two_days)
    result = landing.tick()

    [request] = result.run_requests
    archived = f"archive/2011-02-08/{sha(one_day)[:12]}-day_0208.csv"
    quarantined = f"quarantine/{sha(two_days)[:12]}-day_0209.csv"
    assert landing.files() == [archived, quarantined, f"{quarantined}.reason.txt"]
    assert request.partition_key == "2011-02-08" and request.tags["drift_platform/monitor"] == "grid_load"
    assert request.run_config == {
        "ops": {"grid_load__current_batch": {"config": {"batch_url": str(landing.root / archived)}}}
    }
    reason = (landing.root / f"{quarantined}.reason.txt").read_text()
    assert "the rows span more than one day (first 2011-02-09 00:00, last 2011-02-10 23:00)" in reason
    assert "a batch file holds one day" in reason

    run = landing.run(request)
    batch = run.asset_materializations_for_node("grid_load__current_batch")[0]
    assert batch.partition == "2011-02-08" and batch.asset_key == dg.AssetKey(["grid_load", "current_batch"])
    assert batch.metadata["rows"].value == 24 and batch.metadata["source"].value == str(landing.root / archived)
    [evaluation] = check_evaluations(run, "no_dataset_drift")  # the storm day's sensor fault: data drift
    assert evaluation.check_name == "no_dataset_drift" and evaluation.passed is False
    assert not landing.tick().run_requests
