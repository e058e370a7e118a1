"""End to end on the production topology, as real processes on loopback (no Docker engine here):
PostgreSQL (Dagster's storage through the production dagster.yaml, and the warehouse), an S3-compatible server
(models, reports, IO), a Slack-compatible recorder, and a code server, dagster-webserver and dagster-daemon.
Runs are launched through the GraphQL API; the daemon's sensor launches the retrains.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg
import pytest

from drift_platform_tests.fixtures.dagster_stack import BIN, REPO, DagsterStack, production_env, wait_for
from drift_platform_tests.fixtures.services import MotoServer, PostgresServer, unique_name
from drift_platform_tests.fixtures.slack import SlackRecorder

pytestmark = pytest.mark.e2e

DRIFTING, QUIET = "2011-07-04", "2011-01-31"
SLACK_TOKEN = "xoxb-e2e-not-a-real-token-7f3a"
AWS_SECRET = "e2e-secret-key-b81c"
PG_PASSWORD = "e2e-pg-password-55d1"


@dataclass
class Production:
    stack: DagsterStack
    postgres: PostgresServer
    s3: MotoServer
    bucket: str
    slack: SlackRecorder
    dagster_db: str
    warehouse_db: str

    def launch_week(self, week: str) -> str:
        return self.stack.client().submit_job_execution(
            "weekly_drift_job", tags={"dagster/partition": week}, run_config={}
        )

    def wait_run(self, run_id: str, timeout: float = 300) -> dg.DagsterRunStatus:
        return self.stack.wait_run(run_id, timeout)

    def retrain_runs(self, instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
        return list(instance.get_runs(filters=dg.RunsFilter(job_name="retrain_job")))

    def drift_alerts(self) -> list[dict]:
        """The sensor's alerts (a retrain's outcome, posted by the champion/challenger gate, is a second message)."""
        return [m for m in self.slack.messages() if "*Data drift*" in m["text"]]

    def history_rows(self, week: str | None = None) -> int:
        where = f" WHERE dteday >= '{week}'::date AND dteday < '{week}'::date + 7" if week else ""
        return self.postgres.execute(f"SELECT count(*) FROM history{where}", dbname=self.warehouse_db)[0][0]


@pytest.fixture(scope="module")
def production(tmp_path_factory, slack_server: SlackRecorder) -> Iterator[Production]:
    postgres = PostgresServer().start()
    s3 = MotoServer().start()
    try:
        postgres.execute(f"ALTER USER postgres PASSWORD '{PG_PASSWORD}'")
        dagster_db, warehouse_db = "dagster", "drift_warehouse"
        postgres.create_database(dagster_db)
        warehouse_url = postgres.create_database(warehouse_db)
        bucket = s3.create_bucket(unique_name("drift-e2e"))
        env = production_env(
            postgres, s3, bucket, warehouse_url, slack_server.base_url, pg_password=PG_PASSWORD,
            aws_secret=AWS_SECRET, slack_token=SLACK_TOKEN, DRIFT_SLACK_CHANNEL="#drift-e2e",
            DRIFT_UI_URL="http://dagster.example.test",
        )
        stack = DagsterStack(env, home=tmp_path_factory.mktemp("dagster_home")).start()
        try:
            yield Production(stack, postgres, s3, bucket, slack_server, dagster_db, warehouse_db)
        finally:
            stack.stop()
    finally:
        s3.stop()
        postgres.close()


def test_drifting_week_triggers_one_retrain_and_one_alert(production: Production) -> None:
    production.slack.reset()
    instance = production.stack.instance()
    started = time.monotonic()
    run_id = production.launch_week(DRIFTING)
    assert production.wait_run(run_id) == dg.DagsterRunStatus.SUCCESS

    # the daemon's sensor sees the failed check and launches exactly one retrain
    retrain = wait_for(lambda: production.retrain_runs(instance), 120, "a retrain_job run",
                       diagnostics=production.stack.diagnostics)[0]
    assert production.wait_run(retrain.run_id) == dg.DagsterRunStatus.SUCCESS
    check_run_end = instance.get_run_stats(run_id).end_time
    retrain_start = instance.get_run_stats(retrain.run_id).start_time
    print(f"\ne2e: failed check -> retrain run start {retrain_start - check_run_end:.1f} s; "
          f"week + retrain {time.monotonic() - started:.1f} s")
    assert retrain.tags["drift_platform/week"] == DRIFTING
    assert retrain.tags["dagster/run_key"].startswith("no_dataset_drift:")

    # Dagster's run records are in PostgreSQL
    run_ids = {r[0] for r in production.postgres.execute("SELECT run_id FROM runs", dbname=production.dagster_db)}
    assert {run_id, retrain.run_id} <= run_ids

    # the history holds the reference and the week, once
    assert production.history_rows(DRIFTING) == 7 and production.history_rows() == 28 + 7

    # the model is in the bucket and its sha256 is the one in the metadata
    event = instance.get_latest_materialization_event(dg.AssetKey("trained_model"))
    meta = event.asset_materialization.metadata
    location = meta["artifact"].value
    assert location.startswith(f"s3://{production.bucket}/models/models/")
    body = production.s3.client().get_object(Bucket=production.bucket, Key=location.split("/", 3)[3])["Body"].read()
    assert hashlib.sha256(body).hexdigest() == meta["sha256"].value

    # the report link points at the object in the bucket
    report = instance.get_latest_materialization_event(dg.AssetKey("drift_report")).asset_materialization
    link = report.metadata["report_html"].value  # s3://… or a presigned http URL of the same object
    assert f"{production.bucket}/reports/drift_reports/{DRIFTING}/" in link and ".html" in link

    # one Slack alert naming the week and the drift share, and one with the retrain's outcome
    wait_for(production.drift_alerts, 30, "the Slack alert")
    [alert] = production.drift_alerts()
    assert ["*promoted*" in m["text"] for m in production.slack.messages() if "*Retrain for week" in m["text"]] == [True]
    assert alert["channel"] == "#drift-e2e"
    share = instance.get_latest_materialization_event(dg.AssetKey("drift_report")).asset_materialization
    assert f"week {DRIFTING}" in alert["text"] and f"drift share {share.metadata['drift_share'].value:.2f}" in alert["text"]
    assert "Bearer " + SLACK_TOKEN in production.slack.requests[-1].headers.get("Authorization", "")

    # the same week again: no row count changes, exactly one more retrain for the new failed evaluation
    again = production.launch_week(DRIFTING)
    assert production.wait_run(again) == dg.DagsterRunStatus.SUCCESS
    wait_for(lambda: len(production.retrain_runs(instance)) >= 2, 120, "the second retrain",
             diagnostics=production.stack.diagnostics)
    time.sleep(8)  # two more sensor ticks: nothing else may be launched
    retrains = production.retrain_runs(instance)
    assert len(retrains) == 2 and len({r.tags["dagster/run_key"] for r in retrains}) == 2
    assert production.history_rows() == 28 + 7
    wait_for(lambda: len(production.drift_alerts()) >= 2, 30, "the second alert")
    assert len(production.drift_alerts()) == 2
    for r in retrains:
        production.wait_run(r.run_id)
    versions = {k for k in production.s3.client().list_objects_v2(Bucket=production.bucket, Prefix="models/models/")
                .get("Contents", []) for k in [k["Key"]] if k.endswith("model.pkl")}
    assert len(versions) == 2


def test_quiet_week_triggers_no_retrain_and_no_alert(production: Production) -> None:
    instance = production.stack.instance()
    before_retrains, before_alerts = len(production.retrain_runs(instance)), len(production.slack.messages())
    run_id = production.launch_week(QUIET)
    assert production.wait_run(run_id) == dg.DagsterRunStatus.SUCCESS
    run_end = instance.get_run_record_by_id(run_id).end_time
    time.sleep(10)  # at least three sensor ticks after the evaluation
    assert len(production.retrain_runs(instance)) == before_retrains
    assert len(production.slack.messages()) == before_alerts
    assert production.history_rows(QUIET) == 7
    state = next(s for s in instance.all_instigator_state() if s.name == "retrain_on_drift_sensor")
    # the newest tick may still be running when we look; judge the ticks that finished after the run
    finished = [
        t for t in instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=20)
        if t.status.value != "STARTED" and t.timestamp > run_end
    ]
    assert finished, "no sensor tick finished after the quiet week's run"
    assert {t.status.value for t in finished} <= {"SKIPPED", "SUCCESS"}
    assert not any(t.run_ids for t in finished)


def test_daemon_killed_between_a_failed_check_and_the_tick(production: Production) -> None:
    """The daemon crashes; meanwhile a week drifts; after the restart: exactly one retrain and one alert."""
    instance = production.stack.instance()
    production.stack.daemon.kill()
    retrains, alerts = len(production.retrain_runs(instance)), len(production.drift_alerts())

    # the week runs while no daemon is up: `dagster job execute`, a process of its own, against the same
    # storage and services (a run submitted to the queue would wait for the daemon)
    done = subprocess.run(
        [str(BIN / "dagster"), "job", "execute", "-m", "drift_platform.definitions", "-j", "weekly_drift_job",
         "--tags", json.dumps({"dagster/partition": "2011-10-10"})],
        env=production.stack.env, cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [run] = instance.get_runs(dg.RunsFilter(job_name="weekly_drift_job", tags={"dagster/partition": "2011-10-10"}))
    evaluations = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("drift_report"), "no_dataset_drift"), limit=1
    )
    assert evaluations[0].run_id == run.run_id and evaluations[0].status.value == "FAILED"
    time.sleep(5)
    assert len(production.retrain_runs(instance)) == retrains  # nobody is watching yet

    production.stack.daemon.start()
    wait_for(lambda: len(production.retrain_runs(instance)) > retrains, 120, "the retrain after the restart",
             diagnostics=production.stack.diagnostics)
    # crash again right after the retrain was launched, and come back: nothing is launched or sent twice
    production.stack.daemon.kill()
    production.stack.daemon.start()
    time.sleep(12)  # several sensor ticks of the restarted daemon
    new_runs = production.retrain_runs(instance)[: len(production.retrain_runs(instance)) - retrains]
    assert len(new_runs) == 1 and new_runs[0].tags["drift_platform/week"] == "2011-10-10"
    wait_for(lambda: len(production.drift_alerts()) > alerts, 30, "the alert")
    assert len(production.drift_alerts()) == alerts + 1
    assert "week 2011-10-10" in production.drift_alerts()[-1]["text"]
    production.wait_run(new_runs[0].run_id)


def test_no_secret_in_logs_metadata_or_deployment_files(production: Production) -> None:
    """The test secrets reached the processes (Slack saw the token) but appear in no run log, no event or
    metadata, no compute log, no process log and no deployment file."""
    from dagster._serdes import serialize_value

    instance = production.stack.instance()
    assert any(SLACK_TOKEN in r.headers.get("Authorization", "") for r in production.slack.requests)
    runs = instance.get_runs()
    assert len(runs) >= 5
    haystacks = {f"events of run {r.run_id}": serialize_value(instance.all_logs(r.run_id)) for r in runs}
    haystacks.update({f"run record {r.run_id}": serialize_value(r) for r in runs})
    for path in [*production.stack.home.rglob("*"), *production.stack.logs.rglob("*")]:
        if path.is_file() and path.suffix in (".log", ".out", ".err", ".txt", ".complete", "") and path.stat().st_size < 50e6:
            haystacks[str(path)] = path.read_text(errors="replace")
    for name in ("docker-compose.yml", "Dockerfile", ".env.example", "dagster.yaml", "workspace.yaml"):
        haystacks[name] = (REPO / name).read_text()
    assert sum("compute_logs" in k or k.endswith((".out", ".err")) for k in haystacks) > 0, "no compute logs scanned"
    for secret in (SLACK_TOKEN, AWS_SECRET, PG_PASSWORD):
        leaks = [where for where, text in haystacks.items() if secret in text]
        assert leaks == [], f"{secret[:8]}... leaked into {leaks}"
