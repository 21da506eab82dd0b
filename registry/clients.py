"""The MLflow wrapper: every call the service makes to tracking and the model registry.

MLflow is imported lazily (~1.6 s), so commands and workers that don't need it start fast.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from django.conf import settings

from core.exceptions import NotFound, dependency_errors

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_state: dict[str, Any] = {"uri": None, "experiment_id": None, "autolog": False}
REMOTE_SCHEMES = ("http", "https", "databricks")
# Module prefixes a logged model may hold; skops refuses to load anything else.
TRUSTED_TYPE_PREFIXES = ("sklearn.", "numpy.", "scipy.")


def _is_local_store(uri: str) -> bool:
    return urlparse(uri).scheme not in REMOTE_SCHEMES


def mlflow_unavailable(exc: BaseException) -> bool:
    """Return whether ``exc`` means MLflow could not be reached (as opposed to a bad request)."""
    import requests
    import sqlalchemy.exc
    from mlflow.exceptions import MlflowException

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
            return True
        if isinstance(seen, sqlalchemy.exc.OperationalError):
            return True
        if isinstance(seen, MlflowException):
            text = str(seen)
            if seen.error_code == "TEMPORARILY_UNAVAILABLE" or "Max retries exceeded" in text:
                return True
            if "API request to" in text and "failed with exception" in text:
                return True
        seen = seen.__cause__ or seen.__context__
    return False


def mlflow_errors(action: str) -> AbstractContextManager[None]:
    """Turn 'MLflow is unreachable' during ``action`` into DependencyUnavailable (503)."""
    return dependency_errors("mlflow", action, is_down=mlflow_unavailable)


def mlflow_setup() -> str:
    """Point MLflow at the configured store once per process and return the experiment id."""
    import mlflow

    uri = settings.MLFLOW_TRACKING_URI
    with _lock:
        if _state["uri"] == uri and _state["experiment_id"]:
            return _state["experiment_id"]
        _state.update(uri=None, experiment_id=None)
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        with mlflow_errors("connecting to the tracking store"):
            experiment_id = _experiment_get_or_create(uri)
        _state.update(uri=uri, experiment_id=experiment_id)
        return experiment_id


def _experiment_get_or_create(uri: str) -> str:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    name = settings.MLFLOW_EXPERIMENT_NAME
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    artifact_location = None
    if _is_local_store(uri):
        root = Path(settings.MLFLOW_ARTIFACT_ROOT)
        root.mkdir(parents=True, exist_ok=True)
        artifact_location = root.resolve().as_uri()
    try:
        return client.create_experiment(name, artifact_location=artifact_location)
    except MlflowException:
        # Another process created it first.
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def autolog_enable() -> None:
    """Turn scikit-learn autologging on once per process (params and training metrics).

    Models are logged explicitly instead (signature, input example, trusted skops types), and
    post-training metrics are computed by the service itself on the validation split.
    """
    import mlflow.sklearn

    with _lock:
        if _state["autolog"]:
            return
        mlflow.sklearn.autolog(
            log_models=False,
            log_datasets=False,
            log_post_training_metrics=False,
            silent=True,
        )
        _state["autolog"] = True


@contextmanager
def mlflow_run(*, run_name: str, tags: dict[str, str]) -> Iterator[tuple[str, str]]:
    """Start an MLflow run in this thread and yield (run_id, experiment_id); FAILED if the body raises."""
    import mlflow

    experiment_id = mlflow_setup()
    with mlflow_errors("starting a run"):
        active = mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags)
    try:
        yield active.info.run_id, experiment_id
    except BaseException as exc:
        _run_end_failed(exc)
        raise
    else:
        with mlflow_errors("finishing the run"):
            mlflow.end_run(status="FINISHED")


def _run_end_failed(exc: BaseException) -> None:
    """Mark the active run FAILED with the error in a tag; never mask the original error."""
    import mlflow

    try:
        mlflow.set_tag("error", f"{type(exc).__name__}: {exc}"[:5000])
    except Exception:
        logger.warning("Could not tag the failed MLflow run", exc_info=True)
    try:
        mlflow.end_run(status="FAILED")
    except Exception:
        logger.warning("Could not mark the MLflow run FAILED", exc_info=True)
        # Drop the thread's dangling active run so the next request can start its own.
        while mlflow.active_run() is not None:
            mlflow.tracking.fluent._active_run_stack.get().pop()


def run_terminate_failed(*, run_id: str, error: str) -> None:
    """Mark a run that its process can no longer end (it was killed) FAILED, with the error in a tag."""
    from mlflow import MlflowClient

    with mlflow_errors("failing a run"):
        client = MlflowClient()
        client.set_tag(run_id, "error", error[:5000])
        client.set_terminated(run_id, status="FAILED")


def metrics_log(metrics: dict[str, float]) -> None:
    import mlflow

    with mlflow_errors("logging metrics"):
        mlflow.log_metrics(metrics)


def params_log(params: dict[str, Any]) -> None:
    import mlflow

    with mlflow_errors("logging params"):
        mlflow.log_params({key: str(value)[:6000] for key, value in params.items()})


def run_metrics(run_id: str) -> dict[str, float]:
    """Return every metric of a run (autologged and explicit)."""
    from mlflow import MlflowClient

    with mlflow_errors("reading run metrics"):
        return dict(MlflowClient().get_run(run_id).data.metrics)


def trusted_types(model: Any) -> list[str]:
    """Return the types skops must trust to load ``model``; refuse any outside scikit-learn/NumPy/SciPy."""
    import skops.io

    types = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    foreign = [name for name in types if not name.startswith(TRUSTED_TYPE_PREFIXES)]
    if foreign:
        raise ValueError(f"the model holds types outside scikit-learn: {', '.join(foreign)}")
    return types


def model_log(*, model: Any, input_example: Any, signature: Any) -> str:
    """Log ``model`` to the active run with skops serialisation and return its model URI.

    skops instead of pickle: loading runs no arbitrary code, only the listed trusted types.
    Requirements are given, not inferred, which would load the model in a subprocess.
    """
    import mlflow.sklearn
    import numpy
    import pandas
    import sklearn
    import skops

    requirements = [
        f"scikit-learn=={sklearn.__version__}",
        f"skops=={skops.__version__}",
        f"pandas=={pandas.__version__}",
        f"numpy=={numpy.__version__}",
    ]
    with mlflow_errors("logging the model"):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature,
            input_example=input_example,
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
            skops_trusted_types=trusted_types(model),
            pip_requirements=requirements,
        )
    return info.model_uri


def model_register(*, model_uri: str, name: str, tags: dict[str, str]) -> str:
    """Register ``model_uri`` as a new version of ``name`` carrying ``tags``; return the version."""
    import mlflow

    with mlflow_errors("registering the model"):
        version = mlflow.register_model(model_uri=model_uri, name=name, tags=tags, await_registration_for=60)
    return str(version.version)


def model_version_delete(*, name: str, version: str) -> None:
    """Delete a registered version (compensation after a failed training)."""
    from mlflow import MlflowClient

    with mlflow_errors("deleting a model version"):
        MlflowClient().delete_model_version(name=name, version=version)


def alias_set(*, name: str, alias: str, version: str) -> None:
    from mlflow import MlflowClient

    mlflow_setup()
    with registry_lookup(f"version {version} of model {name!r}"):
        MlflowClient().set_registered_model_alias(name=name, alias=alias, version=version)


def version_aliases(*, name: str, version: str) -> list[str]:
    from mlflow import MlflowClient

    with mlflow_errors("reading aliases"):
        return list(MlflowClient().get_model_version(name=name, version=version).aliases)


def mlflow_ping() -> None:
    """Raise DependencyUnavailable unless the tracking store answers."""
    from mlflow import MlflowClient

    mlflow_setup()
    with mlflow_errors("searching experiments"):
        MlflowClient().search_experiments(max_results=1)


def run_url(*, experiment_id: str, run_id: str) -> str:
    """Return the run's page in the MLflow UI, or '' when MLFLOW_UI_URL is not set."""
    base = settings.MLFLOW_UI_URL.rstrip("/")
    if not (base and experiment_id and run_id):
        return ""
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"


