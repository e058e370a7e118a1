"""Faults injected into real services: the warehouse server stops before and in the middle of a history write,
two runs of the same week race, S3 becomes unreachable while a model is saved, Slack fails in three ways.
After each: the history holds the old week or the new one, never half; the model pointer only ever names a
complete model; the retrain is requested and the alert delivered once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import dagster as dg
import pytest

from drift_platform.core.ml.model_registry import LATEST_KEY, load_model
from drift_platform.resources import S3ObjectStore, ScopedStore
from drift_platform_tests.conftest import local_resources, slack_alerter
from drift_platform_tests.fixtures.slack import SlackRecorder
from drift_platform_tests.fixtures.tcp_proxy import TcpProxy
from drift_platform_tests.helpers import Platform, step_failure_message
from loopback import unique_name
from loopback.postgres import PostgresServer
from loopback.s3 import MotoServer

BASELINE, WEEK, DRIFTING = "2011-01-31", "2011-02-07", "2011-07-04"


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


# --- the warehouse --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fault_pg() -> Iterator[PostgresServer]:
    """A server of this module's own: the tests stop and restart it."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def pg_platform(fault_pg: PostgresServer, tmp_path, instance) -> Iterator[tuple[Platform, str]]:
    name = unique_name("faults_")
    fault_pg.start()
    url = fault_pg.create_database(name)
    platform = Platform(local_resources(tmp_path, warehouse_url=url), instance)
    platform.run_week(BASELINE)
    yield platform, name
    fault_pg.start()


def test_warehouse_down_before_the_write_then_back(pg_platform, fault_pg: PostgresServer) -> None:
    platform, _ = pg_platform
    rows, digest = len(platform.history()), platform.history_hash()
    fault_pg.stop()
    result = platform.run_week(WEEK, raise_on_error=False)
    assert not result.success
    restarts = sum(e.event_type_value == "STEP_RESTARTED" for e in result.all_events)
    assert restarts >= 2  # the retry policy tried again, with backoff
    assert "connection" in step_failure_message(result).lower()

    fault_pg.start()
    assert (len(platform.history()), platform.history_hash()) == (rows, digest)  # old week set, untouched
    platform.run_week(WEEK)
    history = platform.history()
    assert len(history) == rows + 7 and history["dteday"].is_unique


def test_warehouse_dies_in_the_middle_of_the_history_write(pg_platform, fault_pg: PostgresServer) -> None:
    platform, db = pg_platform
    rows, digest = len(platform.history()), platform.history_hash()
    # Hold the write inside its transaction: after its DELETEs, its COPY of the week sleeps in a trigger.
    fault_pg.execute(
        """
        CREATE FUNCTION hold_insert() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN PERFORM pg_sleep(120); RETURN NULL; END $$;
        CREATE TRIGGER hold BEFORE INSERT ON bike_sharing_history FOR EACH STATEMENT EXECUTE FUNCTION hold_insert();
        """,
        dbname=db,
    )
    outcome: dict = {}
    runner = threading.Thread(target=lambda: outcome.update(result=platform.run_week(WEEK, raise_on_error=False)))
    runner.start()
    wait_until(
        lambda: fault_pg.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = %s", dbname="postgres",
            params=(db,),
        )[0][0],
        60, "the history write to be in flight",
    )
    deleted_so_far = fault_pg.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND state = 'active' AND query ILIKE 'COPY%%'",
        params=(db,),
    )[0][0]
    assert deleted_so_far == 1  # the COPY is running: the transaction has already deleted the windows
    fault_pg.stop(mode="immediate")  # the server dies mid-transaction
    runner.join(120)
    assert not outcome["result"].success

    fault_pg.start()
    # crash recovery rolled the transaction back: the history is the old one, not half of it
    assert (len(platform.history()), platform.history_hash()) == (rows, digest)
    fault_pg.execute("DROP TRIGGER hold ON bike_sharing_history; DROP FUNCTION hold_insert();", dbname=db)
    platform.run_week(WEEK)
    assert len(platform.history()) == rows + 7


def test_two_runs_of_the_same_week_at_once(pg_platform, fault_pg: PostgresServer, tmp_path) -> None:
    platform, db = pg_platform
    warehouse_url = platform.resources["warehouse"].url
    expected_rows = len(platform.history()) + 7
    # Hold the writers' lock so that both runs are inside their history transactions at the same time.
    holder = fault_pg.connect(db)
    with holder.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(hashtext('.bike_sharing_history'))")
    results: list = []

    def run(i: int) -> None:
        racer = Platform(local_resources(tmp_path / f"racer{i}", warehouse_url=warehouse_url),
                         dg.DagsterInstance.ephemeral())
        results.append(racer.run_week(WEEK, raise_on_error=False))

    racers = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for racer in racers:
        racer.start()
    wait_until(
        lambda: fault_pg.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
                                 dbname=db)[0][0] == 2,
        120, "both runs to wait on the history lock",
    )
    holder.close()  # release: the runs replace the week one after the other
    for racer in racers:
        racer.join(120)
    assert [r.success for r in results] == [True, True]
    history = platform.history()
    assert len(history) == expected_rows and history["dteday"].is_unique


