"""The model recipe a monitor's `training:` names: the estimator (an import path), its parameter grid, the metric.

Defaults (core/settings.py's TrainingSettings leaves them unset):
- regression: `sklearn.linear_model.Ridge` searched over `alphas`, inside TransformedTargetRegressor(log1p,
  expm1) when the metric is rmsle (the tutorial's recipe, unchanged: fitted on log1p of the target, scored on
  the original scale); metric rmsle when the spec's target is non-negative, else rmse;
- classification: `sklearn.linear_model.LogisticRegression` over C in [0.1, 1, 10]; metric log_loss.

Every estimator comes after the same preprocessing: one-hot categorical features, standard-scaled numerical ones.
The one-hot output stays sparse where scikit-learn's ColumnTransformer finds it sparse for the linear models of
`sklearn.linear_model`, and is dense for every other estimator (HistGradientBoosting takes dense input only).

Classifiers handle imbalance: an estimator with a `class_weight` parameter gets `class_weight="balanced"` (each
class weighted by the inverse of its frequency in the fit's rows) when the metric scores decisions or ranking
(roc_auc, f1, accuracy), unless the param_grid names `class_weight`. Not for the metrics that score the
probabilities themselves (log_loss, brier): balanced weights move every probability towards the rare class (about
fourfold at 8 % positives, data/generate_churn.py), so a log-loss monitor would judge a miscalibrated model and miss
churn it underestimates; those fit the rows as they are. Every classifier's CV folds are stratified in time;
one with a `random_state` gets 0 unless the grid names it (seeded, so a training can be repeated; the default
Ridge recipe is left exactly as it was).

The estimator is imported when a model is built (training, a gate, a baseline), not when this module is. A
monitor that names an estimator other than the two defaults has it imported once when the code location loads
(`recipe_problems`, called by `Monitor.problems()`; scikit-learn costs ~2.4 s there), so a recipe that cannot
work stops the load naming the key; the defaults, with any grid over their parameters, are checked against
`KNOWN_PARAMS` without an import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from drift_platform.core.ml.metrics import METRICS, REGRESSION, default_metric, metric_names

if TYPE_CHECKING:
    from drift_platform.core.intake.dataset import DatasetSpec
    from drift_platform.core.settings import TrainingSettings

RIDGE = "sklearn.linear_model.Ridge"
LOGISTIC = "sklearn.linear_model.LogisticRegression"
DEFAULT_C: tuple[float, ...] = (0.1, 1.0, 10.0)
# Metrics of the probabilities themselves: a classifier scored by them is fitted unweighted (module docstring).
PROBABILITY_SCORES = ("log_loss", "brier")
# The default estimators' parameters (scikit-learn 1.9; a test compares them with `get_params()`): a monitor that
# names one of them, or searches its parameters, is checked without importing scikit-learn when the code
# location loads. Both have predict (and LogisticRegression predict_proba) and are of their task's kind.
KNOWN_PARAMS: dict[str, tuple[str, ...]] = {
    RIDGE: ("alpha", "copy_X", "fit_intercept", "max_iter", "positive", "random_state", "solver", "tol"),
    LOGISTIC: ("C", "class_weight", "dual", "fit_intercept", "intercept_scaling", "l1_ratio", "max_iter", "n_jobs",
               "penalty", "random_state", "solver", "tol", "verbose", "warm_start"),
}


class RecipeError(ValueError):
    """A recipe that cannot work: an estimator that cannot be imported, a grid or a metric that does not fit."""


@dataclass(frozen=True)
class Recipe:
    """What a monitor's model is: the task, the estimator's import path, its grid (its own parameter names),
    the metric, and whether the target is fitted on log1p."""

    task: str
    estimator: str
    param_grid: dict[str, list[Any]] = field(default_factory=dict)
    metric: str = "rmsle"
    log_target: bool = False

    @property
    def is_classifier(self) -> bool:
        return self.task != REGRESSION

    @property
    def default(self) -> bool:
        """The tutorial's regression recipe: Ridge on log1p of the target."""
        return self.estimator == RIDGE and self.log_target

    @property
    def prefix(self) -> str:
        """Where the estimator's parameters are in the pipeline: `model__` (`model__regressor__` on log1p)."""
        return "model__regressor__" if self.log_target else "model__"


