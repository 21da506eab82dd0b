"""``manage.py bootstrap``: local admin user and token for a first run (used by ``make run``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from models_api.accounts import local_admin_ensure, roles_ensure
from registry.clients import mlflow_setup


class Command(BaseCommand):
    help = "Create the role groups, the local admin user and its API token if missing; print how to reach the service."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args: Any, base_url: str, **options: Any) -> None:
        token, password = local_admin_ensure()
        # The role groups exist from the start, for the admin to give to users.
        roles_ensure()
        # Create the local MLflow store and experiment now, before web and job workers race to.
        mlflow_setup()
        password_file = settings.VAR_DIR / "admin-password"
        if password:
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
        shown = (
            password_file.read_text().strip()
            if password_file.exists()
            else "(unchanged; set it with manage.py changepassword admin)"
        )
        base = base_url.rstrip("/")
        self.stdout.write(f"API docs:  {base}/docs/   (log in to the admin first)")
        self.stdout.write(f"Admin:     {base}/admin/  user admin, password {shown}")
        self.stdout.write(f"API token: {token}")
        self.stdout.write(f'Try:       curl -H "Authorization: Token {token}" {base}/health/ready')