# --- the object store on S3 -----------------------------------------------------------------------------------


@pytest.fixture
def s3_platform(tmp_path, instance) -> Iterator[tuple[Platform, TcpProxy, ScopedStore]]:
    with MotoServer() as moto, TcpProxy("127.0.0.1", int(moto.endpoint_url.rsplit(":", 1)[1])) as proxy:
        bucket = moto.create_bucket(unique_name("faults-"))

        def store(endpoint: str) -> S3ObjectStore:
            return S3ObjectStore(bucket=bucket, prefix="drift", s3_endpoint_url=endpoint, aws_region="us-east-1",
                                 aws_access_key_id="testing", aws_secret_access_key="testing")

        platform = Platform(local_resources(tmp_path, store=store(proxy.url)), instance)
        platform.run_week(BASELINE)
        platform.retrain()
        # the direct store is the reader's view: the monitor's folder, as the registry sees it
        yield platform, proxy, store(moto.endpoint_url).scoped(platform.name)


def versions(store: ScopedStore) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for key in store.list_keys("models"):
        parts = key.split("/")
        if len(parts) == 3:
            found.setdefault(parts[1], set()).add(parts[2])
    return found


def test_s3_unreachable_while_saving_then_back_within_the_retries(s3_platform, instance) -> None:
    platform, proxy, reader = s3_platform
    first = load_model(reader)[1]["version"]
    proxy.down()
    outcome: dict = {}
    runner = threading.Thread(target=lambda: outcome.update(result=platform.retrain(raise_on_error=False)))
    runner.start()
    retrain_job = platform.job("retrain_job").name  # bike_sharing_retrain_job
    run = wait_until(lambda: instance.get_runs(dg.RunsFilter(job_name=retrain_job, statuses=[dg.DagsterRunStatus.STARTED])),
                     60, "the retrain run")[0]
    wait_until(lambda: instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY), 120,
               "the step to fail and be retried")
    assert load_model(reader)[1]["version"] == first  # meanwhile readers still get the complete old model
    proxy.up()
    runner.join(120)
    result = outcome["result"]
    assert result.success
    meta = result.asset_materializations_for_node(platform.op("trained_model"))[0].metadata
    model, manifest = load_model(reader)
    assert manifest["version"] == meta["model_version"].value != first and manifest["sha256"] == meta["sha256"].value


def test_s3_cut_between_artifact_and_manifest_never_moves_the_pointer(s3_platform) -> None:
    platform, proxy, reader = s3_platform
    pointer_before = reader.read_bytes(LATEST_KEY)
    first = load_model(reader)[1]["version"]
    proxy.cut_after(1, b"PUT ")  # the artifact's upload gets through, then S3 is gone
    result = platform.retrain(raise_on_error=False)
    assert not result.success
    assert reader.read_bytes(LATEST_KEY) == pointer_before
    assert load_model(reader)[1]["version"] == first  # a reader never sees a missing or partial model
    orphans = {v for v, files in versions(reader).items() if files == {"model.skops"}}
    assert orphans and first not in orphans  # the half-written version exists but nothing points at it

    proxy.up()
    again = platform.retrain()
    new = again.asset_materializations_for_node(platform.op("trained_model"))[0].metadata["model_version"].value
    assert versions(reader)[new] == {"model.skops", "manifest.json"}
    assert load_model(reader)[1]["version"] == new


# --- Slack ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "count", "seconds", "delivered_at_tick"),
    [
        # Slack down for longer than one tick: 2 attempts a tick (max_retries=1) -> the 3rd tick delivers
        (500, 5, 0, 3),
        # Slack hangs past the client's 1 s timeout: a timed-out post may have gone through, so it is not
        # retried within the tick (it would risk a duplicate) but on the next tick -> the 3rd tick delivers
        (-1, 2, 3, 3),
        # rate-limited: Retry-After is honoured within the tick -> the 1st tick delivers
        (429, 1, 1, 1),
    ],
    ids=["500", "timeout", "429-retry-after"],
)
def test_slack_failures_never_block_the_retrain_and_the_alert_arrives_once(
    failure, count, seconds, delivered_at_tick, tmp_path, instance, slack: SlackRecorder
) -> None:
    alerts = slack_alerter(slack, max_retries=1, timeout_s=1)
    platform = Platform(local_resources(tmp_path, alerts=alerts), instance)
    platform.run_week(DRIFTING)
    slack.fail_next(count, status=failure, seconds=seconds)
    requests = []
    for tick in range(1, 5):
        started = time.monotonic()
        result = platform.tick()  # never raises
        assert time.monotonic() - started < 30
        requests.extend(result.run_requests)
        assert len(slack.messages()) == (1 if tick >= delivered_at_tick else 0), f"tick {tick}"
    assert len(requests) == 1  # the retrain was requested once, on the first tick, whatever Slack did
    assert "week 2011-07-04" in slack.messages()[0]["text"]
