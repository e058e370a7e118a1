"""End to end on the production topology, as real processes on loopback (no Docker engine here):
PostgreSQL (Dagster's storage through the production dagster.yaml, and the warehouse), an S3-compatible server
(models, reports, IO), a Slack-compatible recorder, and a code server, dagster-webserver and dagster-daemon.
The code location holds four shipped monitors (bike_sharing weekly, grid_load daily, football's event data, and
lead_scoring, a model trained elsewhere) and the shipped team jobs. Runs are launched through the GraphQL API; the
daemon's sensors launch the retrains, and the external model's team job.
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

from drift_platform_tests.fixtures.evidently_ui import EvidentlyUI
from drift_platform_tests.fixtures.slack import SlackRecorder
from loopback import unique_name
from loopback.dagster_stack import BIN, REPO, DagsterStack, production_env, wait_for
from loopback.postgres import PostgresServer
from loopback.s3 import MotoServer

pytestmark = pytest.mark.e2e

DRIFTING, QUIET = "2011-07-04", "2011-01-31"
BIKE, GRID, FOOTBALL, LEADS = "bike_sharing", "grid_load", "football", "lead_scoring"
# lead_scoring (model: {source: external, on_failure_job: review_stale_model_job}): a quiet week, and the week the
# labels confirm what the model's output showed weeks before (data/lead_scoring.yaml)
LEADS_QUIET, LEADS_STALE = "2024-04-29", "2024-11-04"
REVIEW_JOB = "review_stale_model_job"  # drift_platform/defs/team_jobs/review_stale_model.py
SLACK_TOKEN = "xoxb-e2e-not-a-real-token-7f3a"
AWS_SECRET = "e2e-secret-key-b81c"
PG_PASSWORD = "e2e-pg-password-55d1"
EVIDENTLY_SECRET = "e2e-evidently-secret-3b7a"


@dataclass
class Production:
    stack: DagsterStack
    postgres: PostgresServer
    s3: MotoServer
    bucket: str
    slack: SlackRecorder
    dagster_db: str
    warehouse_db: str
    viewer: EvidentlyUI

    def launch_week(self, week: str, monitor: str = BIKE) -> str:
        return self.stack.client().submit_job_execution(
            f"{monitor}_drift_job", tags={"dagster/partition": week}, run_config={}
        )

    def wait_run(self, run_id: str, timeout: float = 300) -> dg.DagsterRunStatus:
        return self.stack.wait_run(run_id, timeout)

    def retrain_runs(self, instance: dg.DagsterInstance, monitor: str = BIKE) -> list[dg.DagsterRun]:
        return list(instance.get_runs(filters=dg.RunsFilter(job_name=f"{monitor}_retrain_job")))

    def viewer_runs(self, project_id: str, report: str = "drift") -> list[dict]:
        """The runs of a monitor's project in Evidently's UI: its drift reports, or its quality reports (their
        metadata says `report: quality`)."""
        return [r for r in self.viewer.runs(project_id) if r["metadata"].get("report", "drift") == report]

    def drift_alerts(self, monitor: str = BIKE) -> list[dict]:
        """The sensor's alerts (a retrain's outcome, posted by the champion/challenger gate, is a second message)."""
        return [m for m in self.slack.messages() if f"*[{monitor}] Data drift*" in m["text"]]

    def history_rows(self, week: str | None = None) -> int:
        where = f" WHERE dteday >= '{week}'::date AND dteday < '{week}'::date + 7" if week else ""
        query = f"SELECT count(*) FROM {BIKE}_history{where}"
        return self.postgres.execute(query, dbname=self.warehouse_db)[0][0]

    def execute_without_daemon(self, monitor: str, partition: str) -> dg.DagsterRun:
        """A period run while no daemon is up: `dagster job execute`, a process of its own, against the same
        storage and services (a run submitted to the queue would wait for the daemon)."""
        job = f"{monitor}_drift_job"
        done = subprocess.run(
            [str(BIN / "dagster"), "job", "execute", "-m", self.stack.module, "-j", job,
             "--tags", json.dumps({"dagster/partition": partition})],
            env=self.stack.env, cwd=REPO, capture_output=True, text=True, timeout=300,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        [run] = self.stack.instance().get_runs(dg.RunsFilter(job_name=job, tags={"dagster/partition": partition}))
        return run


@pytest.fixture(scope="module")
def production(tmp_path_factory, slack_server: SlackRecorder) -> Iterator[Production]:
    postgres = PostgresServer().start()
    s3 = MotoServer().start()
    viewer = EvidentlyUI(tmp_path_factory.mktemp("evidently") / "workspace", secret=EVIDENTLY_SECRET).start()
    try:
        postgres.execute(f"ALTER USER postgres PASSWORD '{PG_PASSWORD}'")
        dagster_db, warehouse_db = "dagster", "drift_warehouse"
        postgres.create_database(dagster_db)
        warehouse_url = postgres.create_database(warehouse_db)
        bucket = s3.create_bucket(unique_name("drift-e2e"))
        env = production_env(
            postgres, s3, bucket, warehouse_url, slack_server.base_url, pg_password=PG_PASSWORD,
            aws_secret=AWS_SECRET, slack_token=SLACK_TOKEN, DRIFT_SLACK_CHANNEL="#drift-e2e",
            DRIFT_UI_URL="http://dagster.example.test", DRIFT_EVIDENTLY_API_URL=viewer.url,
            DRIFT_EVIDENTLY_SECRET=EVIDENTLY_SECRET, DRIFT_EVIDENTLY_UI_URL=viewer.url,
        )
        # churn and paylater (late labels) are left out: a paylater week and its labels would cost ~30-40 s more of
        # a CI budget near its limit; the labels' one transaction on PostgreSQL is test_warehouse's, the labels
        # job, schedule and landed label files test_labels'
        stack = DagsterStack(env, home=tmp_path_factory.mktemp("dagster_home"),
                             monitors=(BIKE, GRID, FOOTBALL, LEADS)).start()
        try:
            yield Production(stack, postgres, s3, bucket, slack_server, dagster_db, warehouse_db, viewer)
        finally:
            stack.stop()
    finally:
        viewer.stop()
        s3.stop()
        postgres.close()


def test_drifting_week_triggers_one_retrain_and_one_alert(production: Production) -> None:
    production.slack.reset()
    instance = production.stack.instance()
    started = time.monotonic()
    run_id = production.launch_week(DRIFTING)
    assert production.wait_run(run_id) == dg.DagsterRunStatus.SUCCESS

    # the daemon's sensor sees the failed check and launches exactly one retrain
    retrain = wait_for(lambda: production.retrain_runs(instance), 120, "a bike_sharing_retrain_job run",
                       diagnostics=production.stack.diagnostics)[0]
    assert production.wait_run(retrain.run_id) == dg.DagsterRunStatus.SUCCESS
    check_run_end = instance.get_run_stats(run_id).end_time
    retrain_start = instance.get_run_stats(retrain.run_id).start_time
    print(f"\ne2e: failed check -> retrain run start {retrain_start - check_run_end:.1f} s; "
          f"week + retrain {time.monotonic() - started:.1f} s")
    assert retrain.tags["drift_platform/period"] == DRIFTING and retrain.tags["drift_platform/monitor"] == BIKE
    assert retrain.tags["dagster/run_key"].startswith("no_dataset_drift:")
    assert production.retrain_runs(instance, GRID) == []  # the other monitor saw nothing

    # Dagster's run records are in PostgreSQL
    run_ids = {r[0] for r in production.postgres.execute("SELECT run_id FROM runs", dbname=production.dagster_db)}
    assert {run_id, retrain.run_id} <= run_ids

    # the history holds the reference and the week, once
    assert production.history_rows(DRIFTING) == 7 and production.history_rows() == 28 + 7

    # the model is in the bucket and its sha256 is the one in the metadata
    event = instance.get_latest_materialization_event(dg.AssetKey([BIKE, "trained_model"]))
    meta = event.asset_materialization.metadata
    link = meta["artifact"].value  # a presigned http URL of the object (no public URL configured)
    version = meta["model_version"].value
    key = f"drift/{BIKE}/models/{version}/model.skops"
    assert f"{production.bucket}/{key}" in link
    body = production.s3.client().get_object(Bucket=production.bucket, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == meta["sha256"].value

    # the report link points at the object in the bucket, in the monitor's folder
    report = instance.get_latest_materialization_event(dg.AssetKey([BIKE, "drift_report"])).asset_materialization
    link = report.metadata["report_html"].value  # a presigned http URL of the object
    assert f"{production.bucket}/drift/{BIKE}/drift_reports/{DRIFTING}/" in link and ".html" in link
    # ... and the report is a run of the monitor's project in Evidently's UI, pushed with the write secret
    assert report.metadata["viewer_push"].value == "ok"
    [project] = [p for p in production.viewer.projects() if p["name"] == BIKE]
    [run] = production.viewer_runs(project["id"])
    assert production.viewer_runs(project["id"], "quality") == []  # no champion yet: no predictions to score
    assert report.metadata["report_url"].value == f"{production.viewer.url}/projects/{project['id']}/reports/{run['id']}"
    assert run["metadata"]["period"] == DRIFTING

    # one Slack alert naming the week and the drift share, and one with the retrain's outcome
    wait_for(production.drift_alerts, 30, "the Slack alert")
    [alert] = production.drift_alerts()
    outcomes = [m for m in production.slack.messages() if f"*[{BIKE}] Retrain for period" in m["text"]]
    assert ["*promoted*" in m["text"] for m in outcomes] == [True]
    assert alert["channel"] == "#drift-e2e"  # the deployment's channel: the bike monitor names none
    share = instance.get_latest_materialization_event(dg.AssetKey([BIKE, "drift_report"])).asset_materialization
    assert f"week {DRIFTING}" in alert["text"] and f"drift share {share.metadata['drift_share'].value:.2f}" in alert["text"]
    assert f"Report: {report.metadata['report_url'].value}" in alert["text"]  # one click to Evidently's page
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
    assert [r["metadata"]["period"] for r in production.viewer_runs(project["id"])] == [DRIFTING]  # the newer only
    # the re-run had a champion: its predictions' quality report is a run of the same project beside the drift run
    assert [r["metadata"]["period"] for r in production.viewer_runs(project["id"], "quality")] == [DRIFTING]
    wait_for(lambda: len(production.drift_alerts()) >= 2, 30, "the second alert")
    assert len(production.drift_alerts()) == 2
    for r in retrains:
        production.wait_run(r.run_id)
    models = production.s3.client().list_objects_v2(Bucket=production.bucket, Prefix=f"drift/{BIKE}/models/")
    versions = {k["Key"] for k in models.get("Contents", []) if k["Key"].endswith("model.skops")}
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
    state = next(s for s in instance.all_instigator_state() if s.name == f"{BIKE}_retrain_on_drift_sensor")
    # the newest tick may still be running when we look; judge the ticks that finished after the run
    finished = [
        t for t in instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=20)
        if t.status.value != "STARTED" and t.timestamp > run_end
    ]
    assert finished, "no sensor tick finished after the quiet week's run"
    assert {t.status.value for t in finished} <= {"SKIPPED", "SUCCESS"}
    assert not any(t.run_ids for t in finished)


def test_two_monitors_failing_while_the_daemon_is_down_get_one_retrain_and_one_alert_each(
    production: Production,
) -> None:
    """The daemon crashes; meanwhile a bike week and a grid day drift; when it is back, both sensors find their
    failed check in the same tick: exactly one retrain of each monitor's own job and one alert each, naming
    the monitor, in its channel. A second crash right after the launches repeats nothing."""
    instance = production.stack.instance()
    production.stack.daemon.kill()
    before = {m: len(production.retrain_runs(instance, m)) for m in (BIKE, GRID)}
    alerts = {m: len(production.drift_alerts(m)) for m in (BIKE, GRID)}

    runs = {BIKE: production.execute_without_daemon(BIKE, "2011-10-10"),
            GRID: production.execute_without_daemon(GRID, "2011-02-08")}
    for monitor, run in runs.items():
        check = dg.AssetCheckKey(dg.AssetKey([monitor, "drift_report"]), "no_dataset_drift")
        [evaluation] = instance.event_log_storage.get_asset_check_execution_history(check, limit=1)
        assert evaluation.run_id == run.run_id and evaluation.status.value == "FAILED"
    time.sleep(5)
    assert {m: len(production.retrain_runs(instance, m)) for m in before} == before  # nobody is watching yet

    production.stack.daemon.start()
    wait_for(lambda: all(len(production.retrain_runs(instance, m)) > before[m] for m in before), 120,
             "a retrain of each monitor after the restart", diagnostics=production.stack.diagnostics)
    # crash again right after the retrains were launched, and come back: nothing is launched or sent twice
    production.stack.daemon.kill()
    production.stack.daemon.start()
    time.sleep(12)  # several sensor ticks of the restarted daemon
    wait_for(lambda: all(len(production.drift_alerts(m)) > alerts[m] for m in alerts), 30, "both alerts")
    for monitor, period, channel in ((BIKE, "2011-10-10", "#drift-e2e"), (GRID, "2011-02-08", "#grid-alerts")):
        new_runs = production.retrain_runs(instance, monitor)[: len(production.retrain_runs(instance, monitor)) - before[monitor]]
        assert len(new_runs) == 1, f"{monitor}: {len(new_runs)} retrains"
        assert new_runs[0].tags["drift_platform/period"] == period and new_runs[0].tags["drift_platform/monitor"] == monitor
        assert len(production.drift_alerts(monitor)) == alerts[monitor] + 1
        alert = production.drift_alerts(monitor)[-1]
        label = "week" if monitor == BIKE else "day"
        assert f"[{monitor}] Data drift* in {label} {period}" in alert["text"] and alert["channel"] == channel
        assert f"`{monitor}_retrain_job`" in alert["text"]
        assert production.wait_run(new_runs[0].run_id) == dg.DagsterRunStatus.SUCCESS
    # each retrain trained its own monitor's model, in its own folder of the bucket
    for monitor in (BIKE, GRID):
        event = instance.get_latest_materialization_event(dg.AssetKey([monitor, "trained_model"]))
        assert f"drift/{monitor}/models/" in event.asset_materialization.metadata["artifact"].value


def test_a_backfill_launched_after_another_is_picked_up_in_seconds(production: Production) -> None:
    """The daemon (drift_platform/instance/daemon.py) looks for new backfills every 5 s, not Dagster's fixed 30: a backfill
    launched right after the daemon took up another has its run within seconds, where it waited ~30 s before.
    Two one-day backfills of grid_load's current_batch (no checks: nothing for the sensors)."""
    instance = production.stack.instance()

    def launch(day: str) -> tuple[dg.RunRecord, float]:
        launched = time.time()
        backfill_id = production.stack.launch_backfill({"assetSelection": [{"path": [GRID, "current_batch"]}],
                                                        "partitionNames": [day]})
        [record] = wait_for(lambda: instance.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill_id})),
                            90, f"the run of backfill {backfill_id}", interval=0.2,
                            diagnostics=production.stack.diagnostics)
        return record, record.create_timestamp.timestamp() - launched

    first, _ = launch("2012-06-01")
    second, waited = launch("2012-06-02")  # the daemon's loop has just taken up the first
    assert waited < 15, f"the second backfill's run was made {waited:.1f} s after its launch"
    for record in (first, second):
        assert production.wait_run(record.dagster_run.run_id) == dg.DagsterRunStatus.SUCCESS


