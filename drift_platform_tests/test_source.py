"""The source schemes the platform documents: http(s), s3, file and a path — and nothing else."""

from __future__ import annotations

import pandas as pd
import pytest

from drift_platform.settings import DEFAULT_SOURCE_PATH
from drift_platform.source import SourceError, load_window
from drift_platform_tests.fixtures.http_source import HttpSource

WEEK = (pd.Timestamp("2011-02-07"), pd.Timestamp("2011-02-14"))


@pytest.fixture(scope="module")
def expected(spec) -> pd.DataFrame:
    return load_window(str(DEFAULT_SOURCE_PATH), spec, *WEEK)[0]


def test_path_and_file_url(spec, expected) -> None:
    pd.testing.assert_frame_equal(load_window(f"file://{DEFAULT_SOURCE_PATH}", spec, *WEEK)[0], expected)
    assert len(expected) == 7


def test_http_url(spec, expected) -> None:
    with HttpSource() as http:
        url = http.serve("/export/day.csv?token=abc", DEFAULT_SOURCE_PATH.read_bytes())
        pd.testing.assert_frame_equal(load_window(url, spec, *WEEK)[0], expected)
        with pytest.raises(SourceError) as excinfo:
            load_window(http.base_url + "/missing.csv?token=abc", spec, *WEEK)
    assert "answered HTTP 404" in str(excinfo.value)
    assert "token" not in str(excinfo.value)  # query strings may carry credentials: never shown


def test_s3_url(spec, expected, s3_server, s3_bucket, monkeypatch) -> None:
    s3_server.client().put_object(Bucket=s3_bucket, Key="exports/day.csv", Body=DEFAULT_SOURCE_PATH.read_bytes())
    monkeypatch.setenv("DRIFT_S3_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    pd.testing.assert_frame_equal(load_window(f"s3://{s3_bucket}/exports/day.csv", spec, *WEEK)[0], expected)
    with pytest.raises(SourceError, match="could not be read from S3: NoSuchKey"):
        load_window(f"s3://{s3_bucket}/exports/nope.csv", spec, *WEEK)


@pytest.mark.parametrize("url", ["ftp://h/x.csv", "gs://b/x.csv", "smb://h/share/x.csv", "ssh://h/x"])
def test_other_schemes_are_refused(url, spec) -> None:
    with pytest.raises(SourceError, match="is not supported; use http, https, s3, file or a path"):
        load_window(url, spec, *WEEK)
