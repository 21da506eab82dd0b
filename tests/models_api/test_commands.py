"""Management commands: createapitoken and train."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db


def run_command(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_createapitoken_creates_the_user_and_prints_the_key_last():
    output = run_command("createapitoken", "alice")

    key = output.strip().splitlines()[-1]
    assert Token.objects.get(key=key).user.username == "alice"


def test_createapitoken_twice_prints_the_same_key():
    first = run_command("createapitoken", "bob").strip().splitlines()[-1]
    second = run_command("createapitoken", "bob").strip().splitlines()[-1]

    assert first == second


def test_created_token_authenticates_api_calls(anonymous_client):
    key = run_command("createapitoken", "carol").strip().splitlines()[-1]
    anonymous_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    response = anonymous_client.post("/train", {}, format="json")

    assert response.status_code == 400


def test_train_command_takes_the_train_body(tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"model_name": "cli-iris", "data": {"builtin": "iris"}, "params": {"n_estimators": 2}}))

    body = json.loads(run_command("train", "--spec", str(spec)))

    assert body["status"] == "success"
    assert body["registered_model_name"] == "cli-iris"
    assert body["aliases"] == ["production"]


def test_train_command_fails_clearly_on_a_bad_spec(tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"model_name": "cli-bad", "data": {"builtin": "iris"}, "estimator": "Nope"}))

    with pytest.raises(CommandError, match="estimator"):
        run_command("train", "--spec", str(spec))


def test_train_command_fails_clearly_on_a_training_error(tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"model_name": "cli-bad", "data": {"builtin": "iris"}, "target": "nope"}))

    with pytest.raises(CommandError, match="target"):
        run_command("train", "--spec", str(spec))


def test_train_command_reports_an_unreadable_spec(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        run_command("train", "--spec", str(tmp_path / "missing.json"))
