"""Names that docs, users and tests refer to: asset names, stages, checks, tags. Change them here only."""

# Asset names; every monitor's keys are `<monitor>/<name>`.
REFERENCE_DATA = "reference_data"
CURRENT_BATCH = "current_batch"
DRIFT_REPORT = "drift_report"
COMBINED_HISTORY = "combined_history"
TRAINED_MODEL = "trained_model"
CHAMPION_MODEL = "champion_model"
PREDICTIONS = "predictions"
DRIFT_TREND = "drift_trend"
# A monitor whose labels arrive late (`labels:` in its defs.yaml): the period's labels, landed after its features.
LABELS = "labels"

# The UI groups assets by monitor; within a monitor, each asset's stage is a tag.
TAG_STAGE = "drift_platform/stage"
INGESTION, MONITORING, TRAINING = "ingestion", "monitoring", "training"

NO_DATASET_DRIFT_CHECK = "no_dataset_drift"
NO_MODEL_DEGRADATION_CHECK = "no_model_degradation"
NO_MULTIVARIATE_DRIFT_CHECK = "no_multivariate_drift"
NO_DATA_QUALITY_CHECK = "no_data_quality_regression"
NO_PREDICTION_DRIFT_CHECK = "no_prediction_drift"
# The model's metric estimated from its outputs alone (CBPE, DLE: core/ml/estimation.py), before the labels land.
NO_ESTIMATED_DEGRADATION_CHECK = "no_estimated_degradation"

# The model_version of an external model's logged predictions (a monitor with `model: {source: external}`).
EXTERNAL_MODEL_VERSION = "external"

OWNERS = ("team:ml-platform",)

# Carried by every run of a monitor's jobs.
TAG_MONITOR = "drift_platform/monitor"
# Tags that tie a retrain run to the evaluation that caused it.
TAG_EVALUATION_ID = "drift_platform/evaluation_id"
TAG_PERIOD = "drift_platform/period"
TAG_TRIGGER = "drift_platform/trigger"
# Extra tag of a retrain requested by a monitor's retrain sensor when the model-quality check failed: the quality
# evaluation that caused it, beside TAG_EVALUATION_ID (the evaluation named in the run key).
TAG_QUALITY_EVALUATION_ID = "drift_platform/quality_evaluation_id"
# TAG_TRIGGER's values for retrains requested by the sensor: the failed checks' triggers joined by "+" in this
# order, e.g. "drift", "quality", "drift+quality", "multivariate", "data_quality".
TRIGGER_DRIFT = "drift"
TRIGGER_QUALITY = "quality"
TRIGGER_MULTIVARIATE = "multivariate"
TRIGGER_DATA_QUALITY = "data_quality"
TRIGGER_PREDICTION_DRIFT = "prediction_drift"
TRIGGER_ESTIMATED_DEGRADATION = "estimated_degradation"
# Tag of a run of an external monitor's `on_failure_job`: the failed checks of the evaluation, joined by ",".
TAG_FAILED_CHECKS = "drift_platform/failed_checks"

# Carried by every retrain and rollback run, with the monitor's name as value: dagster.yaml runs one of them
# at a time per monitor (the champion pointer is never moved by two runs at once).
TAG_RETRAIN = "drift_platform/retrain"
