"""``manage.py createapitoken USERNAME``: create the user if needed and print an API token."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from models_api.accounts import api_token_get_or_create


class Command(BaseCommand):
    help = "Create USERNAME if needed and print its API token alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--staff", action="store_true", help="Make the user staff (admin and API docs).")

    def handle(self, *args: Any, username: str, staff: bool, **options: Any) -> None:
        token, created = api_token_get_or_create(username=username, staff=staff)
        if created:
            self.stdout.write(f"Created user {username!r}.")
        self.stdout.write(token)
