"""Pieces of the apps' FilterSets: one declaration filters the API, documents its schema and filters the admin.

The query parameters keep the contract the list endpoints had with serializers: a bad value is a
400 naming the parameter, a given but blank one too (booleans excepted: blank there means "any").
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db.models import Model, QuerySet
from drf_spectacular.utils import extend_schema_field
from rest_framework.fields import BooleanField as DRFBooleanField

from core.naming import MODEL_NAME_PATTERN, MODEL_VERSION_PATTERN

BLANK_MESSAGE = "This field may not be blank."
M = TypeVar("M", bound=Model)


class StrictBooleanField(forms.Field):
    """A boolean in DRF's spellings (true/false, 1/0, yes/no, on/off); blank or null is no filter."""

    default_error_messages = {"invalid": "Must be a valid boolean."}

    def to_python(self, value: Any) -> bool | None:
        if isinstance(value, str):
            value = value.strip()
        if value in DRFBooleanField.NULL_VALUES:
            return None
        if value in DRFBooleanField.TRUE_VALUES:
            return True
        if value in DRFBooleanField.FALSE_VALUES:
            return False
        raise ValidationError(self.error_messages["invalid"], code="invalid")


class BooleanFilter(django_filters.BooleanFilter):
    """django-filter's BooleanFilter, but an unknown spelling is an error rather than "any"."""

    field_class = StrictBooleanField


@extend_schema_field({"type": "string", "minLength": 1, "pattern": MODEL_NAME_PATTERN})
class ModelNameFilter(django_filters.CharFilter):
    """A registered model name, checked against the pattern the contract fixes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("validators", [RegexValidator(MODEL_NAME_PATTERN, "must be a registered model name.")])
        super().__init__(*args, **kwargs)


@extend_schema_field({"type": "string", "minLength": 1, "pattern": MODEL_VERSION_PATTERN})
class ModelVersionFilter(django_filters.CharFilter):
    """A model version number (MLflow's 1, 2, 3...)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("validators", [RegexValidator(MODEL_VERSION_PATTERN, "must be a version number.")])
        super().__init__(*args, **kwargs)


class UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 instant, in UTC: PostgreSQL refuses offsets past +-15:59 (e.g. -23:53), which ISO allows."""

    def to_python(self, value: Any) -> Any:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(datetime.UTC)
        except OverflowError as exc:
            raise forms.ValidationError("is out of range once converted to UTC.", code="invalid") from exc


class SinceFilter(django_filters.IsoDateTimeFilter):
    """Rows created at or after an ISO 8601 instant."""

    field_class = UtcIsoDateTimeField

    def __init__(self, field_name: str = "created_at", **kwargs: Any) -> None:
        super().__init__(field_name=field_name, lookup_expr="gte", help_text="ISO 8601; inclusive", **kwargs)


class UntilFilter(django_filters.IsoDateTimeFilter):
    """Rows created before an ISO 8601 instant."""

    field_class = UtcIsoDateTimeField

    def __init__(self, field_name: str = "created_at", **kwargs: Any) -> None:
        super().__init__(field_name=field_name, lookup_expr="lt", help_text="ISO 8601; exclusive", **kwargs)


class _NoBlankForm(forms.Form):
    """The form of a FilterSet: a parameter given blank is an error, except a boolean's."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name, field in self.fields.items():
            if not isinstance(field, StrictBooleanField) and name in self.data and self.data.get(name) == "":
                self.add_error(name, forms.ValidationError(BLANK_MESSAGE, code="blank"))
        return cleaned


class FilterSet(django_filters.FilterSet):
    """The base of the apps' FilterSets (see the module docstring)."""

    def get_form_class(self) -> type[forms.Form]:
        form_class = super().get_form_class()
        return type(form_class.__name__, (_NoBlankForm, form_class), {})


def filters_apply(filterset_class: type[FilterSet], filters: Mapping[str, Any], queryset: QuerySet[M]) -> QuerySet[M]:
    """Return ``queryset`` narrowed by ``filters``; an invalid value is a ValidationError naming it."""
    filterset = filterset_class(filters, queryset=queryset)
    if not filterset.is_valid():
        raise ValidationError(filterset.errors.as_data())
    return filterset.qs
