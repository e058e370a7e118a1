"""The model lifecycle on the production topology, as real processes on loopback: PostgreSQL (Dagster's storage
and the warehouse), the object store on an S3-compatible server, a Slack recorder, and a code server,
dagster-webserver and dagster-daemon. Runs are launched through the GraphQL API; the daemon's sensor launches the
retrain. One scenario, in order: a week before any champion (predictions skipped), a flattened first model put
in service by hand, a week whose data drifted AND whose error grew (one retrain, promoted by the gate, two
alerts), the champion rolled back by its job, the versions listed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import dagster as dg
import pytest

from drift_platform_tests.fixtures.slack import SlackRecorder
from loopback import unique_name
from loopback.dagster_stack import DagsterStack, production_env, wait_for
from loopback.postgres import PostgresServer
from loopback.s3 import MotoServer

pytestmark = pytest.mark.e2e

QUIET, DRIFTING = "2011-01-31", "2011-07-04"
PG_PASSWORD = "e2e-lifecycle-pg-3c1e"
MONITOR = "bike_sharing"
FLAT = {"ops": {f"{MONITOR}__trained_model": {"config": {"alphas": [100000.0]}}}}
FOLDER = f"drift/{MONITOR}"  # DRIFT_STORE_URL=s3://<bucket>/drift, and the monitor's folder in it
MODELS = f"{FOLDER}/models"  # the registry's own models/ folder


def job(purpose: str) -> str:
    """The monitor's job, e.g. job("drift_job") -> "bike_sharing_drift_job"."""
    return f"{MONITOR}_{purpose}"


@dataclass
class Production:
    stack: DagsterStack
    postgres: PostgresServer
    s3: MotoServer
    bucket: str
    slack: SlackRecorder
    warehouse_db: str
    seen: dict = field(default_factory=dict)  # what earlier steps of the scenario saw

    def submit(self, job: str, run_config: dict | None = None, tags: dict | None = None) -> str:
        return self.stack.client().submit_job_execution(job, run_config=run_config or {}, tags=tags or {})

    def wait_run(self, run_id: str, timeout: float = 300) -> dg.DagsterRunStatus:
        return self.stack.wait_run(run_id, timeout)

    def run(self, job: str, **kwargs) -> str:
        run_id = self.submit(job, **kwargs)
        assert self.wait_run(run_id) == dg.DagsterRunStatus.SUCCESS, self.stack.diagnostics()
        return run_id

    def object(self, key: str) -> bytes:
        return self.s3.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def keys(self, prefix: str) -> list[str]:
        pages = self.s3.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def champion(self) -> dict:
        return json.loads(self.object(f"{MODELS}/champion.json"))

    def materializations(self, instance: dg.DagsterInstance, asset: str, run_id: str) -> list:
        return [e.asset_materialization for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
                if e.asset_materialization.asset_key == dg.AssetKey([MONITOR, asset])]

    def evaluations(self, instance: dg.DagsterInstance, run_id: str) -> dict:
        return {e.dagster_event.event_specific_data.check_name: e.dagster_event.event_specific_data
                for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)}


@pytest.fixture(scope="module")
def production(tmp_path_factory, slack_server: SlackRecorder) -> Iterator[Production]:
    postgres = PostgresServer().start()
    s3 = MotoServer().start()
    try:
        postgres.execute(f"ALTER USER postgres PASSWORD '{PG_PASSWORD}'")
        postgres.create_database("dagster")
        warehouse_url = postgres.create_database("drift_warehouse")
        bucket = s3.create_bucket(unique_name("drift-lifecycle-"))
        env = production_env(
            postgres, s3, bucket, warehouse_url, slack_server.base_url, pg_password=PG_PASSWORD,
            slack_token="xoxb-e2e-lifecycle-token", DRIFT_SLACK_CHANNEL="#drift-lifecycle",
            DRIFT_CODE_VERSION="e2e-lifecycle-1",
        )
        slack_server.reset()
        # The first model is trained on 35 rows: too few periods for the quality check's walk-forward baseline
        # (it would not judge), so this module keeps the holdout-ratio bound; the baseline has tests of its own.
        stack = DagsterStack(env, home=tmp_path_factory.mktemp("dagster_home"), quality={"bound": "ratio"}).start()
        try:
            yield Production(stack, postgres, s3, bucket, slack_server, "drift_warehouse")
        finally:
            stack.stop()
    finally:
        s3.stop()
        postgres.close()


def test_1_a_week_before_any_champion_skips_its_predictions(production: Production) -> None:
    instance = production.stack.instance()
    run_id = production.run(job("drift_job"), tags={"dagster/partition": QUIET})
    assert production.materializations(instance, "predictions", run_id) == []
    assert set(production.evaluations(instance, run_id)) == {"no_dataset_drift", "no_multivariate_drift",
                                                             "no_data_quality_regression", "no_prediction_drift"}
    observations = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_OBSERVATION)
    assert any("no champion model yet" in str(e.asset_observation.metadata.get("skipped")) for e in observations)
    assert f"{MODELS}/champion.json" not in production.keys(MODELS)


def test_2_the_first_model_goes_into_service(production: Production) -> None:
    instance = production.stack.instance()
    run_id = production.run(job("retrain_job"), run_config=FLAT)  # by hand: no trigger tag, no alert
    [trained] = production.materializations(instance, "trained_model", run_id)
    [gate] = production.materializations(instance, "champion_model", run_id)
    version = trained.metadata["model_version"].value
    assert gate.metadata["decision"].value == "promoted" and production.champion()["version"] == version
    manifest = json.loads(production.object(f"{MODELS}/{version}/manifest.json"))
    assert manifest["code_version"] == "e2e-lifecycle-1" and manifest["hyperparameters"]["alpha"] == 100000.0
    artifact = production.object(f"{MODELS}/{version}/model.skops")
    assert hashlib.sha256(artifact).hexdigest() == manifest["sha256"] == trained.metadata["sha256"].value
    production.seen.update(first=version, first_artifact=artifact)
    time.sleep(4)  # a sensor tick or more
    assert production.slack.messages() == []


