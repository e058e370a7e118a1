"""A CSV through Arrow (`csv_arrow.read_csv_window`, then `arrow_contract.conform_table`) against the pandas path
(`source.load_window`): the same frame, dtypes and all, for every shipped sample and period; the same error, word
for word, for every bad input the other tests name; files that only the pandas path reads the same way."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from drift_platform.core.intake import contract, csv_arrow
from drift_platform.core.intake.arrow_contract import conform_table
from drift_platform.core.intake.csv_arrow import INDEX_COLUMN, read_csv_window
from drift_platform.core.intake.dataset import DatasetSpec
from drift_platform.core.intake.source import load_window
from drift_platform_tests.conftest import BIKE_SOURCE, BIKE_SPEC, REPO
from drift_platform_tests.fixtures.http_source import HttpSource

DAY = pd.Timedelta(days=1)
WEEK = (pd.Timestamp("2011-02-07"), pd.Timestamp("2011-02-14"))


def arrow_window(url: str, spec: DatasetSpec, start, end, **options) -> pd.DataFrame:
    read = read_csv_window(url, spec, start, end, **options)
    assert read.rows == read.table.num_rows
    return conform_table(
        read.table,
        spec,
        window=(start, end),
        timezone=options.get("timezone", "UTC"),
        withhold_target=options.get("withhold_target", False),
    )


def outcome(read) -> tuple:
    """("ok", frame) or the error's type and message."""
    try:
        return "ok", read()
    except Exception as exc:  # noqa: BLE001 - the error itself is what is compared
        return type(exc).__name__, str(exc)


def assert_same(url: str, spec: DatasetSpec, start, end, **options) -> tuple:
    """Both paths give the same frame (exactly), or the same error; returns the pandas path's outcome."""
    expected = outcome(lambda: load_window(url, spec, start, end, **options)[0])
    got = outcome(lambda: arrow_window(url, spec, start, end, **options))
    if expected[0] == "ok":
        assert got[0] == "ok", got
        pd.testing.assert_frame_equal(got[1], expected[1], check_exact=True)
    else:
        assert got == expected
    return expected


# --- every shipped sample, several periods ---------------------------------------------------------------------


def shipped_samples() -> list[tuple[str, DatasetSpec, str, str, bool, pd.Timedelta]]:
    """(monitor, spec, its CSV, timezone, labels withheld, period length) of each shipped monitor; a monitor
    whose source is a Parquet folder has its CSV export beside it (football_matches.csv); and the triage sample."""
    found = []
    for defs in sorted((REPO / "drift_platform" / "defs" / "monitors").glob("*/defs.yaml")):
        attributes = yaml.safe_load(defs.read_text())["attributes"]
        spec = DatasetSpec.from_yaml(REPO / "data" / attributes["spec"].rsplit("/data/", 1)[1])
        source = REPO / "data" / re.search(r"/data/([^'\"]+)'", attributes["source"]).group(1)
        source = source if source.suffix == ".csv" else source.with_suffix(".csv")
        length = DAY if attributes["cadence"] == "daily" else 7 * DAY
        found.append(
            (
                defs.parent.name,
                spec,
                str(source),
                attributes.get("timezone", "UTC"),
                "labels" in attributes,
                length,
            )
        )
    triage = DatasetSpec.from_yaml(REPO / "data" / "triage.yaml")
    return [*found, ("triage", triage, str(REPO / "data" / "triage_tickets.csv"), "UTC", False, 7 * DAY)]


