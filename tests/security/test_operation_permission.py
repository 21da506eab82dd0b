"""core.permissions.user_holds: the same answer as Django's has_perm, for every kind of user."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User

from core.permissions import user_holds

pytestmark = pytest.mark.django_db

PREDICT = "predictions.predict"


def permission(name: str) -> Permission:
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def users() -> dict[str, User]:
    group = Group.objects.create(name="predictors")
    group.permissions.add(permission(PREDICT))
    made = {
        "none": User.objects.create_user("none"),
        "direct": User.objects.create_user("direct"),
        "by-group": User.objects.create_user("by-group"),
        "inactive": User.objects.create_user("inactive", is_active=False),
        "superuser": User.objects.create_superuser("root"),
        "other-permission": User.objects.create_user("other"),
    }
    made["direct"].user_permissions.add(permission(PREDICT))
    made["by-group"].groups.add(group)
    made["inactive"].groups.add(group)
    made["other-permission"].user_permissions.add(permission("predictions.give_feedback"))
    return made


def test_user_holds_answers_as_has_perm_for_every_kind_of_user():
    for name, user in users().items():
        fresh = User.objects.get(pk=user.pk)  # no permission cache from set-up
        expected = fresh.has_perm(PREDICT)
        assert user_holds(User.objects.get(pk=user.pk), PREDICT) is expected, name
    assert {name for name, user in users_by_name().items() if user_holds(user, PREDICT)} == {
        "direct",
        "by-group",
        "root",
    }


def users_by_name() -> dict[str, User]:
    return {user.username: user for user in User.objects.all()}
