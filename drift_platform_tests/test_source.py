"""The source schemes the platform documents: http(s), s3, file and a path — and nothing else."""

from __future__ import annotations

import pandas as pd
import pytest

from drift_platform.core.intake.source import SourceError, load_window
from drift_platform_tests.conftest import BIKE_SOURCE as DEFAULT_SOURCE_PATH
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


def test_s3_url_through_the_object_stores_client(spec, expected, s3_server, s3_bucket, tmp_path) -> None:
    """s3:// sources are read with the one S3 client of the object store, whichever kind the store is."""
    from drift_platform.resources import LocalObjectStore

    s3_server.client().put_object(Bucket=s3_bucket, Key="exports/day.csv", Body=DEFAULT_SOURCE_PATH.read_bytes())
    store = LocalObjectStore(root=str(tmp_path), s3_endpoint_url=s3_server.endpoint_url, aws_region="us-east-1",
                             aws_access_key_id="testing", aws_secret_access_key="testing")
    url = f"s3://{s3_bucket}/exports/day.csv"
    pd.testing.assert_frame_equal(load_window(url, spec, *WEEK, s3_client=store.s3_client)[0], expected)
    with pytest.raises(SourceError, match="could not be read from S3: NoSuchKey"):
        load_window(f"s3://{s3_bucket}/exports/nope.csv", spec, *WEEK, s3_client=store.s3_client)


@pytest.mark.parametrize("url", ["ftp://h/x.csv", "gs://b/x.csv", "smb://h/share/x.csv", "ssh://h/x"])
def test_other_schemes_are_refused(url, spec) -> None:
    with pytest.raises(SourceError, match="is not supported; use http, https, s3, file or a path"):
        load_window(url, spec, *WEEK)
