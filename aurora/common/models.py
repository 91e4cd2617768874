"""Abstract building blocks for Aurora's models (no concrete tables here)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.postgres.functions import RandomUUID
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now


def uuid_primary_key(column: str) -> models.UUIDField[Any, uuid.UUID]:
    """UUID primary key named `id` in Python and `<column>` in the database (seed 001 names).

    The database also defaults to gen_random_uuid(), so rows inserted outside the ORM get an id.
    """
    return models.UUIDField(
        primary_key=True, default=uuid.uuid4, db_default=RandomUUID(), editable=False, db_column=column
    )


class TimeStampedModel(models.Model):
    """`created_at` / `updated_at`, defaulted by the database as well as by Django."""

    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())

    class Meta:
        abstract = True


def non_negative(*fields: str, prefix: str) -> list[models.CheckConstraint]:
    """One CHECK (field >= 0) per field; NULL passes, as in SQL."""
    return [
        models.CheckConstraint(condition=Q(**{f"{name}__gte": 0}), name=f"{prefix}_{name}_gte_0")
        for name in fields
    ]


def basis_points(field: str, *, prefix: str) -> models.CheckConstraint:
    """CHECK (0 <= field <= 10000): rates are integer basis points."""
    return models.CheckConstraint(
        condition=Q(**{f"{field}__gte": 0, f"{field}__lte": 10_000}), name=f"{prefix}_{field}_bps_range"
    )


def one_of(field: str, choices: Any, *, prefix: str) -> models.CheckConstraint:
    """CHECK (field IN (...)): the database enforces TextChoices, as the seed's ENUM types do."""
    return models.CheckConstraint(
        condition=Q(**{f"{field}__in": choices.values}), name=f"{prefix}_{field}_valid"
    )


def whole_units(*fields: str, prefix: str) -> list[models.CheckConstraint]:
    """CHECK (field = trunc(field)): payable amounts are whole base units."""
    return [
        models.CheckConstraint(
            condition=Q(**{name: models.Func(F(name), function="TRUNC")}), name=f"{prefix}_{name}_whole"
        )
        for name in fields
    ]
