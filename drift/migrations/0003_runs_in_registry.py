# The Run mirror moved to the registry app: the foreign keys follow it (the table is the same).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('drift', '0002_drift_tests_and_data_quality'),
        ('registry', '0001_initial'),
    ]

    operations = [
        migrations.AlterField(
            model_name='driftevent',
            name='run',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='registry.run'),
        ),
        migrations.AlterField(
            model_name='driftsample',
            name='run',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='registry.run'),
        ),
    ]
