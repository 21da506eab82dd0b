"""A daemon thread per process for work kept off the request path."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable


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
