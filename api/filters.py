"""Query filters that read values as the schema declares them: a value outside them is a 400 naming
the parameter, never a filter silently left out."""

from __future__ import annotations

from typing import Any

import django_filters  # type: ignore[import-untyped,unused-ignore]
from django import forms


class TrueOrFalseField(forms.NullBooleanField):
    """`true` or `false`; anything else is an error (django-filter would ignore it and list every
    row, as if the filter had not been sent)."""

    widget = forms.TextInput
    default_error_messages = {"invalid": "Send true or false."}

    def to_python(self, value: Any) -> bool | None:  # type: ignore[override]  # None: not sent
        if value is None:
            return None
        if value in ("true", "false"):
            return bool(value == "true")
        raise forms.ValidationError(self.error_messages["invalid"], code="invalid")

    def validate(self, value: Any) -> None:
        pass


class StrictBooleanFilter(django_filters.BooleanFilter):  # type: ignore[misc]
    field_class = TrueOrFalseField


class RefusesEmpty:
    """A parameter sent without a value (`?status=`) is an error rather than no filter: its
    declared values (a UUID, a choice) do not include the empty string."""

    def clean(self, value: Any) -> Any:
        if value == "":
            raise forms.ValidationError("Send a value, or leave the parameter out.", code="empty")
        return super().clean(value)  # type: ignore[misc]


class NonEmptyUUIDField(RefusesEmpty, forms.UUIDField):
    pass


class NonEmptyChoiceField(RefusesEmpty, django_filters.fields.ChoiceField):  # type: ignore[misc]
    pass


class StrictUUIDFilter(django_filters.UUIDFilter):  # type: ignore[misc]
    field_class = NonEmptyUUIDField


class StrictChoiceFilter(django_filters.ChoiceFilter):  # type: ignore[misc]
    field_class = NonEmptyChoiceField
