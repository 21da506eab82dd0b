# The Run and ModelVersion mirrors moved to the registry app, tables and all: state only.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('models_api', '0001_initial'),
        ('registry', '0001_initial'),
        ('drift', '0003_runs_in_registry'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name='ModelVersion'),
                migrations.DeleteModel(name='Run'),
            ],
        ),
    ]
