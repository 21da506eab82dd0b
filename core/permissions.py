"""Who may call what: each view names the one permission its operation needs (Django's auth)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request

from core.authentication import HELD_PERMISSIONS, model_backend_only, permission_grants


class OperationPermission(IsAuthenticated):
    """Authenticated, and holding the view's ``required_permission`` (e.g. "predictions.predict") if it names one.

    Permissions come with the user's groups (roles: see models_api.accounts) or directly; superusers hold all.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        if not super().has_permission(request, view):
            return False
        required = getattr(view, "required_permission", None)
        if required is None or user_holds(request.user, required):
            return True
        self.message = f"This token's role may not do this (it needs the permission {required!r})."
        return False


def user_holds(user: Any, permission: str) -> bool:
    """Return ``user.has_perm(permission)``, in one indexed EXISTS query when Django's ModelBackend is the only backend.

    ``has_perm`` loads every permission of the user and of their groups (two queries with joins,
    ~6 ms of a single-row /inference's ~15 ms here) to test one; this asks for that one, unless the
    token's query already did (core.authentication). Same answer: inactive users hold nothing,
    superusers everything.
    """
    if not model_backend_only():
        return bool(user.has_perm(permission))
    if not user.is_active:
        return False
    if user.is_superuser:
        return True
    held = getattr(user, HELD_PERMISSIONS, {})
    if permission in held:
        return bool(held[permission])
    return permission_grants(user, permission).exists()
