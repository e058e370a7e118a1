"""Names that docs, users and tests refer to: groups, checks, tags. Change them here only."""

INGESTION_GROUP = "ingestion"
MONITORING_GROUP = "monitoring"
TRAINING_GROUP = "training"

NO_DATASET_DRIFT_CHECK = "no_dataset_drift"

OWNERS = ["team:ml-platform"]

# Tags that tie a retrain run to the drift evaluation that caused it.
TAG_EVALUATION_ID = "drift_platform/evaluation_id"
TAG_DRIFTED_WEEK = "drift_platform/week"
TAG_TRIGGER = "drift_platform/trigger"

# The tutorial's Ridge grid.
DEFAULT_ALPHAS: tuple[float, ...] = (0.1, 1.0, 2.0, 3.0, 4.0, 10.0, 100.0)

# Carried by every retrain_job run; dagster.yaml runs one of them at a time.
TAG_RETRAIN = "drift_platform/retrain"

# --- model lifecycle (drift_platform/model_registry.py, assets/lifecycle.py) ---------------------------------
NO_MODEL_DEGRADATION_CHECK = "no_model_degradation"
# The warehouse table the `predictions` asset writes (the champion's predictions, one week at a time).
PREDICTIONS_TABLE = "predictions"
# Extra tags of a retrain run requested by retrain_on_drift_sensor: the quality evaluation that caused it
# (when the model-quality check failed), beside TAG_EVALUATION_ID (the evaluation named in the run key).
TAG_QUALITY_EVALUATION_ID = "drift_platform/quality_evaluation_id"
# TAG_TRIGGER's values for retrains requested by the sensor: "drift", "quality" or "drift+quality".
TRIGGER_DRIFT = "drift"
TRIGGER_QUALITY = "quality"
