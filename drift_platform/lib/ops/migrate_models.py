"""`<monitor>_migrate_models_job` (in `lib/jobs.py`): re-save, once, the model versions earlier releases stored as
pickles, in skops' format, so that loading them runs no code.

Run it by hand, and only if you trust the store: it unpickles each pickled version once (after checking its bytes
against its manifest's sha256). What it did per version (migrated, already skops, refused and why, skipped) is
logged and recorded as an observation of `champion_model`, beside the rollbacks and the listings; each migration is
also appended to the audit log. A refused version fails the run after the observation is recorded. Running it
again migrates nothing. The migration itself is in `core/ml/model_migration.py`.
"""

import dagster as dg

from drift_platform.core.names import CHAMPION_MODEL
from drift_platform.core.settings import Monitor
from drift_platform.lib.assets import asset_key
from drift_platform.resources import ObjectStore, ScopedStore


def migrate_models(context: dg.OpExecutionContext, monitor: Monitor, models: ScopedStore):
    """Migrate every pickled version of the monitor's model store; yield the observation that reports each
    version's outcome, then fail (no retries) if any was refused."""
    from drift_platform.core.ml.model_migration import (
        ALREADY_SKOPS,
        MIGRATED,
        REFUSED,
        SKIPPED,
        migrate_store,
        migrations_table,
    )
    from drift_platform.core.ml.model_registry import configured_trust

    results = migrate_store(models, configured_trust(monitor.training), run_id=context.run.run_id)
    count = {outcome: sum(r.outcome == outcome for r in results) for outcome in (MIGRATED, ALREADY_SKOPS, REFUSED, SKIPPED)}
    table = migrations_table(results)
    context.log.info(f"{count[MIGRATED]} version(s) migrated to skops, {count[ALREADY_SKOPS]} already skops, "
                     f"{count[REFUSED]} refused, {count[SKIPPED]} skipped\n{table}")
    # Yielded, not logged: an event an op logs and then fails is lost with the step.
    yield dg.AssetObservation(
        asset_key=asset_key(monitor, CHAMPION_MODEL),
        metadata={
            "migration": dg.MetadataValue.md(table),
            **{name.replace(" ", "_"): dg.MetadataValue.int(n) for name, n in count.items()},
            **{f"version {r.version}": dg.MetadataValue.text(f"{r.outcome}: {r.detail}") for r in results},
        },
    )
    refused = [r for r in results if r.outcome == REFUSED]
    if refused:
        raise dg.Failure(
            description="refused: " + "; ".join(f"{r.version}: {r.detail}" for r in refused),
            allow_retries=False,
        )


def build_migrate_models_op(monitor: Monitor) -> dg.OpDefinition:
    """The op of `<monitor>_migrate_models_job`."""

    @dg.op(
        name=f"{monitor.name}_migrate_models",
        tags={"kind": "storage"},
        out={},  # no output: the op yields its observation, then fails if a version was refused
        description="Re-save pickled model versions (earlier releases) in skops' format, once; unpickles each after "
        "checking its sha256. Run only if you trust the store. Audited; refused versions fail the run.",
    )
    def migrate_pickled_models(context: dg.OpExecutionContext, store: ObjectStore):
        yield from migrate_models(context, monitor, store.scoped(monitor.name))

    return migrate_pickled_models
