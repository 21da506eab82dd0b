"""What happens after a drift check, decided by the layers above drift: the seam of retraining policies.

Retraining policies and jobs live in models_api, which imports drift; drift may not import them
back (the layers contract in pyproject.toml, imports inside functions included). So drift offers
this small registry and models_api registers its policy in ``ModelsAPIConfig.ready()``: every
process that runs checks (web, worker, command) has it once Django is set up.

The decision must be made while the check is recorded, not later by a task: the check's answer and
its DriftEvent carry ``retrain_job_id``. ``drift_check_hooks_run`` is called inside the transaction
that saves the event, so a hook can lock rows, create its job and defer the enqueue with
``transaction.on_commit``: a worker never sees a job (or an event) that isn't committed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.db import transaction

if TYPE_CHECKING:
    from drift.models import DriftEvent

logger = logging.getLogger(__name__)

# Given a saved check, return the id of the retrain job it enqueued, or None.
RetrainHook = Callable[["DriftEvent"], uuid.UUID | None]

_retrain_hooks: list[RetrainHook] = []


def retrain_hook_register(hook: RetrainHook) -> None:
    """Register ``hook`` to run after every recorded check (idempotent: AppConfig.ready() may run twice)."""
    if hook not in _retrain_hooks:
        _retrain_hooks.append(hook)


def retrain_hook_unregister(hook: RetrainHook) -> None:
    """Remove ``hook`` (tests)."""
    if hook in _retrain_hooks:
        _retrain_hooks.remove(hook)


def drift_check_hooks_run(event: DriftEvent) -> uuid.UUID | None:
    """Run the hooks on a saved event (inside its transaction) and return the first retrain job id.

    A hook that fails never loses the check: its savepoint is rolled back, the error logged, and the
    event is kept without a retrain job.
    """
    for hook in list(_retrain_hooks):
        try:
            with transaction.atomic():
                job_id = hook(event)
        except Exception:
            logger.exception("Drift check %s: the retraining hook %s failed", event.pk, getattr(hook, "__name__", hook))
            continue
        if job_id is not None:
            return job_id
    return None
