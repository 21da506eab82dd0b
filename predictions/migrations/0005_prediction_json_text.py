"""The store's inputs, predictions and probabilities become PostgreSQL ``json`` (predictions.fields).

One ALTER TABLE for the three columns, so a table with rows is rewritten once, not three times
(it holds an exclusive lock while it does: plan the upgrade of a large store for a quiet hour).
Other databases keep their text columns; only Django's state changes there.
"""

from django.db import migrations

import predictions.fields

COLUMNS = ("inputs", "prediction", "probabilities")


def _alter_columns(to_type: str):
    def alter(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        clauses = ", ".join(f'ALTER COLUMN "{column}" TYPE {to_type}' for column in COLUMNS)
        schema_editor.execute(f'ALTER TABLE "predictions_prediction" {clauses}')

    return alter


class Migration(migrations.Migration):
    dependencies = [
        ("predictions", "0004_partition_by_time"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="prediction", name="inputs", field=predictions.fields.JSONTextField()
                ),
                migrations.AlterField(
                    model_name="prediction", name="prediction", field=predictions.fields.JSONTextField()
                ),
                migrations.AlterField(
                    model_name="prediction",
                    name="probabilities",
                    field=predictions.fields.JSONTextField(blank=True, null=True),
                ),
            ],
            database_operations=[
                migrations.RunPython(_alter_columns("json"), reverse_code=_alter_columns("jsonb")),
            ],
        ),
    ]
