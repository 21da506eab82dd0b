"""Users, roles and API tokens (thin wrappers around Django auth and DRF's token model).

A role is a Django group holding the permissions of the operations it may call (each view names
the one it needs: core.permissions). Roles build on each other:

- inference: predict, send feedback, read predictions and the registered models;
- training: that, plus train, evaluate, score in batch, check drift, read jobs, runs, drift events and
  retraining policies;
- operator: everything on the service's own models, aliases (promotion) and retraining policies included.
"""

from __future__ import annotations

import secrets

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from rest_framework.authtoken.models import Token

INFERENCE, TRAINING, OPERATOR = "inference", "training", "operator"
ROLES = (INFERENCE, TRAINING, OPERATOR)
ROLE_PERMISSIONS = {
    INFERENCE: ["predictions.predict", "predictions.give_feedback", "predictions.view_prediction",
                "registry.view_modelversion"],
    TRAINING: ["models_api.train", "models_api.evaluate", "models_api.score", "models_api.view_job",
               "drift.check_drift", "drift.view_driftevent", "drift.view_driftsample", "registry.view_run",
               "models_api.view_retrainpolicy"],
}  # fmt: skip
SERVICE_APPS = ("registry", "predictions", "drift", "models_api")


@transaction.atomic
def roles_ensure() -> dict[str, Group]:
    """Create or update the role groups with their permissions (idempotent)."""
    for label in SERVICE_APPS:
        create_permissions(apps.get_app_config(label), verbosity=0)
    granted: list[str] = []
    groups = {}
    for role in ROLES:
        if role == OPERATOR:
            permissions = list(Permission.objects.filter(content_type__app_label__in=SERVICE_APPS))
        else:
            granted += ROLE_PERMISSIONS[role]
            permissions = [_permission(name) for name in granted]
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(permissions)
        groups[role] = group
    return groups


def _permission(name: str) -> Permission:
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


@transaction.atomic
def api_token_get_or_create(*, username: str, staff: bool = False, role: str | None = None) -> tuple[str, bool]:
    """Return (token key, whether the user was created) for ``username``, in ``role`` when given.

    A new user without a role gets "operator", what every token could do before roles existed.
    """
    user, created = get_user_model().objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
    if staff and not user.is_staff:
        user.is_staff = True
    if created or staff:
        user.save()
    if role is not None or created:
        groups = roles_ensure()
        user.groups.remove(*groups.values())
        user.groups.add(groups[role or OPERATOR])
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
