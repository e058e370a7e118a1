"""The Parquet source (core/intake/parquet.py): a hive-partitioned folder gives the CSV path's rows, opens only
the window's partitions, reads only the window's row groups, and names the file and the column when it cannot."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import yaml

from drift_platform.core.intake.contract import conform
from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform.core.intake.parquet import read_parquet_window
from drift_platform.core.intake.source import SourceError, load_window
from drift_platform_tests.conftest import BIKE_SOURCE, BIKE_SPEC

WEEKS = ["2011-01-31", "2011-08-15", "2012-02-27", "2012-12-24"]  # the first and third straddle a month's end
MARCH = (pd.Timestamp("2011-03-07"), pd.Timestamp("2011-03-14"))


def write_by_month(table: pa.Table, root: Path, rows_per_group: int = 7) -> Path:
    """`table` as hive folders month=YYYY-MM/ (by dteday), row groups of `rows_per_group` rows."""
    months = pa.array([f"{d:%Y-%m}" for d in table.column("dteday").to_pylist()])
    ds.write_dataset(table.append_column("month", months), root, format="parquet",
                     partitioning=ds.partitioning(pa.schema([("month", pa.string())]), flavor="hive"),
                     max_rows_per_group=rows_per_group, min_rows_per_group=rows_per_group)
    return root


def bike_table() -> pa.Table:
    return pacsv.read_csv(BIKE_SOURCE)  # dteday typed as a date32 column, the counts as int64


@pytest.fixture(scope="module")
def bike_folder(tmp_path_factory) -> Path:
    return write_by_month(bike_table(), tmp_path_factory.mktemp("parquet") / "bike")


@pytest.fixture
def folder(bike_folder: Path, tmp_path: Path) -> Path:
    """A copy of the bike folder a test may break."""
    return Path(shutil.copytree(bike_folder, tmp_path / "bike"))


def month_file(root: Path, month: str) -> Path:
    (path,) = (root / f"month={month}").glob("*.parquet")
    return path


@pytest.mark.parametrize("monday", WEEKS)
def test_weeks_equal_the_csv_path(spec: DatasetSpec, bike_folder: Path, monday: str) -> None:
    start = pd.Timestamp(monday)
    window = (start, start + pd.Timedelta(days=7))
    read = read_parquet_window(str(bike_folder), spec, *window)
    expected, _ = load_window(str(BIKE_SOURCE), spec, *window)
    assert read.rows == 7 and read.table.column_names == list(spec.columns)
    assert str(read.table.schema.field("dteday").type) == "timestamp[us]"
    pd.testing.assert_frame_equal(read.to_pandas(), expected)
    pd.testing.assert_frame_equal(conform(read.to_pandas(), spec, window=window), expected)
    assert read.extra_columns == [] and read.origin == str(bike_folder)
    assert read.files == (2 if monday in ("2011-01-31", "2012-02-27") else 1)


def test_only_the_windows_partition_files_are_opened(spec: DatasetSpec, folder: Path) -> None:
    """Every other month's file is garbage: the read succeeds because none of them is opened."""
    march = month_file(folder, "2011-03")
    others = [p for p in folder.rglob("*.parquet") if p != march]
    assert len(others) == 23
    for path in others:
        path.write_bytes(b"not parquet at all")
    read = read_parquet_window(f"file://{folder}", spec, *MARCH)
    assert (read.rows, read.files) == (7, 1)
    assert 0 < read.bytes_read <= march.stat().st_size * 2  # footer and row groups of that one file


