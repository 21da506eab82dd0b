"""Threads: a daemon thread per process for work kept off the request path, and a two-stage pipeline."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from django.db import connections

T = TypeVar("T")


class ProcessThread:
    """Start ``target`` in a daemon thread on first use in each process (again after a fork).

    gunicorn forks its workers from a parent that may have imported everything: a thread started
    before the fork does not exist in the child, so the thread is (re)started lazily per pid.
    """

    def __init__(self, target: Callable[[], None], name: str):
        self._target = target
        self._name = name
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def ensure(self) -> None:
        """Start the thread unless it already runs in this process."""
        if self._running():
            return
        with self._lock:
            if self._running():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._target, name=self._name, daemon=True)
            self._thread.start()

    def _running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._pid == os.getpid()


_END = object()


def pipelined(produced: Iterator[T], *, consume: Callable[[T], None], depth: int = 1, name: str) -> None:
    """Consume every item of ``produced`` in order in a thread of its own, while this thread produces the next.

    Two stages overlap: this thread produces item N+1 while the consuming thread consumes item N
    (work that waits on I/O, such as a COPY, releases the GIL). At most ``depth`` produced items
    wait between them, so memory stays bounded. When producing raises, the items produced before
    are still consumed, then the exception is raised here; when ``consume`` raises, production
    stops (``produced`` is closed) and that exception is raised here. The consuming thread's
    database connections are closed when it ends.
    """
    consumer = _Consumer(consume, depth=depth, name=name)
    consumer.start()
    try:
        for item in produced:
            if consumer.error is not None:
                break
            consumer.items.put(item)
    except BaseException:
        consumer.finish()
        raise
    finally:
        close = getattr(produced, "close", None)
        if close is not None:
            close()
    consumer.finish()
    if consumer.error is not None:
        raise consumer.error


class _Consumer(threading.Thread, Generic[T]):
    """The consuming stage of ``pipelined``: consumes queued items in order until the end mark."""

    def __init__(self, consume: Callable[[T], None], *, depth: int, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.items: queue.Queue[object] = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self._consume = consume

    def run(self) -> None:
        try:
            while (item := self.items.get()) is not _END:
                if self.error is None:  # after a failure, items are only drained: the producer never blocks
                    try:
                        self._consume(item)  # type: ignore[arg-type]
                    except BaseException as exc:
                        self.error = exc
        finally:
            connections.close_all()  # this thread's connections only

    def finish(self) -> None:
        """Wait until every queued item is consumed (or drained after a failure) and the thread has ended."""
        self.items.put(_END)
        self.join()
