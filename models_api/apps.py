from django.apps import AppConfig


class ModelsAPIConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "models_api"
