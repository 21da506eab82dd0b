from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created


def json_columns_as_text(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Have psycopg hand ``json`` columns over as text, as Django has it do for ``jsonb``.

    The store's JSONTextField columns are ``json`` (predictions.fields): parsed by psycopg, a
    stored label "1" would come back as the string "1" and Django would parse it again into 1.
    """
    if connection.vendor == "postgresql":
        from psycopg.types.string import TextLoader

        connection.connection.adapters.register_loader("json", TextLoader)


class PredictionsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "predictions"

    def ready(self) -> None:
        connection_created.connect(json_columns_as_text, dispatch_uid="predictions.json_columns_as_text")