def test_event_data_on_postgresql(production: Production) -> None:
    """The football monitor's event data on the production topology: many matches per kickoff, keyed by match
    id; each week's rows once in PostgreSQL (also after re-runs), predictions keyed the same way, and the
    concept-drift week's failed quality check retrains the football model through the daemon."""
    instance = production.stack.instance()

    def query(sql: str):
        return production.postgres.execute(sql, dbname=production.warehouse_db)

    for week in ("2021-09-13", "2021-09-20"):
        assert production.wait_run(production.launch_week(week, FOOTBALL)) == dg.DagsterRunStatus.SUCCESS
    [(rows, distinct)] = query("SELECT count(*), count(DISTINCT match_id) FROM football_history")
    [(shared,)] = query("SELECT max(n) FROM (SELECT count(*) AS n FROM football_history GROUP BY kickoff) AS k")
    assert rows == distinct == 240 + 2 * 60 and shared >= 8
    [(key,)] = query("SELECT string_agg(a.attname, ',') FROM pg_index i JOIN pg_attribute a ON a.attrelid = "
                     "i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'football_history'::regclass "
                     "AND i.indisprimary")
    assert key == "match_id"

    first = production.stack.client().submit_job_execution(f"{FOOTBALL}_retrain_job", run_config={})
    assert production.wait_run(first) == dg.DagsterRunStatus.SUCCESS  # the first model in service, by hand
    for _ in range(3):  # the concept-drift week, three times: its rows once
        assert production.wait_run(production.launch_week("2021-10-04", FOOTBALL)) == dg.DagsterRunStatus.SUCCESS
    [(rows, distinct)] = query("SELECT count(*), count(DISTINCT match_id) FROM football_history")
    assert rows == distinct == 240 + 3 * 60
    [(predicted, keys)] = query("SELECT count(*), count(DISTINCT match_id) FROM football_predictions "
                                "WHERE kickoff >= '2021-10-04' AND kickoff < '2021-10-11'")
    assert predicted == keys == 60
    check = dg.AssetCheckKey(dg.AssetKey([FOOTBALL, "predictions"]), "no_model_degradation")
    evaluations = instance.event_log_storage.get_asset_check_execution_history(check, limit=3)
    assert [e.status.value for e in evaluations] == ["FAILED"] * 3
    # one sensor-requested retrain per failed evaluation, each of the football job, one alert each
    wait_for(lambda: len([r for r in production.retrain_runs(instance, FOOTBALL)
                          if r.tags.get("drift_platform/trigger") == "quality"]) == 3, 180,
             "three quality retrains", diagnostics=production.stack.diagnostics)
    alerts = lambda: [m for m in production.slack.messages() if "*[football] Model degradation*" in m["text"]]  # noqa: E731
    wait_for(lambda: len(alerts()) == 3, 60, "three football alerts")
    assert {m["channel"] for m in alerts()} == {"#football-ops"}
    for run in production.retrain_runs(instance, FOOTBALL):
        assert production.wait_run(run.run_id) == dg.DagsterRunStatus.SUCCESS