def recipe_of(spec: DatasetSpec, settings: TrainingSettings) -> Recipe:
    """The monitor's recipe: its `training:` keys, each unset one by its default for the spec's task."""
    metric = settings.metric or default_metric(spec.task, spec.target_nonnegative)
    estimator = settings.estimator or (RIDGE if spec.task == REGRESSION else LOGISTIC)
    grid = settings.param_grid
    if grid is None:
        grid = {"alpha": list(settings.alphas)} if estimator == RIDGE else (
            {"C": list(DEFAULT_C)} if estimator == LOGISTIC else {})
    log_target = spec.task == REGRESSION and metric == "rmsle"
    return Recipe(spec.task, estimator, {k: list(v) for k, v in grid.items()}, metric, log_target)


def import_estimator(path: str) -> type:
    """The class an import path names (`package.module.Class`); RecipeError saying why it cannot be had."""
    import importlib

    module_name, _, name = path.rpartition(".")
    if not module_name:
        raise RecipeError(f"{path!r} is not an import path (package.module.Class)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RecipeError(f"{path!r} cannot be imported: {exc}") from None
    found = getattr(module, name, None)
    if not isinstance(found, type):
        raise RecipeError(f"{path!r}: module {module_name!r} has no class {name!r}")
    return found


def new_estimator(recipe: Recipe, params: dict[str, Any] | None = None):
    """A fresh estimator of the recipe, with the imbalance and seed defaults (module docstring) and `params`."""
    estimator = import_estimator(recipe.estimator)()
    own = estimator.get_params()
    fixed: dict[str, Any] = {}
    if (recipe.is_classifier and recipe.metric not in PROBABILITY_SCORES and "class_weight" in own
            and "class_weight" not in recipe.param_grid):
        fixed["class_weight"] = "balanced"
    if "random_state" in own and "random_state" not in recipe.param_grid and not recipe.default:
        fixed["random_state"] = 0
    return estimator.set_params(**fixed, **(params or {}))


def build_model(spec: DatasetSpec, recipe: Recipe, params: dict[str, Any] | None = None):
    """The recipe's pipeline: one-hot + scaling, then the estimator (in TransformedTargetRegressor(log1p,
    expm1) for `log_target`), with the estimator's own `params` set."""
    import numpy as np
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    linear = recipe.estimator.startswith("sklearn.linear_model.")
    preprocess = ColumnTransformer(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore"), list(spec.categorical_features)),
            ("numerical", StandardScaler(), list(spec.numerical_features)),
        ],
        **({} if linear else {"sparse_threshold": 0.0}),
    )
    model = new_estimator(recipe, params)
    if recipe.log_target:
        model = TransformedTargetRegressor(regressor=model, func=np.log1p, inverse_func=np.expm1, check_inverse=False)
    return Pipeline([("preprocess", preprocess), ("model", model)])


def search_grid(recipe: Recipe) -> dict[str, list[Any]]:
    """The grid as GridSearchCV takes it: each parameter under its place in the pipeline."""
    return {recipe.prefix + name: list(values) for name, values in recipe.param_grid.items()}


def own_params(recipe: Recipe, best: dict[str, Any]) -> dict[str, Any]:
    """A search's best parameters under the estimator's own names."""
    return {name.removeprefix(recipe.prefix): value for name, value in best.items()}


