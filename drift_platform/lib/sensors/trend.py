"""`<monitor>_drift_trend_sensor`: the automation-condition sensor that materializes a monitor's drift_trend
(drift_platform/lib/assets/drift_trend.py) by its automation condition, run by the daemon."""

import dagster as dg

from drift_platform.core.settings import Monitor


def build_trend_sensor(monitor: Monitor, drift_trend: dg.AssetsDefinition) -> dg.SensorDefinition:
    """The sensor that keeps the monitor's drift_trend fresh: it evaluates the asset's automation condition
    (after a period's drift report changes, not while a period runs), running from the start."""
    return dg.AutomationConditionSensorDefinition(
        f"{monitor.name}_drift_trend_sensor",
        target=dg.AssetSelection.assets(drift_trend),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=max(30, monitor.sensor_interval_seconds),
        description=f"Materializes {monitor.name}/drift_trend after a period's drift report changes.",
    )