@pytest.mark.parametrize("read", ["whole", "streamed in parts"])
def test_every_shipped_sample_gives_the_pandas_paths_frame_for_each_period(monkeypatch, read: str) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the typed read and the Arrow checks should apply to every shipped sample")

    monkeypatch.setattr(csv_arrow, "pandas_read", refuse)
    monkeypatch.setattr(contract, "conform", refuse)  # conform_table's fallback; load_window's stays bound
    monkeypatch.setattr(csv_arrow, "BLOCK_BYTES", 1 << 16)  # many blocks a file, windows across them
    if read != "whole":  # (the samples are under WHOLE_BYTES: parsed at once, then cut block by block)
        monkeypatch.setattr(csv_arrow, "WHOLE_BYTES", 0)  # streamed instead,
        monkeypatch.setattr(csv_arrow, "PARALLEL_BYTES", 1 << 15)  # and in parts, one a core
    checked = {}
    for name, spec, source, timezone, withhold, length in shipped_samples():
        first = pd.Timestamp(spec.first_period)
        reference = (pd.Timestamp(spec.reference_dates.start), pd.Timestamp(spec.reference_dates.end) + DAY)
        periods = [reference, *((first + k * length, first + (k + 1) * length) for k in (0, 1, 9, 30))]
        for start, end in periods:
            result = assert_same(source, spec, start, end, timezone=timezone, withhold_target=withhold)
            checked[name] = checked.get(name, 0) + (result[0] == "ok")
        read = read_csv_window(source, spec, *reference, timezone=timezone, withhold_target=withhold)
        assert (
            read.extra_columns
            == load_window(source, spec, *reference, timezone=timezone, withhold_target=withhold)[1]
        )
        assert read.bytes_read == Path(source).stat().st_size and read.files == 1
    assert len(checked) == 7 and all(count >= 4 for count in checked.values()), checked


def test_the_window_is_cut_as_it_streams_and_rows_keep_their_file_numbers(spec) -> None:
    read = read_csv_window(str(BIKE_SOURCE), spec, *WEEK)
    assert read.rows == 7 and read.table.column("dteday").type == "timestamp[us]"
    assert read.table.column(INDEX_COLUMN).to_pylist() == list(range(37, 44))  # the file's rows 37-43
    assert read.table.column("temp").type == "double" and read.table.column("cnt").type == "int64"
    assert list(read.to_pandas().index) == list(range(37, 44))
    withheld = read_csv_window(
        str(BIKE_SOURCE), spec, *WEEK, withhold_target=True
    )  # the target there, dropped
    assert withheld.table.column("cnt").null_count == 7
    assert assert_same(str(BIKE_SOURCE), spec, *WEEK, withhold_target=True)[0] == "ok"


def test_a_large_file_is_read_in_parts_one_a_core_its_rows_numbered_as_in_the_file(spec, monkeypatch) -> None:
    import os

    monkeypatch.setattr(csv_arrow, "PARALLEL_BYTES", 1 << 12)
    monkeypatch.setattr(csv_arrow, "WHOLE_BYTES", 0)
    data = BIKE_SOURCE.read_bytes()
    parts = csv_arrow.row_parts(data)
    assert len(parts) == min(os.cpu_count() or 1, csv_arrow.MAX_PARTS)
    assert all(data[start - 1 : start] == b"\n" for start, _ in parts[1:]) and parts[-1][1] == len(data)
    late = (pd.Timestamp("2012-10-01"), pd.Timestamp("2012-10-08"))  # rows 639-645, in the last part
    read = read_csv_window(str(BIKE_SOURCE), spec, *late)
    assert read.table.column(INDEX_COLUMN).to_pylist() == list(range(639, 646))
    assert assert_same(str(BIKE_SOURCE), spec, *late)[0] == "ok"
    whole = read_csv_window(str(BIKE_SOURCE), spec, *late, whole_file=True)
    assert whole.table.column(INDEX_COLUMN).to_pylist() == list(range(731))
    assert csv_arrow.row_parts(data.replace(b"\n1,", b'\n"1",', 1)) == [(0, len(data) + 2)]  # a quote: whole


# --- whole files: a landed batch holds only its window's rows ----------------------------------------------------


def test_whole_file_keeps_every_row_and_a_row_outside_is_the_contracts_error(tmp_path, spec) -> None:
    text = BIKE_SOURCE.read_text().splitlines(keepends=True)
    week = tmp_path / "week.csv"
    week.write_text("".join([text[0], *text[38:45]]))  # 2011-02-07 .. 2011-02-13
    assert assert_same(str(week), spec, *WEEK, whole_file=True)[0] == "ok"
    assert read_csv_window(str(week), spec, *WEEK, whole_file=True).rows == 7
    week.write_text("".join([text[0], *text[38:45], text[60]]))  # and 2011-03-01
    kind, message = assert_same(str(week), spec, *WEEK, whole_file=True)
    assert "datetimes outside the window [2011-02-07, 2011-02-14) in 1 row(s), e.g. row 7" in message
    assert read_csv_window(str(week), spec, *WEEK, whole_file=True).rows == 8
    assert assert_same(str(week), spec, *WEEK)[0] == "ok"  # not whole: the row is cut off