@contextmanager
def registry_lookup(what: str) -> Iterator[None]:
    """Turn 'no such model, version or alias' into NotFound (404); unreachable MLflow into 503."""
    from mlflow.exceptions import MlflowException

    try:
        with mlflow_errors(f"looking up {what}"):
            yield
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND") or "not found" in str(exc).lower():
            raise NotFound(f"No {what}.", details={"model": [f"no {what}"]}) from exc
        raise


def version_by_alias(*, name: str, alias: str) -> str:
    """Return the version ``alias`` points at."""
    from mlflow import MlflowClient

    mlflow_setup()
    with registry_lookup(f"alias {alias!r} on model {name!r}"):
        return str(MlflowClient().get_model_version_by_alias(name=name, alias=alias).version)


def latest_version(*, name: str) -> str:
    """Return the highest version number of ``name``."""
    from mlflow import MlflowClient

    mlflow_setup()
    with registry_lookup(f"model {name!r}"):
        versions = MlflowClient().search_model_versions(f"name='{name}'", max_results=1000)
    if not versions:
        raise NotFound(f"No model {name!r}.", details={"model_name": [f"no registered model {name!r}"]})
    return str(max(int(version.version) for version in versions))


def model_version_get(*, name: str, version: str) -> Any:
    """Return the registry entry of a version (tags, aliases, run id)."""
    from mlflow import MlflowClient

    mlflow_setup()
    with registry_lookup(f"version {version} of model {name!r}"):
        return MlflowClient().get_model_version(name=name, version=version)


def pyfunc_load(*, name: str, version: str) -> Any:
    """Load a registered version as a pyfunc model (skops, with the types trusted at logging)."""
    import mlflow.pyfunc

    mlflow_setup()
    with registry_lookup(f"version {version} of model {name!r}"):
        return mlflow.pyfunc.load_model(f"models:/{name}/{version}")


