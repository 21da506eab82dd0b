"""Notifications beside Grafana: a JSON event POSTed to an optional webhook, from a job worker, with retries.

Events: ``drift_detected`` and ``estimated_performance_alert`` (drift checks), ``retrain_finished``
(retrain jobs, promoted or not, failed included). ``notification_send`` only queues the event,
after the current transaction commits (a receiver never hears of a check or job that was rolled
back), and never raises; the POST happens on a Celery worker (``webhook_post``), retried with
exponential backoff when the receiver is down or answers an error. Nothing here runs on the
request path but the enqueue, and nothing at all when MLSERVICE_ALERT_WEBHOOK_URL is unset.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
from functools import partial
from typing import Any

from celery import current_app, shared_task
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

WEBHOOK_TASK = "mlservice.notify_webhook"
DRIFT_DETECTED = "drift_detected"
ESTIMATED_PERFORMANCE_ALERT = "estimated_performance_alert"
RETRAIN_FINISHED = "retrain_finished"
SIGNATURE_HEADER = "X-Mlservice-Signature"


class WebhookFailed(Exception):
    """The receiver answered with an error status (retried)."""


def notification_send(*, event: str, payload: dict[str, Any]) -> bool:
    """Queue ``{"event": event, "occurred_at": ..., **payload}`` for the webhook once the transaction commits.

    Return whether a webhook is configured. A broker that is down costs this notification (logged),
    never the caller's work.
    """
    if not settings.MLSERVICE_ALERT_WEBHOOK_URL:
        return False
    body = json.loads(json.dumps({"event": event, "occurred_at": timezone.now(), **payload}, cls=DjangoJSONEncoder))
    transaction.on_commit(partial(_enqueue, body))
    return True


def _enqueue(body: dict[str, Any]) -> None:
    try:
        current_app.send_task(WEBHOOK_TASK, args=[body])
    except Exception:  # kombu raises its own and socket errors when the broker is down
        logger.exception("Could not queue the %s notification", body.get("event"))


@shared_task(
    name=WEBHOOK_TASK,
    autoretry_for=(WebhookFailed, urllib.error.URLError, OSError),
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=settings.MLSERVICE_ALERT_WEBHOOK_MAX_RETRIES,
    ignore_result=True,
)
def webhook_post(body: dict[str, Any]) -> int:
    """POST one event to MLSERVICE_ALERT_WEBHOOK_URL; an error status or no answer is retried."""
    url = settings.MLSERVICE_ALERT_WEBHOOK_URL
    if not url:
        return 0
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "mlservice-webhook"}
    if settings.MLSERVICE_ALERT_WEBHOOK_SECRET:
        digest = hmac.new(settings.MLSERVICE_ALERT_WEBHOOK_SECRET.encode(), data, hashlib.sha256).hexdigest()
        headers[SIGNATURE_HEADER] = f"sha256={digest}"
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")  # noqa: S310 (http(s) only: settings)
    try:
        with urllib.request.urlopen(request, timeout=settings.MLSERVICE_ALERT_WEBHOOK_TIMEOUT_S) as response:  # noqa: S310
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        raise WebhookFailed(f"{body.get('event')}: the webhook answered {exc.code}") from exc
    logger.info("Webhook: %s delivered (%s)", body.get("event"), status)
    return status