def test_3_drift_and_degradation_in_one_week_make_one_retrain_the_gate_promotes(production: Production) -> None:
    instance = production.stack.instance()
    first = production.seen["first"]
    week_run = production.run(job("drift_job"), tags={"dagster/partition": DRIFTING})
    checks = production.evaluations(instance, week_run)
    assert checks["no_dataset_drift"].passed is False and checks["no_model_degradation"].passed is False
    [predictions] = production.materializations(instance, "predictions", week_run)
    assert predictions.metadata["model_version"].value == first
    rows = production.postgres.execute(
        f"SELECT count(*), min(model_version), max(model_version) FROM {MONITOR}_predictions "
        f"WHERE dteday >= '{DRIFTING}'::date AND dteday < '{DRIFTING}'::date + 7", dbname=production.warehouse_db)
    assert rows == [(7, first, first)]

    def retrains() -> list[dg.DagsterRun]:
        return [r for r in instance.get_runs(filters=dg.RunsFilter(job_name=job("retrain_job")))
                if "dagster/run_key" in r.tags]

    [retrain] = wait_for(retrains, 120, "the retrain launched by the sensor", diagnostics=production.stack.diagnostics)
    assert production.wait_run(retrain.run_id) == dg.DagsterRunStatus.SUCCESS
    assert retrain.tags["dagster/run_key"].startswith("no_dataset_drift:")
    assert retrain.tags["drift_platform/trigger"] == "drift+quality" and retrain.tags["drift_platform/period"] == DRIFTING
    assert retrain.tags["drift_platform/monitor"] == MONITOR

    [gate] = production.materializations(instance, "champion_model", retrain.run_id)
    challenger, champion = gate.metadata["challenger_rmsle"].value, gate.metadata["champion_rmsle"].value
    second = gate.metadata["challenger_version"].value
    assert gate.metadata["decision"].value == "promoted" and challenger < champion
    assert production.champion()["version"] == second and production.champion()["previous"] == first
    assert any(k.startswith(f"{MODELS}/audit/") and "-promote-" in k for k in production.keys(f"{MODELS}/audit/"))

    wait_for(lambda: len(production.slack.messages()) >= 2, 60, "the two alerts")
    time.sleep(6)  # two more sensor ticks: nothing else is launched or sent
    assert len(retrains()) == 1
    texts = [m["text"] for m in production.slack.messages()]
    assert len(texts) == 2
    [alert] = [t for t in texts if f"*[{MONITOR}] Data drift*" in t]
    assert f"*[{MONITOR}] Model degradation* in week 2011-07-04" in alert and retrain.tags["dagster/run_key"] in alert
    [outcome] = [t for t in texts if f"*[{MONITOR}] Retrain for period {DRIFTING}*" in t]
    assert "trigger: drift+quality" in outcome and f"challenger `{second}` *promoted*" in outcome
    assert f"RMSLE challenger {challenger:.4f} vs champion {champion:.4f}" in outcome
    production.seen["second"] = second


def test_4_rollback_restores_the_first_artifact_byte_for_byte(production: Production) -> None:
    instance = production.stack.instance()
    first, second = production.seen["first"], production.seen["second"]
    before = len(production.slack.messages())
    config = {"ops": {f"{MONITOR}_rollback_champion": {"config": {"version": first, "reason": "e2e: the flat model is back"}}}}
    run_id = production.run(job("rollback_job"), run_config=config)
    pointer = production.champion()
    assert pointer["version"] == first and pointer["previous"] == second and pointer["action"] == "rollback"
    artifact = production.object(f"{FOLDER}/{pointer['artifact']}")  # keys in the pointer are the monitor folder's
    assert artifact == production.seen["first_artifact"]
    assert hashlib.sha256(artifact).hexdigest() == pointer["sha256"]
    [event] = production.materializations(instance, "champion_model", run_id)
    assert event.metadata["decision"].value == "rolled back" and event.metadata["previous_champion"].value == second
    audit = [json.loads(production.object(k)) for k in production.keys(f"{MODELS}/audit/")]
    assert [(e["action"], e["to"]) for e in audit][-1] == ("rollback", first)
    assert audit[-1]["run_id"] == run_id and audit[-1]["reason"] == "e2e: the flat model is back"
    wait_for(lambda: len(production.slack.messages()) > before, 30, "the rollback message")
    assert f"*[{MONITOR}] Champion rolled back*" in production.slack.messages()[-1]["text"]

    # every version is still there, whole: nothing was overwritten
    files = [k for k in production.keys(MODELS) if k.count("/") == MODELS.count("/") + 2 and "/audit/" not in k]
    assert files == sorted(f"{MODELS}/{v}/{f}" for v in (first, second) for f in ("manifest.json", "model.skops"))


def test_5_the_versions_job_lists_both(production: Production) -> None:
    instance = production.stack.instance()
    run_id = production.run(job("model_versions_job"))
    [observation] = [e.asset_observation for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_OBSERVATION)]
    assert observation.metadata["version_count"].value == 2
    assert observation.metadata["champion_version"].value == production.seen["first"]
    assert "rollback" in observation.metadata["audit_log"].value
