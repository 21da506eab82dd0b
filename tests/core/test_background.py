"""The two-stage pipeline: items consumed in order in a thread of their own, memory bounded, either side failing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from django.db import connection

from core.background import pipelined
from predictions.models import Prediction


def numbers(count: int, log: list[str], *, fail_at: int | None = None) -> Iterator[int]:
    try:
        for number in range(count):
            if number == fail_at:
                raise ValueError(f"no item {number}")
            log.append(f"produced {number}")
            yield number
    finally:
        log.append("closed")


def test_every_item_is_consumed_in_order_in_another_thread():
    consumed: list[tuple[int, str]] = []

    pipelined(numbers(50, []), consume=lambda item: consumed.append((item, threading.current_thread().name)),
              name="consumer")  # fmt: skip

    assert [item for item, _ in consumed] == list(range(50))
    assert {thread for _, thread in consumed} == {"consumer"}


def test_production_stays_at_most_depth_items_ahead_of_the_consumer():
    log: list[str] = []
    ahead: list[int] = []

    def slow(item: int) -> None:
        time.sleep(0.005)
        produced = sum(entry.startswith("produced") for entry in log)
        ahead.append(produced - item)
        log.append(f"consumed {item}")

    pipelined(numbers(40, log), consume=slow, depth=2, name="consumer")

    # While item N is consumed: N+1 and N+2 wait in the queue, N+3 may be in the making.
    assert max(ahead) <= 4
    assert sorted(ahead)[len(ahead) // 2] >= 2  # and it does run ahead


def test_a_failing_producer_has_what_it_produced_consumed_then_its_error_raised():
    consumed: list[int] = []

    with pytest.raises(ValueError, match="no item 7"):
        pipelined(numbers(20, [], fail_at=7), consume=consumed.append, name="consumer")

    assert consumed == list(range(7))


def test_a_failing_consumer_stops_production_and_its_error_is_raised():
    log: list[str] = []

    def consume(item: int) -> None:
        if item == 3:
            raise RuntimeError("the store refused item 3")

    with pytest.raises(RuntimeError, match="item 3"):
        pipelined(numbers(1_000, log), consume=consume, name="consumer")

    produced = sum(entry.startswith("produced") for entry in log)
    assert produced < 10  # stopped a few items after the failure, not at the end
    assert log[-1] == "closed"  # the producer was closed (a query's connection is released)


@pytest.mark.django_db(transaction=True)
def test_the_consuming_threads_database_connection_is_closed_when_it_ends():
    def backends() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            return cursor.fetchone()[0]

    before = backends()

    pipelined(numbers(3, []), consume=lambda item: Prediction.objects.count(), name="consumer")

    deadline = time.monotonic() + 5
    while backends() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert backends() == before
