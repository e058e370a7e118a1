"""Training: a model fitted on the whole history, saved as a new version in the model store (the challenger;
assets/lifecycle.py decides whether it goes into service)."""


import dagster as dg
from pydantic import Field

from drift_platform.assets.ingestion import combined_history
from drift_platform.constants import DEFAULT_ALPHAS, OWNERS, TAG_EVALUATION_ID, TAG_TRIGGER, TRAINING_GROUP
from drift_platform.resources import ArtifactStore, DatasetResource, WarehouseResource


class TrainingConfig(dg.Config):
    """Model and search settings (the tutorial's Ridge on log1p of the target, by default)."""

    alphas: list[float] = Field(default=list(DEFAULT_ALPHAS), description="Ridge alphas searched by GridSearchCV")
    cv_folds: int = Field(default=3, description="Chronological CV folds (TimeSeriesSplit) of the search")
    holdout_share: float = Field(default=0.1, description="Latest share of the history held out for scoring")
    n_jobs: int = Field(default=1, description="Parallel jobs of the grid search (-1 = all cores)")


@dg.asset(
    group_name=TRAINING_GROUP,
    deps=[combined_history],
    kinds={"scikitlearn", "storage"},
    owners=OWNERS,
)
def trained_model(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    dataset: DatasetResource,
    warehouse: WarehouseResource,
    model_store: ArtifactStore,
) -> dg.Output[dict]:
    """The challenger: a scikit-learn pipeline (one-hot categorical features, scaled numerical features, Ridge on
    log1p of the target) trained on the whole history, alpha chosen by the grid search with the LOWEST
    chronological-CV RMSLE, scored on the latest 10 % of the history. Each training writes a new immutable
    version to the model store (artifact, then a manifest with the training window, rows, sha256 of the history,
    code version, hyperparameters and metrics) and then moves the `latest` pointer to it. It is not in service
    until `champion_model` promotes it."""
    from drift_platform.model_registry import code_version, save_model
    from drift_platform.training import TrainingSettings, history_sha256, train

    spec = dataset.spec()
    if not warehouse.table_exists(warehouse.history_table):
        raise dg.Failure(
            f"the history table {warehouse.history_table!r} does not exist yet: materialize combined_history first",
            allow_retries=False,
        )
    history = warehouse.read(warehouse.history_table, spec)
    settings = TrainingSettings(
        alphas=tuple(config.alphas), cv_folds=config.cv_folds, holdout_share=config.holdout_share, n_jobs=config.n_jobs
    )
    result = train(history, spec, settings)
    tags = context.run.tags
    manifest = {
        "dataset": spec.name,
        "target": spec.target,
        "features": result.features,
        "window_start": result.window_start.isoformat(),
        "window_end": result.window_end.isoformat(),
        "train_end": result.train_end.isoformat() if result.train_end is not None else None,
        "history_rows": len(history),
        "train_rows": result.train_rows,
        "holdout_rows": result.holdout_rows,
        "data_sha256": history_sha256(history, spec),
        "data_hash": "sha256 of the history table as canonical CSV (spec columns, rows by time, ISO datetimes)",
        "code_version": code_version(),
        "hyperparameters": {
            "model": "Ridge in TransformedTargetRegressor(log1p, expm1) after one-hot + standard scaling",
            "alpha": result.best_alpha,
            "alphas_searched": list(settings.alphas),
            "cv_folds": settings.cv_folds,
            "holdout_share": settings.holdout_share,
        },
        "metrics": {
            "cv_rmsle": result.cv_rmsle,
            "holdout_rmsle": result.holdout_rmsle,
            "holdout_r2": result.holdout_r2,
            "cv_rmsle_by_alpha": result.cv_rmsle_by_alpha,
        },
        "run_id": context.run.run_id,
        "trigger": tags.get(TAG_TRIGGER, "manual"),
        "evaluation_id": tags.get(TAG_EVALUATION_ID),
    }
    version = save_model(model_store, result.model, manifest)
    context.log.info(f"saved model {version.version} (sha256 {version.sha256}) to {version.location}")
    return dg.Output(
        # What champion_model needs to find this version (through the IO manager).
        {"version": version.version, "sha256": version.sha256, "artifact": version.artifact_key},
        metadata={
            "model_version": dg.MetadataValue.text(version.version),
            "best_alpha": dg.MetadataValue.float(result.best_alpha),
            "cv_rmsle": dg.MetadataValue.float(result.cv_rmsle),
            "holdout_rmsle": dg.MetadataValue.float(result.holdout_rmsle),
            "holdout_r2": dg.MetadataValue.float(result.holdout_r2),
            "train_rows": dg.MetadataValue.int(result.train_rows),
            "holdout_rows": dg.MetadataValue.int(result.holdout_rows),
            "window": dg.MetadataValue.text(f"{result.window_start:%Y-%m-%d} .. {result.window_end:%Y-%m-%d}"),
            "features": dg.MetadataValue.text(", ".join(result.features)),
            "artifact": model_store.metadata_value(version.artifact_key),
            "sha256": dg.MetadataValue.text(version.sha256),
            "data_sha256": dg.MetadataValue.text(manifest["data_sha256"]),
            "code_version": dg.MetadataValue.text(manifest["code_version"]),
            "trigger": dg.MetadataValue.text(manifest["trigger"]),
        },
    )
