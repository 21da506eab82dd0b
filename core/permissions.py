"""Who may call what: each view names the one permission its operation needs (Django's auth)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request


class OperationPermission(IsAuthenticated):
    """Authenticated, and holding the view's ``required_permission`` (e.g. "predictions.predict") if it names one.

    Permissions come with the user's groups (roles: see models_api.accounts) or directly; superusers hold all.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        if not super().has_permission(request, view):
            return False
        required = getattr(view, "required_permission", None)
        if required is None or request.user.has_perm(required):
            return True
        self.message = f"This token's role may not do this (it needs the permission {required!r})."
        return False
