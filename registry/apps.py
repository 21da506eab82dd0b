from django.apps import AppConfig


class RegistryConfig(AppConfig):
    """The registry layer: MLflow's client, the Run and ModelVersion mirrors, version resolution, model loading."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "registry"
