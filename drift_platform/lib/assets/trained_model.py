"""Training: a model fitted on the whole history, saved as a new version in the monitor's model store (the
challenger; `lib/assets/champion_model.py` decides whether it goes into service)."""

import dagster as dg

from drift_platform.core.names import (
    COMBINED_HISTORY,
    TAG_EVALUATION_ID,
    TAG_TRIGGER,
    TRAINED_MODEL,
    TRAINING,
)
from drift_platform.core.settings import Monitor, TrainingSettings
from drift_platform.lib.assets import asset_args, asset_key
from drift_platform.lib.run_config import run_config_class, settings_from
from drift_platform.resources import ObjectStore, ScopedStore, WarehouseResource


def recipe_record(result, settings: TrainingSettings) -> dict:
    """The manifest's `hyperparameters`: the estimator, its grid and what the search chose (`alpha` and
    `alphas_searched` too for the Ridge recipe, as versions before the recipe was configurable recorded them)."""
    from drift_platform.core.ml.recipe import RIDGE

    wrapped = " in TransformedTargetRegressor(log1p, expm1)" if result.metric == "rmsle" else ""
    record = {
        "model": f"{result.estimator.rpartition('.')[2]}{wrapped} after one-hot + standard scaling",
        "estimator": result.estimator,
        "params": result.best_params,
    }
    if result.best_alpha is not None:
        record["alpha"] = result.best_alpha
    if result.estimator == RIDGE and settings.param_grid is None:
        record["alphas_searched"] = list(settings.alphas)
    else:
        record["param_grid"] = settings.param_grid
    return {**record, "cv_folds": settings.cv_folds, "holdout_share": settings.holdout_share}


def training_scores(result, baseline) -> dict:
    """The manifest's `metrics`, named with the metric m: cv_<m>, holdout_<m> (holdout_r2 for a regression), the
    search's CV value of each candidate, and the walk-forward baseline."""
    m = result.metric
    scores = {f"cv_{m}": result.cv_score, f"holdout_{m}": result.holdout_score}
    if result.holdout_r2 is not None:
        scores["holdout_r2"] = result.holdout_r2
    if result.cv_rmsle_by_alpha and len(result.cv_rmsle_by_alpha) == len(result.cv_scores):
        scores[f"cv_{m}_by_alpha"] = result.cv_rmsle_by_alpha
    else:
        scores[f"cv_{m}_by_params"] = [{"params": p, m: v} for p, v in result.cv_scores]
    # The recipe's walk-forward value per period on this history: the quality check's baseline.
    if baseline is not None:
        scores["quality_baseline"] = baseline.to_dict()
    return scores


def training_manifest(monitor: Monitor, result, history, settings: TrainingSettings, tags, baseline=None) -> dict:
    """What a model version records about itself (models/<version>/manifest.json)."""
    from drift_platform.core.ml.model_registry import code_version
    from drift_platform.core.ml.training import history_sha256

    spec, scoring = monitor.spec, result.scoring
    return {
        "monitor": monitor.name,
        "dataset": spec.name,
        "target": spec.target,
        "task": spec.task,
        "metric": result.metric,
        **({"classes": list(scoring.classes), "positive_class": scoring.positive}
           if scoring is not None and scoring.classes is not None else {}),
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
        "hyperparameters": recipe_record(result, settings),
        "metrics": training_scores(result, baseline),
        "trigger": tags.get(TAG_TRIGGER, "manual"),
        "evaluation_id": tags.get(TAG_EVALUATION_ID),
    }


