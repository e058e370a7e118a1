"""Running a monitor's real jobs and real sensor against a test instance and test resources."""

from __future__ import annotations

import hashlib
from typing import Any

import dagster as dg

from drift_platform.core.settings import Monitor
from drift_platform.lib.component import build_monitor_defs


class Platform:
    """One monitor's definitions (as its component builds them) bound to test resources, with a real
    (temporary) Dagster instance. Job names are the monitor's (`drift_job` means `<monitor>_drift_job`)."""

    def __init__(self, resources: dict[str, Any], instance: dg.DagsterInstance, monitor: Monitor | None = None) -> None:
        from drift_platform_tests.conftest import bike_monitor

        self.monitor = monitor or bike_monitor()
        self.resources = resources
        self.instance = instance
        self.defs = dg.Definitions.merge(build_monitor_defs(self.monitor), dg.Definitions(resources=resources))
        self.cursor: str | None = None

    @property
    def name(self) -> str:
        return self.monitor.name

    def op(self, asset: str) -> str:
        """The op name of one of the monitor's assets, e.g. op("current_batch") -> "bike_sharing__current_batch"."""
        return f"{self.name}__{asset}"

    def key(self, asset: str) -> dg.AssetKey:
        return dg.AssetKey([self.name, asset])

    def job(self, purpose: str) -> dg.JobDefinition:
        return self.defs.resolve_job_def(f"{self.name}_{purpose}")

    def run_week(self, week: str, run_config: dict | None = None, raise_on_error: bool = True):
        """One period of the drift job (a week for the bike monitor)."""
        return self.job("drift_job").execute_in_process(
            partition_key=week, instance=self.instance, run_config=run_config, raise_on_error=raise_on_error
        )

    run_period = run_week

    def sensor(self, kind: str = "retrain_on_drift_sensor") -> dg.SensorDefinition:
        return self.defs.resolve_sensor_def(f"{self.name}_{kind}")

    def tick(self) -> dg.SensorResult:
        """One evaluation of the monitor's retrain sensor, keeping the cursor between ticks as the daemon does."""
        with dg.build_sensor_context(instance=self.instance, cursor=self.cursor, resources=self.resources) as ctx:
            result = self.sensor()(ctx)
        self.cursor = result.cursor
        return result

    def retrain(self, tags: dict[str, str] | None = None, run_config: dict | None = None, raise_on_error: bool = True):
        return self.job("retrain_job").execute_in_process(
            instance=self.instance, tags=tags or {}, run_config=run_config, raise_on_error=raise_on_error
        )

    def run_job(self, purpose: str, run_config: dict | None = None, tags: dict[str, str] | None = None,
                raise_on_error: bool = True):
        """Any job of the monitor, e.g. run_job("rollback_job") or run_job("model_versions_job")."""
        return self.job(purpose).execute_in_process(
            instance=self.instance, run_config=run_config, tags=tags or {}, raise_on_error=raise_on_error
        )

    def models(self):
        """The monitor's folder of the object store (models/, drift_reports/, landing/)."""
        return self.resources["store"].scoped(self.name)

    def history(self):
        warehouse = self.resources["warehouse"]
        return warehouse.read(self.monitor.table("history"), self.monitor.spec.layout)

    def history_hash(self) -> str:
        history = self.history()
        return hashlib.sha256(history.to_csv(index=False).encode()).hexdigest()


def check_evaluations(result, name: str | None = None) -> list:
    """The run's check evaluations (of the check `name` only, if given)."""
    return [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
            and (name is None or e.event_specific_data.check_name == name)]


def step_failure_message(result) -> str:
    """The step failure's message and those of its causes (as the UI shows them)."""
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    error, messages = failure.event_specific_data.error, []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    return "\n".join(messages)


def finished_ticks(instance: dg.DagsterInstance, sensor: str) -> list:
    """A sensor's ticks that are done, oldest first (none before the daemon stores its state)."""
    state = next((s for s in instance.all_instigator_state() if s.name == sensor), None)
    if state is None:
        return []
    ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=20)
    return sorted((t for t in ticks if t.status.value != "STARTED"), key=lambda t: t.timestamp)


def data_series(ui_url: str, project_id: str, panel: dict) -> list[dict]:
    """What an Evidently dashboard panel plots, asked of the UI as its page asks: the series of its values."""
    import json
    import urllib.request

    body = {"series_filter": [{k: v[k] for k in ("tags", "metadata", "metric", "metric_labels")}
                              for v in panel["values"]]}
    request = urllib.request.Request(f"{ui_url}/api/v2/snapshots/{project_id}/data_series_batch",
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["series"]
