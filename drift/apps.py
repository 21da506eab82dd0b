from django.apps import AppConfig


class DriftConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "drift"
