"""``manage.py createapitoken USERNAME``: create the user if needed and print an API token."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from models_api.accounts import ROLES, api_token_get_or_create


class Command(BaseCommand):
    help = "Create USERNAME if needed and print its API token alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--staff", action="store_true", help="Make the user staff (the admin).")
        parser.add_argument(
            "--role", choices=ROLES,
            help="inference (predict, feedback, read predictions), training (+ train, evaluate, drift checks, "
            "jobs) or operator (everything, aliases included). A new user without one is an operator.",
        )  # fmt: skip

    def handle(self, *args: Any, username: str, staff: bool, role: str | None, **options: Any) -> None:
        token, created = api_token_get_or_create(username=username, staff=staff, role=role)
        if created:
            self.stdout.write(f"Created user {username!r}.")
        if role:
            self.stdout.write(f"Role: {role}.")
        self.stdout.write(token)
