"""Users and API tokens (thin wrappers around Django auth and DRF's token model)."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework.authtoken.models import Token


@transaction.atomic
def api_token_get_or_create(*, username: str, staff: bool = False) -> tuple[str, bool]:
    """Return (token key, whether the user was created) for ``username``."""
    user, created = get_user_model().objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
    if staff and not user.is_staff:
        user.is_staff = True
    if created or staff:
        user.save()
    token, _ = Token.objects.get_or_create(user=user)
    return token.key, created


@transaction.atomic
def local_admin_ensure(*, username: str = "admin") -> tuple[str, str | None]:
    """Return (token, password) for the local superuser; the password only when just created."""
    User = get_user_model()
    password = None
    user = User.objects.filter(username=username).first()
    if user is None:
        password = secrets.token_urlsafe(12)
        user = User.objects.create_superuser(username=username, email="", password=password)
    token, _ = Token.objects.get_or_create(user=user)
    return token.key, password