# --- every bad input the other tests name: the same message ------------------------------------------------------


def marked_cases(test) -> list:
    """A test's parametrized cases, as its own module lists them."""
    [mark] = [m for m in test.pytestmark if m.name == "parametrize"]
    return list(mark.args[1])


def test_every_bad_input_of_test_bad_input_gives_the_same_message(tmp_path) -> None:
    from drift_platform_tests.test_bad_input import CASES, csv_bytes, source

    base = yaml.safe_load(BIKE_SPEC.read_text())
    with HttpSource() as http:
        for number, case in enumerate(CASES):
            data = csv_bytes(case.frame(source())) if case.frame else BIKE_SOURCE.read_bytes()
            data = case.raw(data) if case.raw else data
            where = tmp_path / f"case{number}.csv"
            where.write_bytes(data)
            url = case.url or (
                http.serve(f"/case{number}.csv", data, *case.http) if case.http else str(where)
            )
            spec = DatasetSpec.from_dict(case.spec(base) if case.spec else base)
            kind, message = assert_same(url, spec, *WEEK, whole_file=case.batch_file)
            assert case.message in message, (case.name, message)


def test_every_contract_violation_of_test_dataset_gives_the_same_message(
    tmp_path, spec, source_frame
) -> None:
    from drift_platform_tests import test_dataset

    first_week, named = test_dataset.WEEK, test_dataset.test_contract_violation_names_rule_column_and_rows
    for number, (mutate, message) in enumerate(marked_cases(named)):
        path = tmp_path / f"week{number}.csv"
        mutate(test_dataset.week_frame(source_frame)).to_csv(path, index=False)
        kind, said = assert_same(str(path), spec, *first_week, whole_file=True)
        assert message in said, said
    for number, data in enumerate(
        [
            b"a,b\n\xff\xfe,1\n",
            b"<!DOCTYPE html><html><body>502</body></html>",
            b"a,b,c\n1,2,3\n4,5",
            b"",
            b"\n  \n",
        ]
    ):
        path = tmp_path / f"bad{number}.csv"
        path.write_bytes(data)
        assert assert_same(str(path), spec, *first_week)[0] == "SourceError"
    for url in (str(tmp_path / "missing.csv"), "ftp://example.com/x.csv", str(tmp_path)):
        assert assert_same(url, spec, *first_week)[0] == "SourceError"


def test_timestamps_in_every_form_and_unreadable_ones_as_the_pandas_path_reads_them(tmp_path) -> None:
    from drift_platform_tests import test_event_data
    from drift_platform_tests.test_event_data import EVENTS_SPEC, WRITTEN, events

    unparseable = test_event_data.test_unparseable_timestamps_are_a_contract_error_naming_rows

    week = (pd.Timestamp("2021-02-01"), pd.Timestamp("2021-02-08"))
    for number, (write, fmt, timezone) in enumerate(WRITTEN.values()):
        spec = DatasetSpec.from_dict({**EVENTS_SPEC, **({"datetime_format": fmt} if fmt else {})})
        frame = events()
        path = tmp_path / f"form{number}.csv"
        frame.assign(ts=[write(t) for t in frame["ts"]]).to_csv(path, index=False)
        kind, expected = assert_same(str(path), spec, *week, timezone=timezone)
        assert kind == "ok" and len(expected) == 7 * 4 * 20
        assert read_csv_window(str(path), spec, *week, timezone=timezone).rows == 7 * 4 * 20
    for number, (values, fmt, bad) in enumerate(marked_cases(unparseable)):
        spec = DatasetSpec.from_dict({**EVENTS_SPEC, **({"datetime_format": fmt} if fmt else {})})
        path = tmp_path / f"bad{number}.csv"
        pd.DataFrame(
            {"event_id": [1, 2, 3], "ts": values, "region": "north", "size": 1.0, "amount": 2.0}
        ).to_csv(path, index=False)
        kind, message = assert_same(str(path), spec, *week, whole_file=True)
        assert "unparseable datetime in 1 row(s)" in message and repr(bad) in message


