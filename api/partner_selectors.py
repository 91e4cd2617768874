"""What the partner endpoints read. Staff (view_commissions) read any partner through `scoped()`,
narrowed by their chains and validators; a partner user reads its own partner only, and only what
the portal shows it (`commissions.selectors`): lines of released statements unless the partner sees
open amounts, no override reasons, no internal workflow timestamps."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError

from accounts.access import Capability, capabilities, scoped
from api.line_rows import StatementLine, statement_lines
from chains.models import Chain
from commissions.models import Agreement, AgreementStatus, CommissionLine, Statement
from commissions.selectors import RELEASED, amounts_visible, visible_lines
from partners.models import Partner, PartnerClient
from partners.selectors import partner_of

ZERO = Decimal(0)
MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
LINE_RELATIONS = ("chain", "period", "agreement", "statement", "adjusts_statement")


def acts_as_partner(user: Any) -> bool:
    """A partner user: it reads its own partner only, as the portal shows it."""
    granted = capabilities(user)
    return Capability.VIEW_OWN_PARTNER in granted and Capability.VIEW_COMMISSIONS not in granted


def partner_for(user: Any, partner_id: UUID | str) -> Partner:
    """The partner, if the user may read it; another partner's id answers 404 like a missing one."""
    if acts_as_partner(user):
        own = partner_of(user)
        if own is None or str(own.pk) != str(partner_id):
            raise NotFound("No such partner.")
        return own
    partner = scoped(Partner.objects.all(), user).filter(pk=partner_id).first()
    if partner is None:
        raise NotFound("No such partner.")
    return partner


def check_month(month: str) -> str:
    if not MONTH.match(month):
        raise ValidationError({"month": [f"{month[:20]!r} is not a calendar month (YYYY-MM)."]})
    return month


# ---- partners -----------------------------------------------------------------------------------


def active_agreement_exists() -> Exists:
    """An agreement of the partner that is ACTIVE and has not ended."""
    now = timezone.now()
    return Exists(
        Agreement.objects.filter(partner=OuterRef("pk"), status=AgreementStatus.ACTIVE).filter(
            Q(effective_until__isnull=True) | Q(effective_until__gt=now)
        )
    )


def partners(user: Any) -> QuerySet[Partner]:
    """The partners the user may read: staff within scope, a partner user its own partner only."""
    rows = scoped(Partner.objects.all(), user)
    if acts_as_partner(user):
        own: Any = getattr(user, "partner_id", None)
        rows = rows.filter(pk=own) if own is not None else rows.none()
    return rows.annotate(has_active_agreement=active_agreement_exists()).order_by("partner_name", "pk")


def clients(user: Any, partner: Partner) -> QuerySet[PartnerClient]:
    """The partner's introduced addresses within the user's chains."""
    return (
        scoped(PartnerClient.objects.all(), user)
        .filter(partner=partner)
        .order_by("chain_id", "address", "effective_from", "pk")
    )


# ---- commission lines ---------------------------------------------------------------------------


def commission_lines(user: Any, partner: Partner, chain: Chain) -> QuerySet[CommissionLine]:
    """The partner's lines on the chain: for staff every line in their scope, for the partner's
    own users the lines the portal shows (`commissions.selectors.visible_lines`). Oldest period first."""
    if acts_as_partner(user):
        lines = visible_lines(user, partner)
    else:
        lines = scoped(CommissionLine.objects.all(), user).filter(partner=partner)
    return (
        lines.filter(chain=chain)
        .select_related(*LINE_RELATIONS)
        .defer("chain__parameters", "statement__metadata", "adjusts_statement__metadata")
        .order_by(
            "period__period_end", "agreement__agreement_name", "rule_order", "adjusts_statement__month", "pk"
        )
    )


# ---- statements ---------------------------------------------------------------------------------


def statement_for(user: Any, partner: Partner, chain: Chain, month: str) -> Statement:
    statement = (
        scoped(Statement.objects.all(), user)
        .filter(partner=partner, chain=chain, month=check_month(month))
        .select_related("partner", "chain")
        .first()
    )
    if statement is None:
        raise NotFound(f"No statement for {month}.")
    return statement


@dataclass
class StatementView:
    """A statement as the user may see it: with its lines and totals, or, for a partner whose
    statement is still in preparation and who does not see open amounts, its status only. Lines
    are documents made by PostgreSQL (`api.line_rows.statement_lines`)."""

    statement: Statement
    amounts_visible: bool
    partner_view: bool
    lines: list[StatementLine] = field(default_factory=list)
    adjustments: list[StatementLine] = field(default_factory=list)

    @property
    def provisional(self) -> bool:
        return self.statement.status not in RELEASED

    @property
    def lines_total(self) -> Decimal | None:
        return _final_total(self.lines) if self.amounts_visible else None

    @property
    def adjustments_total(self) -> Decimal | None:
        return _final_total(self.adjustments) if self.amounts_visible else None

    @property
    def total(self) -> Decimal | None:
        if self.lines_total is None or self.adjustments_total is None:
            return None
        return self.lines_total + self.adjustments_total


def _final_total(rows: list[StatementLine]) -> Decimal:
    return sum((row.final_amount_native for row in rows), ZERO)


def statement_view(user: Any, statement: Statement) -> StatementView:
    partner_view = acts_as_partner(user)
    visible = not partner_view or amounts_visible(statement.partner, statement.status)
    view = StatementView(statement=statement, amounts_visible=visible, partner_view=partner_view)
    if visible:
        lines = scoped(CommissionLine.objects.all(), user).filter(statement=statement)
        view.lines, view.adjustments = statement_lines(
            lines, chain=statement.chain, partner_view=partner_view
        )
    return view


def exportable_statement(user: Any, partner: Partner, chain: Chain, month: str) -> Statement:
    """The statement the user may export: staff with export_statements whose scope covers every
    line of it (else 403, as in the back office); a partner user its own once released (else 404,
    as in the portal)."""
    statement = statement_for(user, partner, chain, month)
    if acts_as_partner(user):
        if statement.status not in RELEASED:
            raise NotFound(f"The statement for {month} is not released yet.")
        return statement
    if Capability.EXPORT_STATEMENTS not in capabilities(user):
        raise PermissionDenied("Your role may not export statements.")
    lines = CommissionLine.objects.filter(statement=statement)
    if lines.count() != scoped(lines, user).count():
        raise PermissionDenied("The statement has lines of validators outside your scope.")
    return statement
