from django.apps import AppConfig
from django.core import checks


class ModelsAPIConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "models_api"

    def ready(self) -> None:
        from models_api.checks import check_train_param_caps

        checks.register(check_train_param_caps)