def check_statuses(instance: dg.DagsterInstance, monitor: str, run_id: str) -> dict[str, str]:
    """The run's check evaluations: check name -> SUCCEEDED / FAILED."""
    out = {}
    for asset, name in (("drift_report", "no_dataset_drift"), ("drift_report", "no_prediction_drift"),
                        ("predictions", "no_model_degradation")):
        key = dg.AssetCheckKey(dg.AssetKey([monitor, asset]), name)
        history = instance.event_log_storage.get_asset_check_execution_history(key, limit=10)
        [status] = [e.status.value for e in history if e.run_id == run_id]  # one evaluation per check and run
        out[name] = status
    return out


def test_an_external_model_on_postgresql_launches_its_team_job_once(production: Production) -> None:
    """The shipped external monitor on the production topology: no training asset or job; each week's logged
    predictions in PostgreSQL (model_version external, both classes' probabilities); the quiet week launches
    nothing; the stale week fails the prediction drift and quality checks, and the daemon's on-failure sensor
    launches the team's job once (tagged with the period and the failed checks), which files its review ticket
    in the bucket; one alert in the team's channel; the later ticks repeat neither."""
    import pandas as pd

    instance = production.stack.instance()
    reviews = lambda: list(instance.get_runs(dg.RunsFilter(job_name=REVIEW_JOB)))  # noqa: E731
    alerts = lambda: [m for m in production.slack.messages() if f"*[{LEADS}]" in m["text"]]  # noqa: E731
    assert instance.get_latest_materialization_event(dg.AssetKey([LEADS, "trained_model"])) is None
    from dagster_graphql import DagsterGraphQLClientError

    for job in (f"{LEADS}_retrain_job", f"{LEADS}_rollback_job"):  # absent from the code location, not stubs
        with pytest.raises(DagsterGraphQLClientError, match=job):
            production.stack.client().submit_job_execution(job, run_config={})
    before = len(alerts())

    runs = {week: production.launch_week(week, LEADS) for week in (LEADS_QUIET, LEADS_STALE)}
    for run_id in runs.values():
        assert production.wait_run(run_id) == dg.DagsterRunStatus.SUCCESS
    quiet, stale = (check_statuses(instance, LEADS, runs[w]) for w in (LEADS_QUIET, LEADS_STALE))
    assert quiet == dict.fromkeys(("no_dataset_drift", "no_prediction_drift", "no_model_degradation"), "SUCCEEDED")
    assert stale["no_prediction_drift"] == stale["no_model_degradation"] == "FAILED"

    source = pd.read_csv(REPO / "data" / "lead_scoring_leads.csv", parse_dates=["created_at"])
    for week in (LEADS_QUIET, LEADS_STALE):
        start = pd.Timestamp(week)
        rows = source[(source.created_at >= start) & (source.created_at < start + pd.Timedelta(days=7))]
        [(count, keys, versions, mean_p, off)] = production.postgres.execute(
            "SELECT count(*), count(DISTINCT lead_id), string_agg(DISTINCT model_version, ','), avg(proba_1), "
            f"max(abs(proba_0 + proba_1 - 1)) FROM {LEADS}_predictions WHERE created_at >= '{week}'::date "
            f"AND created_at < '{week}'::date + 7", dbname=production.warehouse_db)
        assert count == keys == len(rows) and versions == "external" and off < 1e-9
        assert mean_p == pytest.approx(rows.conversion_probability.mean(), abs=1e-6)  # the logged values, as logged

    # one run of the team's job, for the stale week, launched by the daemon's sensor
    [review] = wait_for(reviews, 120, f"a {REVIEW_JOB} run", diagnostics=production.stack.diagnostics)
    assert production.wait_run(review.run_id) == dg.DagsterRunStatus.SUCCESS
    tags = review.tags
    assert tags["drift_platform/monitor"] == LEADS and tags["drift_platform/period"] == LEADS_STALE
    failed = set(tags["drift_platform/failed_checks"].split(","))
    assert {"no_prediction_drift", "no_model_degradation"} <= failed and failed <= {
        "no_prediction_drift", "no_model_degradation", "no_dataset_drift"}  # retrain_on, nothing else
    key = f"drift/{LEADS}/reviews/{LEADS_STALE}-{tags['drift_platform/evaluation_id']}.json"
    ticket = json.loads(production.s3.client().get_object(Bucket=production.bucket, Key=key)["Body"].read())
    assert ticket["period"] == LEADS_STALE and set(ticket["failed_checks"]) == failed
    assert ticket["run_id"] == review.run_id
    wait_for(lambda: len(alerts()) > before, 30, f"the {LEADS} alert")
    time.sleep(8)  # more sensor ticks: nothing else is launched or sent
    assert len(reviews()) == 1 and len(alerts()) == before + 1
    assert {m["channel"] for m in alerts()[before:]} == {"#sales-ops-alerts"}
    assert f"`{REVIEW_JOB}`" in alerts()[-1]["text"] and LEADS_STALE in alerts()[-1]["text"]
    # a platform monitor's retrain job never ran for it
    assert not [r for r in instance.get_runs() if r.tags.get("drift_platform/retrain") == LEADS]


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
    for secret in (SLACK_TOKEN, AWS_SECRET, PG_PASSWORD, EVIDENTLY_SECRET):
        leaks = [where for where, text in haystacks.items() if secret in text]
        assert leaks == [], f"{secret[:8]}... leaked into {leaks}"
