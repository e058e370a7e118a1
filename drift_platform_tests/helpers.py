"""Running the real jobs and the real sensor against a test instance and test resources."""

from __future__ import annotations

import hashlib
from typing import Any

import dagster as dg

from drift_platform.definitions import build_defs
from drift_platform.sensors import retrain_on_drift_sensor


class Platform:
    """The project's definitions bound to test resources, with a real (temporary) Dagster instance."""

    def __init__(self, resources: dict[str, Any], instance: dg.DagsterInstance) -> None:
        self.resources = resources
        self.instance = instance
        self.defs = build_defs(resources)
        self.cursor: str | None = None

    def run_week(self, week: str, run_config: dict | None = None, raise_on_error: bool = True):
        job = self.defs.resolve_job_def("weekly_drift_job")
        return job.execute_in_process(
            partition_key=week, instance=self.instance, run_config=run_config, raise_on_error=raise_on_error
        )

    def tick(self) -> dg.SensorResult:
        """One sensor evaluation, keeping the cursor between ticks as the daemon does."""
        with dg.build_sensor_context(instance=self.instance, cursor=self.cursor, resources=self.resources) as ctx:
            result = retrain_on_drift_sensor(ctx)
        self.cursor = result.cursor
        return result

    def retrain(self, tags: dict[str, str] | None = None, run_config: dict | None = None, raise_on_error: bool = True):
        job = self.defs.resolve_job_def("retrain_job")
        return job.execute_in_process(
            instance=self.instance, tags=tags or {}, run_config=run_config, raise_on_error=raise_on_error
        )

    def run_job(self, name: str, run_config: dict | None = None, tags: dict[str, str] | None = None,
                raise_on_error: bool = True):
        """Any job of the definitions, e.g. champion_rollback_job or model_versions_job."""
        return self.defs.resolve_job_def(name).execute_in_process(
            instance=self.instance, run_config=run_config, tags=tags or {}, raise_on_error=raise_on_error
        )

    def history(self):
        warehouse = self.resources["warehouse"]
        return warehouse.read(warehouse.history_table, self.resources["dataset"].spec())

    def history_hash(self) -> str:
        history = self.history()
        return hashlib.sha256(history.to_csv(index=False).encode()).hexdigest()


def check_evaluations(result) -> list:
    return [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]


def step_failure_message(result) -> str:
    """The step failure's message and those of its causes (as the UI shows them)."""
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    error, messages = failure.event_specific_data.error, []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)
