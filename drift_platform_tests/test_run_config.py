"""A step's run config (lib/run_config.py): the monitor's settings as defaults, an override validated once."""

from __future__ import annotations

import dagster as dg
import pytest

from drift_platform.core.settings import DriftSettings, GateSettings
from drift_platform.lib.run_config import run_config_class, settings_from


def test_a_run_that_overrides_nothing_gets_the_monitors_settings_back() -> None:
    monitor_drift = DriftSettings(drift_share=0.4, per_column_method={"temp": "psi"})
    config = run_config_class(monitor_drift, "DriftConfig_test_same")()
    assert config.drift_share == 0.4 and config.per_column_method == {"temp": "psi"}
    assert settings_from(config, monitor_drift) is monitor_drift


def test_an_override_is_validated_when_the_step_starts() -> None:
    gate = GateSettings()
    config_class = run_config_class(gate, "GateConfig_test_override")
    overridden = settings_from(config_class(eval_periods=2, min_improvement=0.0), gate)
    assert isinstance(overridden, GateSettings) and (overridden.eval_periods, overridden.min_improvement) == (2, 0.0)
    with pytest.raises(dg.Failure, match="eval_periods must be at least 1"):
        settings_from(config_class(eval_periods=0), gate)
