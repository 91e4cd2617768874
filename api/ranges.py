"""`from` / `to` query parameters: a period identifier of the chain, or a date (YYYY-MM-DD)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Q
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from chains.models import Chain, Period

MAX_PARAM_LENGTH = 40


@dataclass(frozen=True)
class PeriodRange:
    """Periods whose end falls within [start, end] (None: open)."""

    start: datetime | None = None
    end: datetime | None = None

    def q(self, prefix: str = "") -> Q:
        query = Q()
        if self.start is not None:
            query &= Q(**{f"{prefix}period_end__gte": self.start})
        if self.end is not None:
            query &= Q(**{f"{prefix}period_end__lte": self.end})
        return query


def _bound(chain: Chain, name: str, raw: str, *, upper: bool) -> datetime:
    if len(raw) > MAX_PARAM_LENGTH:
        raise ValidationError({name: ["Too long: a period identifier or a date (YYYY-MM-DD)."]})
    try:
        day = date.fromisoformat(raw) if "-" in raw else None
    except ValueError:
        raise ValidationError({name: [f"{raw!r} is not a date (YYYY-MM-DD)."]}) from None
    if day is not None:
        moment = datetime.combine(day + timedelta(days=1) if upper else day, time.min, tzinfo=UTC)
        return moment - timedelta(microseconds=1) if upper else moment
    period: Any = Period.objects.filter(chain=chain, period_identifier=raw).values("period_end").first()
    if period is None:
        raise ValidationError({name: [f"{chain.pk} has no period {raw!r}."]})
    return period["period_end"]  # type: ignore[no-any-return]


def period_range(request: Request, chain: Chain) -> PeriodRange:
    """The request's `from`/`to`, each a period identifier on `chain` or a date."""
    bounds: dict[str, datetime] = {}
    for name in ("from", "to"):
        raw = (request.query_params.get(name) or "").strip()
        if raw:
            bounds[name] = _bound(chain, name, raw, upper=name == "to")
    start, end = bounds.get("from"), bounds.get("to")
    if start is not None and end is not None and start > end:
        raise ValidationError({"to": ["Comes before `from`."]})
    return PeriodRange(start=start, end=end)
