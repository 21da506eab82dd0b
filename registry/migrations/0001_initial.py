# The Run and ModelVersion mirrors moved here from models_api (the registry layer, below every
# app that records runs or resolves versions). Their tables keep their names: state only.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('models_api', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='Run',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('kind', models.CharField(choices=[('train', 'train'), ('infer', 'infer'), ('eval', 'eval'), ('drift', 'drift')], max_length=10)),
                        ('status', models.CharField(choices=[('running', 'running'), ('succeeded', 'succeeded'), ('failed', 'failed')], default='running', max_length=10)),
                        ('run_name', models.CharField(max_length=200, unique=True)),
                        ('mlflow_run_id', models.CharField(blank=True, db_index=True, default='', max_length=64)),
                        ('mlflow_experiment_id', models.CharField(blank=True, default='', max_length=64)),
                        ('registered_model_name', models.CharField(blank=True, default='', max_length=100)),
                        ('model_version', models.CharField(blank=True, default='', max_length=20)),
                        ('params', models.JSONField(blank=True, default=dict)),
                        ('metrics', models.JSONField(blank=True, default=dict)),
                        ('error', models.TextField(blank=True, default='')),
                        ('traceback', models.TextField(blank=True, default='')),
                        ('started_at', models.DateTimeField()),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        'db_table': 'models_api_run',
                        'ordering': ['-started_at'],
                        'indexes': [models.Index(fields=['kind', 'status', '-started_at'], name='run_kind_status_started'), models.Index(fields=['registered_model_name', 'model_version'], name='run_model_version')],
                    },
                ),
                migrations.CreateModel(
                    name='ModelVersion',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('registered_model_name', models.CharField(max_length=100)),
                        ('version', models.CharField(max_length=20)),
                        ('drift_sample_id', models.UUIDField(blank=True, null=True)),
                        ('estimator', models.CharField(blank=True, default='', max_length=100)),
                        ('aliases', models.JSONField(blank=True, default=list)),
                        ('metrics', models.JSONField(blank=True, default=dict)),
                        ('run', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='registry.run')),
                    ],
                    options={
                        'db_table': 'models_api_modelversion',
                        'ordering': ['registered_model_name', '-created_at'],
                        'constraints': [models.UniqueConstraint(fields=('registered_model_name', 'version'), name='modelversion_name_version_unique')],
                    },
                ),
            ],
        ),
    ]
