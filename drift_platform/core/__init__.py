"""Everything that is not Dagster: the dataset spec and intake (`intake/`), the statistics (`stats/`), the models
(`ml/`), a monitor's settings (`settings.py`), the names docs and users refer to (`names.py`) and the Evidently
workspace helpers (`evidently_workspace.py`). Plain functions over DataFrames and Arrow tables, usable and
tested without Dagster: nothing below this folder imports `dagster` (drift_platform_tests/test_layers.py
proves it in a fresh interpreter), and nothing here imports `drift_platform.lib` or `drift_platform.resources`.
"""
