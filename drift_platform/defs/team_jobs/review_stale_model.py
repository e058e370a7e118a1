"""A team's own job, launched by an external monitor's `<monitor>_on_failure_sensor` (the monitor's YAML names it:
`model: {source: external, on_failure_job: review_stale_model_job}`).

The platform does not retrain a model trained elsewhere; it tells its team. This job files a review ticket: a
JSON document in the monitor's folder of the object store, `reviews/<period>-<evaluation id>.json`, naming the
period, the failed checks and the evaluation, for the team's own process (a ticket system, a retraining
pipeline of theirs) to pick up. The sensor launches it once per failed evaluation, with the run's tags:
TAG_MONITOR, TAG_PERIOD, TAG_EVALUATION_ID, TAG_TRIGGER and TAG_FAILED_CHECKS (drift_platform/core/names.py).

Any job of the code location can be an on_failure_job: a module of jobs in this folder is loaded with the
monitors (drift_platform/definitions.py).
"""

import json

import dagster as dg

from drift_platform.core.names import (
    TAG_EVALUATION_ID,
    TAG_FAILED_CHECKS,
    TAG_MONITOR,
    TAG_PERIOD,
    TAG_TRIGGER,
)
from drift_platform.resources import ObjectStore

# The tags a run needs, and the ticket field each becomes.
TICKET_TAGS = {"monitor": TAG_MONITOR, "period": TAG_PERIOD, "evaluation_id": TAG_EVALUATION_ID}


def review_ticket(tags: dict[str, str], run_id: str) -> dict:
    """The ticket of a run launched for a failed evaluation, from the run's tags; a run without them (launched by
    hand from the Launchpad) fails, naming the missing tags."""
    missing = [tag for tag in TICKET_TAGS.values() if not tags.get(tag)]
    if missing:
        raise dg.Failure(
            description=f"review_stale_model_job is launched by a monitor's on_failure sensor, with the failed "
            f"evaluation in the run's tags; this run lacks {missing}. Launch it with those tags set.",
            allow_retries=False,
        )
    failed = [c for c in tags.get(TAG_FAILED_CHECKS, "").split(",") if c]
    return {
        **{field: tags[tag] for field, tag in TICKET_TAGS.items()},
        "failed_checks": failed,
        "trigger": tags.get(TAG_TRIGGER),
        "run_id": run_id,
        "action": "review the model: its inputs, outputs or quality moved in this period",
    }


@dg.op(description="Write the review ticket of the failed evaluation named in the run's tags to the monitor's "
       "folder of the object store (reviews/<period>-<evaluation id>.json).")
def write_review_ticket(context: dg.OpExecutionContext, store: ObjectStore) -> dg.Output[str]:
    ticket = review_ticket(dict(context.run.tags), context.run_id)
    folder = store.scoped(ticket["monitor"])
    key = f"reviews/{ticket['period']}-{ticket['evaluation_id']}.json"
    folder.write_bytes(key, json.dumps(ticket, indent=2, sort_keys=True).encode(), "application/json")
    context.log.info(f"review ticket for {ticket['monitor']} {ticket['period']} (failed: "
                     f"{', '.join(ticket['failed_checks']) or '-'}; evaluation {ticket['evaluation_id']}) written to "
                     f"{folder.location(key)}")
    return dg.Output(key, metadata={"ticket": folder.link(key), "period": dg.MetadataValue.text(ticket["period"]),
                                    "failed_checks": dg.MetadataValue.text(", ".join(ticket["failed_checks"]))})


@dg.job(name="review_stale_model_job", tags={"team": "revenue-data-science"},
        description="A team's on_failure_job: file a review ticket for a failed evaluation of an external model's "
        "monitor (reviews/<period>-<evaluation id>.json in the monitor's store folder).")
def review_stale_model_job():
    write_review_ticket()