def model_metadata_load(*, name: str, version: str) -> Any:
    """Return a registered version's MLmodel (flavors, signature) without loading the model itself."""
    from mlflow.models import Model

    mlflow_setup()
    with registry_lookup(f"version {version} of model {name!r}"):
        return Model.load(f"models:/{name}/{version}")


def schema_enforce(*, input_schema: Any, params_schema: Any, loader_module: str, frame: Any) -> Any:
    """Return ``frame`` checked and cast against the model's signature, as ``pyfunc.predict`` does first.

    For a model predicted without ``pyfunc.predict`` (its compiled graph, or its pipeline called
    directly): the same checks and the same MlflowException naming a mistyped column. MLflow has
    no public name for this step; the pin in requirements.txt keeps it, and a test runs it.
    """
    from mlflow.pyfunc import _validate_prediction_input

    data, _ = _validate_prediction_input(frame, None, input_schema, params_schema, loader_module)
    return data


def model_artifact_read(*, name: str, version: str, path: str) -> bytes | None:
    """Return the bytes of the file ``path`` inside a registered version's model, or None if it has none."""
    import tempfile

    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    mlflow_setup()
    with tempfile.TemporaryDirectory(prefix="mlservice-artifact-") as directory:
        with mlflow_errors(f"downloading {path} of {name} v{version}"):
            try:
                local = mlflow.artifacts.download_artifacts(
                    artifact_uri=f"models:/{name}/{version}/{path}", dst_path=directory
                )
            except MlflowException as exc:
                if mlflow_unavailable(exc):
                    raise
                logger.info("%s v%s has no %s: %s", name, version, path, exc)
                return None
        return Path(local).read_bytes()


def logged_model_id(model_uri: str) -> str:
    """Return the LoggedModel id of a ``models:/m-...`` URI (what model_log returns, a version's source)."""
    prefix = "models:/"
    model_id = model_uri.removeprefix(prefix).strip("/")
    if not model_uri.startswith(prefix) or not model_id.startswith("m-") or "/" in model_id:
        raise ValueError(f"{model_uri!r} is not a logged model's URI")
    return model_id


def logged_model_artifacts_log(*, model_uri: str, local_dir: str, artifact_path: str) -> None:
    """Add the files of ``local_dir`` to a logged model, under ``artifact_path`` (its flavors are untouched)."""
    from mlflow import MlflowClient

    model_id = logged_model_id(model_uri)
    mlflow_setup()
    with mlflow_errors("logging model artifacts"):
        MlflowClient().log_model_artifacts(model_id, local_dir, artifact_path)


def model_version_tag_set(*, name: str, version: str, key: str, value: str) -> None:
    from mlflow import MlflowClient

    mlflow_setup()
    with registry_lookup(f"version {version} of model {name!r}"):
        MlflowClient().set_model_version_tag(name=name, version=version, key=key, value=value)


def run_log_finished(
    *,
    run_name: str,
    started_at: Any,
    ended_at: Any,
    params: dict[str, str],
    metrics: dict[str, float],
    tags: dict[str, str],
) -> str:
    """Log a whole, finished run in three calls (from a background thread: no fluent API)."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    experiment_id = mlflow_setup()
    client = MlflowClient()
    start_ms, end_ms = int(started_at.timestamp() * 1000), int(ended_at.timestamp() * 1000)
    with mlflow_errors("logging an inference run"):
        run = client.create_run(experiment_id, start_time=start_ms, tags=tags, run_name=run_name)
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(key, value, end_ms, 0) for key, value in metrics.items()],
            params=[Param(key, value) for key, value in params.items()],
        )
        client.set_terminated(run.info.run_id, status="FINISHED", end_time=end_ms)
    return run.info.run_id


def registered_models() -> list[Any]:
    from mlflow import MlflowClient

    mlflow_setup()
    with mlflow_errors("listing registered models"):
        return list(MlflowClient().search_registered_models(max_results=1000))


def registered_model(*, name: str) -> Any:
    from mlflow import MlflowClient

    mlflow_setup()
    with registry_lookup(f"model {name!r}"):
        return MlflowClient().get_registered_model(name)


def model_versions(*, name: str) -> list[Any]:
    from mlflow import MlflowClient

    mlflow_setup()
    with mlflow_errors("listing model versions"):
        return list(MlflowClient().search_model_versions(f"name='{name}'", max_results=10000))


def alias_delete(*, name: str, alias: str) -> None:
    from mlflow import MlflowClient

    mlflow_setup()
    with registry_lookup(f"alias {alias!r} on model {name!r}"):
        MlflowClient().get_model_version_by_alias(name=name, alias=alias)
        MlflowClient().delete_registered_model_alias(name=name, alias=alias)


def versions_tagged(*, name: str, key: str, value: str) -> list[Any]:
    """Return the versions of ``name`` carrying tag ``key`` = ``value``."""
    from mlflow import MlflowClient

    mlflow_setup()
    with mlflow_errors("searching model versions"):
        versions = MlflowClient().search_model_versions(f"name='{name}'", max_results=10000)
    return [version for version in versions if version.tags.get(key) == value]
