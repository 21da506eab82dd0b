# mlservice: `make run` sets everything up and serves on embedded defaults; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
export UV_COMPILE_BYTECODE := 1
export MLFLOW_ENABLE_TELEMETRY := false
export DO_NOT_TRACK := 1
export NML_DISABLE_USAGE_LOGGING := 1
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2

.PHONY: run test fuzz install install-dev requirements lint clean

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check "uv==$$(sed -n 's/^uv==//p' requirements-dev.txt)"

# Exact pins, no resolution at install time: xgboost is left out on purpose (see requirements-excludes.txt).
install: $(UV)
	$(UV) pip sync --quiet --python $(BIN)/python requirements.txt

install-dev: $(UV)
	$(UV) pip sync --quiet --python $(BIN)/python requirements.txt requirements-dev.txt

requirements: $(UV)
	$(UV) pip compile --quiet requirements.in -o requirements.txt --python-version 3.11 \
		--excludes requirements-excludes.txt --custom-compile-command "make requirements"
	$(UV) pip compile --quiet requirements-dev.in -o requirements-dev.txt --python-version 3.11 \
		--custom-compile-command "make requirements"

run: install
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py collectstatic --no-input --verbosity 0
	$(BIN)/python manage.py bootstrap --base-url http://$(HOST):$(PORT)
	@# A Celery worker (training jobs, drift checks, and the schedule: -B) runs next to gunicorn, on a
	@# broker in local files (CELERY_BROKER_URL=redis://... to use Redis instead); it stops when gunicorn does.
	$(BIN)/celery -A mlservice worker -B --loglevel WARNING --concurrency 1 & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT; \
	PROMETHEUS_MULTIPROC_DIR=$(CURDIR)/var/prometheus GUNICORN_BIND=$(HOST):$(PORT) GUNICORN_WORKERS=$(WORKERS) \
		$(BIN)/gunicorn -c deploy/gunicorn.conf.py mlservice.wsgi:application

test: install-dev
	$(BIN)/python manage.py makemigrations --check --dry-run --settings mlservice.settings_test
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null --settings mlservice.settings_test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest --create-db

# Schemathesis with many more generated requests per operation than the test run's short pass.
fuzz: install-dev
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-300} $(BIN)/pytest --create-db tests/security/test_fuzz.py

lint: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) var
