"""mlservice: the Django project (settings, URLs, shared helpers) and its Celery app."""

from mlservice.celery import app as celery_app

__all__ = ("celery_app",)