# --- what pyarrow alone would read otherwise: the pandas path decides ---------------------------------------------

ODD_SPEC = {
    "name": "odd", "datetime_column": "ts", "target": "y", "key_columns": ["id"],
    "columns": {"id": "str", "ts": "datetime", "n": "int", "x": "float", "note": "str", "y": "float"},
    "numerical_features": ["n", "x"], "categorical_features": ["note"], "max_missing_share": 0.5,
    "reference_window": {"start": "2021-01-04", "end": "2021-01-31"}, "first_period": "2021-02-01",
}  # fmt: skip
ODD_HEADER = "id,ts,n,x,note,y\n"
ODD_ROWS = [
    "a,2021-02-01 00:00:00,1,1.5,calm,2.0\n",
    "b,2021-02-02 00:00:00,2,2.5,windy,3.0\n",
    "c,2021-02-03 00:00:00,3,3.5,calm,4.0\n",
    "d,2021-01-20 00:00:00,4,4.5,calm,5.0\n",
]
ODD = ODD_HEADER + "".join(ODD_ROWS)
EXTRA = ODD_HEADER.replace("\n", ",extra\n")
ODD_FILES = {  # what changes in the file -> (the file, whether the typed read applies; else the pandas path)
    "hex in an int column": (ODD.replace(",1,1.5", ",0x1F,1.5"), False),  # pyarrow alone reads 0x1F as 31
    "NAN in a float column": (ODD.replace("1.5", "NAN"), False),
    "1e400 in a float column": (ODD.replace("1.5", "1e400"), False),
    "spaces around numbers": (ODD.replace(",1,1.5", ", 1 , 1.5 "), True),
    "a fraction in an int column": (ODD.replace(",1,1.5", ",1.0,1.5"), True),
    "an int beyond 2**53": (ODD.replace(",1,1.5", ",9007199254740993,1.5"), False),
    "text outside the window only": (ODD.replace(",4,4.5", ",four,4.5"), False),
    "mixed offsets and naive times": (ODD.replace("2021-02-02 00:00:00", "2021-02-02T00:00:00+01:00"), False),
    "a plain date among offsets": (ODD.replace(" 00:00:00", "T00:00:00Z").replace("2021-02-03T00:00:00Z",
                                                                                  "2021-02-03"), False),
    "a first datetime missing, then offsets": (ODD.replace(" 00:00:00", "T00:00:00+01:00").replace(
        "2021-02-01T00:00:00+01:00", ""), True),
    "missing markers": (ODD.replace("calm", "None", 1).replace("windy", "<NA>"), True),
    "a quoted newline and quotes": (ODD.replace("windy", '"windy\nand ""wet"""'), True),
    "a byte-order mark": ("\ufeff" + ODD, False),
    "no newline at the end": (ODD[:-1], True),
    "CRLF line ends": (ODD.replace("\n", "\r\n"), True),
    "a repeated column name": (ODD_HEADER.replace("note", "x") + "".join(ODD_ROWS), False),
    "a short row": (ODD.replace(",calm,4.0", ",calm"), False),
    "an extra column": (EXTRA + "".join(r.replace("\n", ",é\n") for r in ODD_ROWS), True),
    "an extra column not UTF-8": (EXTRA + "".join(r.replace("\n", ",\udcff\n") for r in ODD_ROWS), False),
    "a missing key": (ODD.replace("b,", ",", 1), True),
    "a duplicate key": (ODD.replace("b,", "a,", 1), True),
    "only the header": (ODD_HEADER, True),
    "a declared column absent": (ODD_HEADER.replace(",note", "") + "".join(ODD_ROWS).replace(",calm", "").replace(
        ",windy", ""), False),
    "strptime with seconds": (ODD, True),
}  # fmt: skip