def test_row_groups_outside_the_window_are_not_read(tmp_path: Path) -> None:
    """One file of 52 weekly row groups: a week's read fetches about a 52nd of it (footer included)."""
    spec = DatasetSpec.from_dict({
        "name": "events", "datetime_column": "ts", "target": "y", "columns": {"ts": "datetime", "x": "float",
        "y": "float"}, "numerical_features": ["x"], "reference_window": {"start": "2024-01-01", "end": "2024-01-07"},
        "first_week": "2024-01-08"})
    step = np.timedelta64(7 * 86400 * 10**6 // 5000, "us")  # 5000 rows a week
    ts = np.datetime64("2024-01-01", "us") + np.arange(52 * 5000) * step
    values = np.random.default_rng(0).normal(size=ts.size)
    path = tmp_path / "events.parquet"
    pq.write_table(pa.table({"ts": ts, "x": values, "y": values}), path, row_group_size=5000)
    read = read_parquet_window(str(path), spec, dt.datetime(2024, 3, 4), dt.datetime(2024, 3, 11))
    assert (read.rows, read.files) == (5000, 1)
    assert read.bytes_read < path.stat().st_size / 20, (read.bytes_read, path.stat().st_size)


def test_aware_times_are_read_in_the_monitors_timezone(spec: DatasetSpec, tmp_path: Path) -> None:
    """UTC timestamps in folders by UTC date, a monitor in Paris: the window is Paris time, the rows naive in it,
    and the folder of the UTC day before the window is still read (its last hour is the window's first)."""
    table = bike_table().slice(60, 20)  # 2011-03-02 .. 2011-03-21
    utc = pa.array([dt.datetime.combine(d, dt.time(23, 30)) for d in table.column("dteday").to_pylist()],
                   pa.timestamp("us", tz="UTC"))
    table = table.set_column(1, "dteday", utc)
    for day in range(table.num_rows):
        row = table.slice(day, 1)
        folder = tmp_path / f"date={row.column('dteday')[0].as_py():%Y-%m-%d}"
        folder.mkdir()
        pq.write_table(row, folder / "part.parquet")
    read = read_parquet_window(str(tmp_path), spec, *MARCH, timezone="Europe/Paris")
    times = read.to_pandas()["dteday"]
    assert list(times) == [pd.Timestamp(f"2011-03-{d:02d} 00:30") for d in range(7, 14)]
    assert read.files == 8  # the 7 UTC days 03-06 .. 03-12, and 03-13 opened for its statistics (nothing read)


def test_source_names_extra_columns_and_a_single_file(spec: DatasetSpec, tmp_path: Path) -> None:
    raw = yaml.safe_load(BIKE_SPEC.read_text())
    renamed = DatasetSpec.from_dict({**raw, "source_names": {"temp": "Temp (norm)"}})
    table = bike_table().rename_columns(["Temp (norm)" if c == "temp" else c for c in bike_table().column_names])
    table = table.append_column("note", pa.array(["x"] * table.num_rows))
    pq.write_table(table, tmp_path / "day.parquet", row_group_size=50)
    read = read_parquet_window(str(tmp_path / "day.parquet"), renamed, *MARCH)
    expected, _ = load_window(str(BIKE_SOURCE), spec, *MARCH)
    pd.testing.assert_frame_equal(read.to_pandas(), expected)
    assert read.extra_columns == ["note"]


def test_a_spec_column_held_by_the_folders(spec: DatasetSpec, tmp_path: Path) -> None:
    """`yr` only in the folder names (yr=0/month=.../): its values come from them, typed as the spec says."""
    table = bike_table()
    for year in (0, 1):
        rows = table.filter(pc.equal(table["yr"], year)).drop_columns(["yr"])
        write_by_month(rows, tmp_path / f"yr={year}")
    read = read_parquet_window(str(tmp_path), spec, pd.Timestamp("2012-02-27"), pd.Timestamp("2012-03-05"))
    expected, _ = load_window(str(BIKE_SOURCE), spec, pd.Timestamp("2012-02-27"), pd.Timestamp("2012-03-05"))
    pd.testing.assert_frame_equal(read.to_pandas(), expected)
    assert read.files == 2 and read.extra_columns == []


def test_a_withheld_target_may_be_absent(spec: DatasetSpec, folder: Path) -> None:
    rewrite(month_file(folder, "2011-03"), lambda t: t.drop_columns(["cnt"]))
    read = read_parquet_window(str(folder), spec, *MARCH, withhold_target=True)
    assert read.rows == 7 and "cnt" not in read.table.column_names
    with pytest.raises(SourceError, match="lacks column 'cnt'"):
        read_parquet_window(str(folder), spec, *MARCH)


def rewrite(path: Path, change) -> None:
    pq.write_table(change(pq.read_table(path)), path)


@pytest.mark.parametrize(("breakage", "message"), [
    ("no folder", "no such file or folder"),
    ("missing partition", "missing partition folder(s) month=2011-03/"),
    ("lacks column", "lacks column 'temp', declared float"),
    ("other type", "column 'temp' has type string; the dataset spec 'bike_sharing_daily' declares float"),
    ("unreadable footer", "has an unreadable Parquet footer"),
    ("value too large", "column 'cnt' does not fit int64"),
])
def test_bad_inputs_name_the_file_and_the_column(spec: DatasetSpec, folder: Path, breakage: str,
                                                 message: str) -> None:
    march = month_file(folder, "2011-03")
    if breakage == "no folder":
        folder = folder / "nowhere"
    elif breakage == "missing partition":
        shutil.rmtree(march.parent)
    elif breakage == "lacks column":
        rewrite(march, lambda t: t.drop_columns(["temp"]))
    elif breakage == "other type":
        rewrite(march, lambda t: t.set_column(t.schema.get_field_index("temp"), "temp", t["temp"].cast(pa.string())))
    elif breakage == "unreadable footer":
        march.write_bytes(march.read_bytes()[:-20])
    else:
        rewrite(march, lambda t: t.set_column(t.schema.get_field_index("cnt"), "cnt", pa.array(
            [2**63 + 5] + t["cnt"].to_pylist()[1:], pa.uint64())))
    with pytest.raises(SourceError) as caught:
        read_parquet_window(str(folder), spec, *MARCH)
    assert message in str(caught.value)
    assert caught.value.retryable is False
    if breakage not in ("no folder", "missing partition"):
        assert str(march) in str(caught.value)  # the file is named


def test_s3_folder_on_the_loopback_server(spec: DatasetSpec, bike_folder: Path, s3_server, s3_bucket) -> None:
    client = s3_server.client()
    for path in bike_folder.rglob("*.parquet"):
        client.put_object(Bucket=s3_bucket, Key=f"bike/{path.relative_to(bike_folder).as_posix()}",
                          Body=path.read_bytes())
    options = {"endpoint_override": f"{s3_server.host}:{s3_server.port}", "scheme": "http",
               "access_key": s3_server.access_key, "secret_key": s3_server.secret_key, "region": s3_server.region}
    read = read_parquet_window(f"s3://{s3_bucket}/bike", spec, *MARCH, s3=options)
    expected, _ = load_window(str(BIKE_SOURCE), spec, *MARCH)
    pd.testing.assert_frame_equal(read.to_pandas(), expected)
    assert (read.files, read.origin) == (1, f"s3://{s3_bucket}/bike")
    with pytest.raises(SourceError, match="no such file or folder"):
        read_parquet_window(f"s3://{s3_bucket}/elsewhere", spec, *MARCH, s3=options)


def test_an_unreachable_s3_server_is_retryable_and_keeps_the_secret(spec: DatasetSpec) -> None:
    from loopback import free_port

    secret = "s3cr3t-never-shown"
    options = {"endpoint_override": f"127.0.0.1:{free_port()}", "scheme": "http", "access_key": "AKIA-shown-not",
               "secret_key": secret, "region": "us-east-1"}
    with pytest.raises(SourceError) as caught:
        read_parquet_window("s3://bucket/bike", spec, *MARCH, s3=options)
    assert caught.value.retryable is True
    assert secret not in str(caught.value) and "AKIA-shown-not" not in str(caught.value)