def trained_metadata(
    result, baseline, version, manifest: dict, models: ScopedStore
) -> dict[str, dg.MetadataValue]:
    """The metadata of a training, named with the metric m: the new version, the hyperparameters chosen, its
    scores (cv_<m>, holdout_<m>), the walk-forward baseline, the window, the artifact and what the manifest
    records of the data and the code."""
    m = result.metric
    return {
        "model_version": dg.MetadataValue.text(version.version),
        "metric": dg.MetadataValue.text(m),
        **({"best_alpha": dg.MetadataValue.float(result.best_alpha)} if result.best_alpha is not None else {}),
        "best_params": dg.MetadataValue.text(", ".join(f"{k}={v}" for k, v in result.best_params.items()) or "-"),
        f"cv_{m}": dg.MetadataValue.float(result.cv_score),
        f"holdout_{m}": dg.MetadataValue.float(result.holdout_score),
        **({"holdout_r2": dg.MetadataValue.float(result.holdout_r2)} if result.holdout_r2 is not None else {}),
        "train_rows": dg.MetadataValue.int(result.train_rows),
        "holdout_rows": dg.MetadataValue.int(result.holdout_rows),
        "baseline_periods": dg.MetadataValue.int(baseline.n),
        **({f"baseline_mean_{m}": dg.MetadataValue.float(baseline.mean)} if baseline.n else {}),
        **({f"baseline_std_{m}": dg.MetadataValue.float(baseline.std)} if baseline.n >= 2 else {}),
        "window": dg.MetadataValue.text(f"{result.window_start:%Y-%m-%d} .. {result.window_end:%Y-%m-%d}"),
        "features": dg.MetadataValue.text(", ".join(result.features)),
        "artifact": models.link(version.artifact_key),
        "sha256": dg.MetadataValue.text(version.sha256),
        "data_sha256": dg.MetadataValue.text(manifest["data_sha256"]),
        "code_version": dg.MetadataValue.text(manifest["code_version"]),
        "trigger": dg.MetadataValue.text(manifest["trigger"]),
    }


def build_trained_model(monitor: Monitor) -> dg.AssetsDefinition:
    """The `trained_model` asset of a monitor, configured by its training settings."""
    TrainingConfig = run_config_class(monitor.training, f"TrainingConfig_{monitor.name}")  # noqa: N806

    @dg.asset(**asset_args(monitor, TRAINED_MODEL, TRAINING, deps=[asset_key(monitor, COMBINED_HISTORY)],
                           kinds={"scikitlearn", "storage"}))
    def trained_model(
        context: dg.AssetExecutionContext, config: TrainingConfig, warehouse: WarehouseResource, store: ObjectStore
    ) -> dg.Output[dict]:
        """The challenger: a scikit-learn pipeline (one-hot categorical features, scaled numerical features, then
        the monitor's estimator: by default Ridge on log1p of the target, or LogisticRegression for a classifier)
        trained on the whole history, its hyperparameters chosen by the grid search with the BEST chronological-CV
        value of the monitor's metric (the lowest RMSLE by default; the highest for ROC AUC, F1, accuracy), scored
        on the latest share of the history. Each training writes a new immutable
        version to the monitor's model store (artifact, then a manifest with the training window, rows, sha256 of
        the history, code version, hyperparameters and metrics) and then moves the `latest` pointer to it. It is
        not in service until `champion_model` promotes it."""
        from drift_platform.core.ml.model_registry import save_model
        from drift_platform.core.ml.training import train, walk_forward_baseline

        table = monitor.table("history")
        if not warehouse.table_exists(table):
            raise dg.Failure(
                f"the history table {table!r} does not exist yet: materialize {monitor.name}/combined_history first",
                allow_retries=False,
            )
        settings = settings_from(config, monitor.training)
        history = warehouse.read(table, monitor.spec.layout)
        result = train(history, monitor.spec, settings)
        baseline = walk_forward_baseline(history, monitor.spec, cadence=monitor.cadence, model=result.model,
                                         scoring=result.scoring, max_periods=settings.baseline_periods)
        manifest = {**training_manifest(monitor, result, history, settings, context.run.tags, baseline),
                    "run_id": context.run.run_id}
        models = store.scoped(monitor.name)
        version = save_model(models, result.model, manifest)
        context.log.info(f"saved model {version.version} (sha256 {version.sha256}) to {version.location}")
        return dg.Output(
            # What champion_model needs to find this version (through the IO manager).
            {"version": version.version, "sha256": version.sha256, "artifact": version.artifact_key},
            metadata=trained_metadata(result, baseline, version, manifest, models),
        )

    return trained_model