# --- refused at load ---------------------------------------------------------------------------------------------
def recipe_problems(spec: DatasetSpec, settings: TrainingSettings) -> list[str]:
    """What makes the recipe unusable, one line per `training.<key>` (empty: none): a metric that does not fit
    the task (or rmsle on a target that may be negative); then, when the monitor names its own estimator or grid,
    an estimator that cannot be imported, is not of the task's kind, lacks fit/predict (or predict_proba where
    the metric needs it), or a grid naming parameters it does not have."""
    recipe = recipe_of(spec, settings)
    found = metric_problems(spec, settings)
    if settings.estimator is None and settings.param_grid is None:
        return found  # the defaults: Ridge and LogisticRegression fit every metric of their task
    if recipe.estimator in KNOWN_PARAMS:
        return found + known_estimator_problems(recipe)
    try:
        estimator = import_estimator(recipe.estimator)()
    except RecipeError as exc:
        return [*found, f"training.estimator: {exc}"]
    except Exception as exc:  # noqa: BLE001 - its constructor failed: say how
        return [*found, f"training.estimator: {recipe.estimator!r}() failed: {exc}"]
    return found + estimator_problems(estimator, recipe)


def metric_problems(spec: DatasetSpec, settings: TrainingSettings) -> list[str]:
    metric = settings.metric
    if metric is None:
        return []
    if metric not in METRICS:
        return [f"training.metric: {metric!r} is not a metric; for task {spec.task}: "
                f"{', '.join(metric_names(spec.task))}"]
    if spec.task not in METRICS[metric].tasks:
        return [f"training.metric: {metric!r} does not fit the spec's task {spec.task!r}; choose one of "
                f"{', '.join(metric_names(spec.task))}"]
    if metric == "rmsle" and not spec.target_nonnegative:
        return ["training.metric: rmsle needs a non-negative target, and the spec sets target_nonnegative: "
                "false (the target may be negative); use rmse or mae"]
    return []


def known_estimator_problems(recipe: Recipe) -> list[str]:
    """A default estimator's problems, without importing it: the task it fits, its parameters (KNOWN_PARAMS)."""
    wanted = RIDGE if recipe.task == REGRESSION else LOGISTIC
    if recipe.estimator != wanted:
        kind = "regressor" if recipe.estimator == RIDGE else "classifier"
        return [f"training.estimator: {recipe.estimator!r} is a scikit-learn {kind}, which task {recipe.task} "
                "does not take"]
    return grid_problems(recipe, KNOWN_PARAMS[wanted])


def grid_problems(recipe: Recipe, own: Any) -> list[str]:
    """A grid naming parameters the estimator does not have (`own`), or listing no value for one."""
    found = []
    unknown = sorted(set(recipe.param_grid) - set(own))
    if unknown:
        found.append(f"training.param_grid: {unknown} are not parameters of {recipe.estimator!r} (it has: "
                     f"{', '.join(sorted(own)) or 'none'})")
    empty = sorted(name for name, values in recipe.param_grid.items() if not values)
    if empty:
        found.append(f"training.param_grid: {empty} list no value to search")
    return found


def estimator_problems(estimator: Any, recipe: Recipe) -> list[str]:
    from sklearn.base import is_classifier, is_regressor

    path, metric = recipe.estimator, METRICS[recipe.metric]
    found = [f"training.estimator: {path!r} has no {m}()" for m in ("fit", "predict") if not hasattr(estimator, m)]
    kind_ok = is_classifier(estimator) if recipe.is_classifier else is_regressor(estimator)
    if not kind_ok:
        want = "classifier" if recipe.is_classifier else "regressor"
        found.append(f"training.estimator: {path!r} is not a scikit-learn {want}, which task {recipe.task} needs")
    if metric.needs_proba and not hasattr(estimator, "predict_proba"):
        found.append(f"training.estimator: {path!r} has no predict_proba(), which training.metric "
                     f"{recipe.metric!r} needs (choose f1 or accuracy, or a probabilistic estimator)")
    return found + grid_problems(recipe, estimator.get_params() if hasattr(estimator, "get_params") else {})
