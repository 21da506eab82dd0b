"""``manage.py retrain``: retrain models from their production spec, compare on a holdout, maybe promote."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from models_api.jobs import job_enqueue_retrain
from models_api.models import Job
from models_api.retraining import RetrainOutcome, RetrainTarget, model_retrain, retrain_outcome_of, retrain_targets


class Command(BaseCommand):
    help = (
        "Retrain each model from the training spec of its production version, on new data when given; "
        "evaluate candidate and production on the same holdout; with --promote, move production to the "
        "candidate only if it is at least as good."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument(
            "--model", action="append", dest="models", metavar="NAME", help="A model to retrain (repeatable)."
        )
        which.add_argument("--all", action="store_true", dest="all_models", help="Every registered model.")
        parser.add_argument("--data", help="A dataset uri in the datasets storage (CSV or Parquet) to train on.")
        parser.add_argument(
            "--if-drifted", action="store_true", help="Only versions whose latest drift check found drift."
        )
        parser.add_argument(
            "--promote", action="store_true", help="Promote a candidate at least as good as production."
        )
        parser.add_argument("--dry-run", action="store_true", help="Say what would be retrained; change nothing.")
        parser.add_argument(
            "--async", action="store_true", dest="run_async", help="Queue each retraining as a job and wait for them."
        )
        parser.add_argument(
            "--timeout", type=float, default=6 * 3600, help="With --async: seconds to wait (default 6 h)."
        )

    def handle(self, *args: Any, models: list[str] | None, all_models: bool, data: str | None, if_drifted: bool,
               promote: bool, dry_run: bool, run_async: bool, timeout: float, **options: Any) -> None:  # fmt: skip
        targets = retrain_targets(names=None if all_models else models, if_drifted=if_drifted)
        if run_async and not dry_run:
            outcomes = self._through_jobs(targets, data=data, promote=promote, timeout=timeout)
        else:
            outcomes = self._in_process(targets, data=data, promote=promote, dry_run=dry_run)
        self._table(outcomes)
        failed = [outcome.model_name for outcome in outcomes if outcome.status == "failed"]
        if failed:
            raise CommandError(f"Retraining failed for {', '.join(failed)}.")

    def _in_process(
        self, targets: list[RetrainTarget], *, data: str | None, promote: bool, dry_run: bool
    ) -> list[RetrainOutcome]:
        outcomes = []
        with tqdm(total=len(targets), desc="retraining", unit="model", file=self.stderr, disable=None) as progress:
            for target in targets:
                progress.set_postfix_str(target.model_name)
                outcomes.append(self._one(target, data=data, promote=promote, dry_run=dry_run))
                progress.update()
        return outcomes

    def _through_jobs(
        self, targets: list[RetrainTarget], *, data: str | None, promote: bool, timeout: float
    ) -> list[RetrainOutcome]:
        """Queue one job per model, then wait for all of them with a progress bar."""
        skipped = [RetrainOutcome(t.model_name, "skipped", t.production_version, message=t.skip_reason)
                   for t in targets if t.skip_reason]  # fmt: skip
        jobs = [
            job_enqueue_retrain(model_name=t.model_name, data_uri=data, promote=promote)
            for t in targets
            if not t.skip_reason
        ]
        pending = {job.pk for job in jobs}
        deadline = time.monotonic() + timeout
        with tqdm(total=len(jobs), desc="retraining (jobs)", unit="job", file=self.stderr, disable=None) as progress:
            while pending and time.monotonic() < deadline:
                done = set(
                    Job.objects.filter(
                        pk__in=pending, status__in=[Job.Status.SUCCEEDED, Job.Status.FAILED]
                    ).values_list("pk", flat=True)
                )
                progress.update(len(done))
                pending -= done
                if pending:
                    time.sleep(1)
        return skipped + [_outcome_of(Job.objects.get(pk=job.pk)) for job in jobs]

    def _one(self, target: RetrainTarget, *, data: str | None, promote: bool, dry_run: bool) -> RetrainOutcome:
        if target.skip_reason:
            return RetrainOutcome(target.model_name, "skipped", target.production_version, message=target.skip_reason)
        if dry_run:
            source = data or (target.spec or {}).get("data") or "(no data: give --data)"
            estimator = (target.spec or {}).get("estimator")
            message = f"would retrain {estimator} on {source}"
            return RetrainOutcome(target.model_name, "dry-run", target.production_version, message=message)
        return model_retrain(target=target, data_uri=data, promote=promote)

    def _table(self, outcomes: list[RetrainOutcome]) -> None:
        header = f"{'model':<24} {'status':<9} {'prod':>5} {'cand':>5} {'metric':<9}"
        header += f" {'prod score':>10} {'cand score':>10}  note"
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for o in outcomes:
            self.stdout.write(
                f"{o.model_name:<24} {o.status:<9} {o.production_version or '-':>5} {o.candidate_version or '-':>5} "
                f"{o.metric or '-':<9} {_score(o.production_score):>10} {_score(o.candidate_score):>10}  {o.message}"
            )


def _outcome_of(job: Job) -> RetrainOutcome:
    """Return a retraining job's outcome, from its result or its error."""
    if job.status == Job.Status.SUCCEEDED and job.result and job.result.get("status") != "skipped":
        return retrain_outcome_of(job.result)
    if job.status == Job.Status.SUCCEEDED and job.result:
        return RetrainOutcome(job.model_name, "skipped", message=job.result.get("message", ""))
    if job.status == Job.Status.FAILED:
        details = (job.error or {}).get("error", {})
        return RetrainOutcome(job.model_name, "failed", message=f"job {job.pk}: {details.get('message', '')}")
    return RetrainOutcome(job.model_name, "failed", message=f"job {job.pk} still {job.status} at the timeout")


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
