from django.apps import AppConfig
from django.core import checks


class ModelsAPIConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "models_api"

    def ready(self) -> None:
        from models_api.checks import check_train_param_caps

        checks.register(check_train_param_caps)
        # Drift checks run in drift, a layer below: they reach the retraining policies through the
        # hook drift offers (drift.hooks), never by importing models_api.
        from drift.hooks import retrain_hook_register
        from models_api.policies import retrain_policy_apply

        retrain_hook_register(retrain_policy_apply)
