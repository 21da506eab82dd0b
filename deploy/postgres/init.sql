-- The MLflow tracking server keeps its runs and registry in its own database.
CREATE DATABASE mlflow;
