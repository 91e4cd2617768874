"""Query filters that read values as the schema declares them."""

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
