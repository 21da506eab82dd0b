"""WSGI entry point for gunicorn."""

import os

# A web worker is one of several processes sharing the cores: OpenMP threads inside one (scikit-learn's
# HistGradientBoosting predict, BLAS) only fight the others. Measured on 2 busy cores, one row through
# a HistGradientBoosting pipeline: 124 ms wall / 24 ms CPU with the default threads, 11 ms / 5 ms with one.
# Set before NumPy or scikit-learn load; training runs on the job workers, which keep the default.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from django.core.wsgi import get_wsgi_application

from core.memory import serving_process_freeze

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlservice.settings")

application = get_wsgi_application()

# Everything imported so far lives as long as the worker: out of the garbage collector's way (core.memory).
serving_process_freeze()
