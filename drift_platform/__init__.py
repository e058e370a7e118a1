"""drift_platform: data-drift monitoring and model retraining as Dagster software-defined assets."""
