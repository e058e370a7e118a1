"""`DriftMonitor`: the Dagster component a team declares in YAML to monitor one dataset and its model.

One folder per monitor, `drift_platform/defs/monitors/<name>/defs.yaml`:

    type: drift_platform.DriftMonitor
    attributes:
      spec: spec.yaml                 # relative to this file, or the spec's mapping inline
      source: "{{ env.ORDERS_URL }}"  # a CSV or Parquet: http(s), s3://, file:// or a path (relative to this
                                      # file); or SQL: {url: "{{ env.ORDERS_DB_URL }}", table: orders}
      cadence: daily                  # or weekly (Monday weeks; the default)

Every other attribute has a default (drift_platform/core/settings.py lists them with their types and descriptions;
`dg list components --json` shows the schema). `build_defs` is the one function that makes a monitor's assets,
checks, jobs, schedule and sensors, each named after the monitor; the shared resources (warehouse, object
store, alerts, IO manager) come from drift_platform/definitions.py.

A wrong attribute fails the code-location load (and `dg check defs`) naming the defs.yaml file, its line and
the key: unknown keys and wrong types through Dagster's schema, the spec and the source through the resolvers
below, every value once, by the settings' own validators (drift_platform/core/settings.py).
"""

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import dagster as dg
from pydantic import BaseModel, ValidationError

from drift_platform.core.intake.dataset import DatasetSpec, describe_errors
from drift_platform.core.settings import Cadence, LabelsSettings, ModelSettings, Monitor, SqlSource
from drift_platform.lib.assets.champion_model import build_champion_model
from drift_platform.lib.assets.drift_report import build_drift_report
from drift_platform.lib.assets.drift_trend import build_drift_trend
from drift_platform.lib.assets.ingestion import build_ingestion
from drift_platform.lib.assets.labels import build_labels
from drift_platform.lib.assets.logged_predictions import build_logged_predictions
from drift_platform.lib.assets.predictions import build_predictions
from drift_platform.lib.assets.trained_model import build_trained_model
from drift_platform.lib.checks import build_checks
from drift_platform.lib.jobs import build_jobs, build_labels_schedule, build_schedule
from drift_platform.lib.partitions import partitions_for
from drift_platform.lib.sensors.landing import build_landing_sensor
from drift_platform.lib.sensors.retrain import build_retrain_sensor
from drift_platform.lib.sensors.trend import build_trend_sensor

BIKE_SPEC = Path(__file__).resolve().parents[2] / "data" / "bike_sharing.yaml"


def _folder(context: dg.ResolutionContext) -> Path:
    """The monitor's folder (where its defs.yaml is): relative paths in the YAML are relative to it."""
    from dagster.components.core.context import ComponentDeclLoadContext

    return ComponentDeclLoadContext.from_resolution_context(context).path


def resolve_spec(context: dg.ResolutionContext, raw: Any) -> DatasetSpec:
    value = context.resolve_value(raw)
    if isinstance(value, str):
        return DatasetSpec.from_yaml(_folder(context) / value)
    return DatasetSpec.from_dict(value)


def resolve_source(context: dg.ResolutionContext, raw: Any) -> str | SqlSource:
    """A CSV or Parquet path (relative to the monitor's folder) or URL as it is; `{url, table|query}` a SQL
    source (its URL's credentials from `{{ env.X }}`, shown nowhere)."""
    value = context.resolve_value(raw)
    if isinstance(value, dict):
        written = str(raw.get("url", "")) if isinstance(raw, dict) else ""
        if "{{" not in written and urlsplit(written).password:
            raise ValueError("source.url: a password written in defs.yaml; pass the URL (or its password) "
                             "through the environment: url: \"{{ env.ORDERS_DB_URL }}\"")
        try:
            return SqlSource.model_validate(value)
        except ValidationError as exc:  # pydantic's own text would show the input, URL and password included
            raise ValueError(f"source: {describe_errors(exc)}") from None
    if not value or not isinstance(value, str):
        raise ValueError(f"source must be a URL, a path or {{url, table|query}}, got {value!r} (an unset "
                         "environment variable?)")
    if "://" in value:
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (_folder(context) / path).resolve())


def resolve_labels(context: dg.ResolutionContext, raw: Any) -> LabelsSettings | None:
    """`labels:` with its source, a path, relative to the monitor's folder as the monitor's own source is."""
    value = context.resolve_value(raw)
    if value is None:
        return None
    if isinstance(value, dict) and value.get("source") is not None:
        value = {**value, "source": resolve_source(context, value["source"])}
    return LabelsSettings.model_validate(value)


class DriftMonitorScaffoldParams(BaseModel):
    spec: str | None = None
    source: str | None = None
    cadence: Cadence = "weekly"


class DriftMonitorScaffolder(dg.Scaffolder[DriftMonitorScaffoldParams]):
    """`dg scaffold defs drift_platform.DriftMonitor monitors/<name>`: a defs.yaml and a spec.yaml that work as
    they are (the bike-sharing sample), ready to be edited; `--json-params` may name another spec and source."""

    @classmethod
    def get_scaffold_params(cls) -> type[DriftMonitorScaffoldParams]:
        return DriftMonitorScaffoldParams

    def scaffold(self, request: dg.ScaffoldRequest[DriftMonitorScaffoldParams]) -> None:
        import shutil

        folder = request.target_path
        folder.mkdir(parents=True, exist_ok=True)
        params = request.params or DriftMonitorScaffoldParams()
        spec = params.spec
        if spec is None:
            shutil.copyfile(BIKE_SPEC, folder / "spec.yaml")
            spec = "spec.yaml"
        source = params.source or "{{ context.project_root }}/data/bike_sharing_day.csv"
        dg.scaffold_component(request, {"spec": spec, "source": source, "cadence": params.cadence})