def test_files_only_the_pandas_path_reads_rightly_are_read_by_it(tmp_path, monkeypatch) -> None:
    read_by_pandas = []
    pandas_read = csv_arrow.pandas_read
    monkeypatch.setattr(
        csv_arrow, "pandas_read", lambda *a, **k: read_by_pandas.append(1) or pandas_read(*a, **k)
    )
    week = (pd.Timestamp("2021-02-01"), pd.Timestamp("2021-02-08"))
    outcomes = {}
    for number, (name, (text, typed)) in enumerate(ODD_FILES.items()):
        path = tmp_path / f"odd{number}.csv"
        path.write_bytes(text.encode("utf-8", errors="surrogateescape"))
        fmt = {"datetime_format": "%Y-%m-%d %H:%M:%S"} if name.startswith("strptime") else {}
        spec = DatasetSpec.from_dict({**ODD_SPEC, **fmt})
        read_by_pandas.clear()
        outcomes[name] = assert_same(str(path), spec, *week, timezone="Europe/Berlin")[0]
        assert bool(read_by_pandas) is not typed, name
    assert outcomes["hex in an int column"] == "DataContractError"
    assert outcomes["an extra column not UTF-8"] == "SourceError"
    assert outcomes["text outside the window only"] == outcomes["strptime with seconds"] == "ok"
    assert outcomes["a missing key"] == outcomes["a duplicate key"] == "DataContractError"


def test_remote_sources_give_the_same_frame_and_errors(spec, s3_server, s3_bucket, tmp_path) -> None:
    from drift_platform.resources import LocalObjectStore

    data = BIKE_SOURCE.read_bytes()
    with HttpSource() as http:
        assert assert_same(http.serve("/day.csv?token=abc", data), spec, *WEEK)[0] == "ok"
        kind, message = assert_same(http.base_url + "/missing.csv?token=abc", spec, *WEEK)
        assert "answered HTTP 404" in message and "token" not in message
    s3_server.client().put_object(Bucket=s3_bucket, Key="exports/day.csv", Body=data)
    store = LocalObjectStore(
        root=str(tmp_path),
        s3_endpoint_url=s3_server.endpoint_url,
        aws_region="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    url = f"s3://{s3_bucket}/exports/day.csv"
    assert assert_same(url, spec, *WEEK, s3_client=store.s3_client)[0] == "ok"
    assert read_csv_window(url, spec, *WEEK, s3_client=store.s3_client).bytes_read == len(data)
    kind, message = assert_same(f"s3://{s3_bucket}/exports/nope.csv", spec, *WEEK, s3_client=store.s3_client)
    assert "could not be read from S3: NoSuchKey" in message
    assert assert_same(f"file://{BIKE_SOURCE}", spec, *WEEK)[0] == "ok"


def test_the_modules_import_neither_pandas_nor_pyarrow() -> None:
    """The code location may import them: pandas and pyarrow are imported by their functions."""
    import subprocess
    import sys

    probe = (
        "import sys, drift_platform.core.intake.csv_arrow, drift_platform.core.intake.arrow_contract; "
        "print(sorted(m for m in ('pandas', 'pyarrow') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr[-2000:]


@pytest.mark.parametrize("timezone", ["UTC", "Europe/London"])
def test_offsets_cross_a_clock_change_as_the_pandas_path_converts_them(tmp_path, timezone) -> None:
    spec = DatasetSpec.from_dict(ODD_SPEC)
    times = pd.date_range("2021-03-27T22:00:00Z", periods=48, freq="15min")
    rows = [f"k{i},{t.strftime('%Y-%m-%dT%H:%M:%S%z')},{i},1.0,calm,2.0\n" for i, t in enumerate(times)]
    path = tmp_path / "dst.csv"
    path.write_text(ODD_HEADER + "".join(rows))
    window = (pd.Timestamp("2021-03-28 00:30"), pd.Timestamp("2021-03-28 06:00"))
    assert assert_same(str(path), spec, *window, timezone=timezone)[0] == "ok"
