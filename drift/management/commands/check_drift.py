"""``manage.py check_drift``: run the monitoring check now, for one or every served version (cron)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.exceptions import ApplicationError
from drift.models import DriftEvent
from drift.services import drift_check_version
from predictions.selectors import served_versions


class Command(BaseCommand):
    help = "Check stored inputs of served model versions for drift against their drift samples."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # --version selects a model version here, in place of Django's "print Django's version".
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", help="Only this registered model.")
        selection = parser.add_mutually_exclusive_group()
        selection.add_argument("--version", help="Only this version (needs --model).")
        selection.add_argument("--alias", help="Only the version this alias points at (needs --model).")
        parser.add_argument("--window", type=int, default=settings.MLSERVICE_DRIFT_MONITOR_WINDOW,
                            help="How many of the latest stored inputs to check (default %(default)s).")  # fmt: skip
        parser.add_argument("--fail-on-drift", action="store_true", help="Exit non-zero when any version drifted.")

    def handle(self, *args: Any, model: str | None, version: str | None, alias: str | None, window: int,
               fail_on_drift: bool, **options: Any) -> None:  # fmt: skip
        targets = self._targets(model, version, alias)
        if not targets:
            self.stdout.write("No served model versions to check.")
            return
        drifted = []
        for name, number in targets:
            try:
                event = drift_check_version(
                    model_name=name, model_version=number, window=window, trigger=DriftEvent.Trigger.COMMAND
                )
            except ApplicationError as exc:
                raise CommandError(f"{name} v{number}: {exc.message}") from exc
            self._summary(event)
            if event.drift_detected:
                drifted.append(f"{name} v{number}")
        if fail_on_drift and drifted:
            raise CommandError(f"Drift detected in {', '.join(drifted)}.")

    def _targets(self, model: str | None, version: str | None, alias: str | None) -> list[tuple[str, str]]:
        if (version or alias) and not model:
            raise CommandError("--version and --alias need --model.")
        if model and (version or alias):
            from registry.serving import model_version_resolve

            try:
                return [(model, model_version_resolve(name=model, version=version, alias=alias))]
            except ApplicationError as exc:
                raise CommandError(exc.message) from exc
        return [(name, number) for name, number in served_versions() if not model or name == model]

    def _summary(self, event: DriftEvent) -> None:
        self.stdout.write(f"{event.registered_model_name} v{event.model_version}: event {event.id}, "
                          f"{event.subject_rows} rows vs {event.baseline_rows} baseline rows")  # fmt: skip
        if event.status == DriftEvent.Status.INSUFFICIENT_DATA:
            self.stdout.write(f"  insufficient data: {event.message}")
            return
        for feature in event.features:
            flag = "ALERT" if feature["alert"] else "ok"
            value = "-" if feature["value"] is None else f"{feature['value']:.4f}"
            if feature.get("adjusted_p_value") is not None:
                threshold = f"p={feature['adjusted_p_value']:.4f}"
            else:
                threshold = "-" if feature["threshold"] is None else f"{feature['threshold']:.4f}"
            self.stdout.write(f"  {feature['column']:<30} {feature['method']:<20} {value:>10} / {threshold:<10} {flag}")
        for quality in event.data_quality:
            if quality["alert"]:
                self.stdout.write(f"  {quality['column']:<30} data quality: {'; '.join(quality['reasons'])}")
        verdict = "DRIFT" if event.drift_detected else "no drift"
        self.stdout.write(f"  {verdict}: {event.drifted_share:.0%} of features drifted ({event.rule})")
        self._signals(event)

    def _signals(self, event: DriftEvent) -> None:
        """Write the estimate, the prediction drift and the multivariate drift (not part of the verdict)."""
        estimate = event.estimated_performance
        if estimate and estimate.get("reason"):
            self.stdout.write(f"  estimated performance: {estimate['reason']}")
        elif estimate:
            for metric, entry in {estimate["metric"]: estimate, **estimate.get("metrics", {})}.items():
                realized = "" if entry["realized"] is None else f", realized {_number(entry['realized'])}"
                flag = "ALERT" if entry["alert"] else "ok"
                self.stdout.write(
                    f"  estimated {metric:<20} {_number(entry['value'])} (reference "
                    f"{_number(entry['reference_value'])}{realized}) {flag}"
                )
        for name, signal in (("prediction drift", event.prediction_drift), ("multivariate", event.multivariate)):
            if not signal:
                continue
            if signal.get("reason"):
                self.stdout.write(f"  {name}: {signal['reason']}")
            else:
                flag = "ALERT" if signal["alert"] else "ok"
                self.stdout.write(f"  {name:<30} {signal['method']:<20} {_number(signal['value']):>10} {flag}")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
