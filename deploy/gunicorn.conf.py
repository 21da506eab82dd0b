"""gunicorn settings for mlservice: Prometheus multiprocess metrics and sane timeouts.

gunicorn -c deploy/gunicorn.conf.py mlservice.wsgi:application
"""

import os
import shutil
from pathlib import Path

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
# Threads per worker: a POST /train, /data-drift or /evaluate waits for its job (up to MLSERVICE_TRAIN_WAIT_S,
# MLSERVICE_DRIFT_WAIT_S, MLSERVICE_EVALUATE_WAIT_S) on one thread while the others answer inference;
# bench/inference.py measures this configuration (gthread, 4 threads).
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Inference answers in milliseconds; training, drift checks and evaluations run on job workers, and a
# request waits at most its *_WAIT_S (60 s) for its job: a worker silent for longer than this is stuck.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 30
accesslog = "-"
# gunicorn 26 opens a control socket under ~/.gunicorn/ otherwise.
control_socket_disable = True


def on_starting(server):
    """Start every run with an empty Prometheus multiprocess directory (stale files skew counters)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        Path(directory).mkdir(parents=True, exist_ok=True)


def child_exit(server, worker):
    """Drop a dead worker's live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