@dg.scaffold_with(DriftMonitorScaffolder)
class DriftMonitor(Monitor, dg.Component, dg.Resolvable):
    """Watch one dataset's drift and keep its model fresh: reference, batches, drift report and check, history,
    versioned models with a champion/challenger gate, predictions and a quality check, a trend, a schedule and
    sensors that retrain and alert. A model trained elsewhere (`model: {source: external}`) is watched from its
    logged predictions instead: nothing trained, gated or served; its failed checks alert and launch the team's
    `on_failure_job`. Every asset key, job and table is prefixed by the monitor's name."""

    # `Any`, not DatasetSpec: Dagster derives the YAML schema from field types and cannot from the spec's date
    # fields; the resolver makes a DatasetSpec.
    spec: Annotated[
        Any,
        dg.Resolver(resolve_spec, model_field_type=str | dict,
                    description="The dataset spec: a YAML file relative to defs.yaml, or the mapping inline"),
    ]
    source: Annotated[
        Any,
        dg.Resolver(resolve_source, model_field_type=str | dict,
                    description="Where the periods' rows come from: a CSV or Parquet (a .parquet file or a folder "
                    "of them, hive partitions) as an http(s)/s3/file URL or a path relative to defs.yaml; or SQL, "
                    "{url, table} or {url, query} with :start and :end; `{{ env.X }}` allowed"),
    ]

    model_settings: Annotated[
        ModelSettings,
        dg.Resolver(lambda context, raw: ModelSettings.model_validate(context.resolve_value(raw)),
                    model_field_name="model", model_field_type=dict,
                    description="Where the model comes from: {source: platform} (trained and served here, the "
                    "default) or {source: external, on_failure_job: <job>} (monitored from its logged predictions)"),
    ] = ModelSettings()
    labels: Annotated[
        LabelsSettings | None,
        dg.Resolver(resolve_labels, model_field_type=dict | None,
                    description="Labels that arrive after the features: {source: <CSV path or URL>, label_delay: "
                    "'4 weeks'} or {in_source: true, label_delay: '4 weeks'}; unset: each period's rows carry their "
                    "labels"),
    ] = None

    @classmethod
    def resolve_from_model(cls, context: dg.ResolutionContext, model: BaseModel) -> "DriftMonitor":
        """As Dagster resolves it, with a wrong value's file and key named (Dagster's own message for a value of
        the wrong type names only the key: every field also accepts a template string until it is resolved)."""
        try:
            return super().resolve_from_model(context, model)
        except ValidationError as exc:
            raise MonitorConfigError(f"{_folder(context) / 'defs.yaml'}: {describe_errors(exc)}") from None

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        # Validated once, as Dagster resolved the YAML into this component: the Monitor reuses those values.
        monitor = Monitor.model_construct(**{**dict(self), "name": self.name or context.path.name})
        return build_monitor_defs(monitor, origin=str(context.path / "defs.yaml"))


class MonitorConfigError(ValueError):
    """A monitor's attributes do not fit together (e.g. a weekly monitor whose first period is not a Monday)."""


def build_assets(monitor: Monitor, partitions: dg.PartitionsDefinition) -> dict[str, dg.AssetsDefinition]:
    """The monitor's assets by name: reference_data, current_batch, drift_report, combined_history,
    predictions and drift_trend; trained_model and champion_model for a platform-served model only (an external
    model's predictions are its logged ones: lib/assets/logged_predictions.py); labels when they arrive late."""
    reference, batch, history = build_ingestion(monitor, partitions)
    assets = {"reference_data": reference, "current_batch": batch,
              "drift_report": build_drift_report(monitor, partitions), "combined_history": history}
    if monitor.external:
        assets["predictions"] = build_logged_predictions(monitor, partitions)
    else:
        assets.update(trained_model=build_trained_model(monitor), champion_model=build_champion_model(monitor),
                      predictions=build_predictions(monitor, partitions))
    if monitor.late_labels:
        assets["labels"] = build_labels(monitor, partitions)
    assets["drift_trend"] = build_drift_trend(monitor)
    return assets


def build_monitor_defs(monitor: Monitor, origin: str | None = None) -> dg.Definitions:
    """Everything one monitor is made of, named after it. A platform-served model's monitor: eight assets, up to
    five checks (fewer with the multivariate, data-quality or prediction drift check off), six jobs, a schedule
    and three sensors. An external model's (`model: {source: external}`): six assets (no trained_model or
    champion_model), the same checks, two jobs (drift, viewer_sync), the schedule and three sensors, its
    failures watched by `<monitor>_on_failure_sensor`. Labels that arrive late (`labels:`) add the labels asset,
    its job and its schedule, and move no_model_degradation onto it. Resources are the deployment's
    (drift_platform/definitions.py). `origin` (its defs.yaml) names where a problem is."""
    problems = monitor.problems()
    if problems:
        raise MonitorConfigError(f"{origin or f'monitor {monitor.name!r}'}: " + "; ".join(problems))
    partitions = partitions_for(monitor)
    assets = build_assets(monitor, partitions)
    jobs = build_jobs(monitor, assets)
    return dg.Definitions(
        assets=list(assets.values()),
        asset_checks=build_checks(monitor, assets["drift_report"], assets["predictions"], partitions,
                                  assets.get("labels")),
        jobs=list(jobs.values()),
        schedules=[build_schedule(monitor, jobs["drift"]),
                   *([build_labels_schedule(monitor, jobs["labels"], partitions)] if "labels" in jobs else [])],
        sensors=[
            build_retrain_sensor(monitor, jobs.get("retrain"), origin),
            build_landing_sensor(monitor, jobs["drift"], partitions, jobs.get("labels")),
            build_trend_sensor(monitor, assets["drift_trend"]),
        ],
    )
