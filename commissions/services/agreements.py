"""Agreements: creating them, changing their terms (a new version once they are in use), and their
status (DRAFT -> ACTIVE <-> SUSPENDED -> TERMINATED, kept as a timeline the engine reads).

Terms are validated before anything is written; an invalid term is refused with a message that
names the rule and the problem, and nothing changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from accounts.access import rules_outside_scope
from accounts.audit import audit_record, snapshot
from accounts.models import AuditAction, User
from chains.models import Chain, ValidatorIdentity
from commissions.engine.tiers import MAX_BPS, InvalidTerms, TierConfig
from commissions.models import (
    Agreement,
    AgreementRule,
    AgreementStatus,
    AgreementStatusEvent,
    AgreementVersion,
    AttributionMethod,
    CommissionLine,
    RevenueComponent,
)
from partners.models import Partner

TRANSITIONS: dict[str, frozenset[str]] = {
    AgreementStatus.DRAFT: frozenset({AgreementStatus.ACTIVE}),
    AgreementStatus.ACTIVE: frozenset({AgreementStatus.SUSPENDED, AgreementStatus.TERMINATED}),
    AgreementStatus.SUSPENDED: frozenset({AgreementStatus.ACTIVE, AgreementStatus.TERMINATED}),
    AgreementStatus.TERMINATED: frozenset(),
}


class AgreementError(ValueError):
    """A change to an agreement that is refused; the message says why. Nothing was written."""


@dataclass(frozen=True)
class RuleSpec:
    """One rule's terms, as Finance enters them."""

    rule_order: int
    revenue_component: str
    attribution_method: str
    commission_rate_bps: int
    chain_id: str | None = None
    validator_key: str | None = None
    floor_amount_native: Decimal | None = None
    cap_amount_native: Decimal | None = None
    tier_config: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any], *, where: str = "rule") -> RuleSpec:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidTerms(f"{where}: unknown field(s) {', '.join(unknown)}")
        missing = sorted(
            {"rule_order", "revenue_component", "attribution_method", "commission_rate_bps"} - set(data)
        )
        if missing:
            raise InvalidTerms(f"{where}: missing {', '.join(missing)}")
        return cls(
            rule_order=data["rule_order"],
            revenue_component=data["revenue_component"],
            attribution_method=data["attribution_method"],
            commission_rate_bps=data["commission_rate_bps"],
            chain_id=data.get("chain_id") or None,
            validator_key=data.get("validator_key") or None,
            floor_amount_native=_amount(data.get("floor_amount_native"), f"{where}.floor_amount_native"),
            cap_amount_native=_amount(data.get("cap_amount_native"), f"{where}.cap_amount_native"),
            tier_config=data.get("tier_config") or None,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "rule_order": self.rule_order,
            "chain_id": self.chain_id,
            "validator_key": self.validator_key,
            "revenue_component": self.revenue_component,
            "attribution_method": self.attribution_method,
            "commission_rate_bps": self.commission_rate_bps,
            "floor_amount_native": None
            if self.floor_amount_native is None
            else str(self.floor_amount_native),
            "cap_amount_native": None if self.cap_amount_native is None else str(self.cap_amount_native),
            "tier_config": self.tier_config,
        }

    @classmethod
    def from_rule(cls, rule: AgreementRule) -> RuleSpec:
        return cls(
            rule_order=rule.rule_order,
            revenue_component=rule.revenue_component,
            attribution_method=rule.attribution_method,
            commission_rate_bps=rule.commission_rate_bps,
            chain_id=rule.chain_id,
            validator_key=rule.validator_key,
            floor_amount_native=rule.floor_amount_native,
            cap_amount_native=rule.cap_amount_native,
            tier_config=rule.tier_config,
        )


def _amount(value: Any, where: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool | float):
        raise InvalidTerms(f"{where}: give amounts in base units as strings or integers, not {value!r}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise InvalidTerms(f"{where}: {value!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise InvalidTerms(f"{where}: expected an amount >= 0, got {value!r}")
    return amount


def validate_rules(rules: Sequence[RuleSpec]) -> None:
    """Refuse terms that cannot be applied, naming the rule and the problem."""
    if not rules:
        raise InvalidTerms("an agreement needs at least one rule")
    chains = set(Chain.objects.values_list("pk", flat=True))
    seen: set[int] = set()
    for rule in rules:
        where = f"rule {rule.rule_order}"
        if isinstance(rule.rule_order, bool) or not isinstance(rule.rule_order, int) or rule.rule_order < 1:
            raise InvalidTerms(f"rule order must be a whole number from 1, got {rule.rule_order!r}")
        if rule.rule_order in seen:
            raise InvalidTerms(f"{where}: two rules have this order")
        seen.add(rule.rule_order)
        if rule.revenue_component not in RevenueComponent.values:
            raise InvalidTerms(
                f"{where}: unknown revenue component {rule.revenue_component!r} "
                f"(one of {', '.join(RevenueComponent.values)})"
            )
        if rule.attribution_method not in AttributionMethod.values:
            raise InvalidTerms(
                f"{where}: unknown attribution method {rule.attribution_method!r} "
                f"(one of {', '.join(AttributionMethod.values)})"
            )
        rate = rule.commission_rate_bps
        if isinstance(rate, bool) or not isinstance(rate, int) or not 0 <= rate <= MAX_BPS:
            raise InvalidTerms(
                f"{where}: commission rate must be whole basis points from 0 to {MAX_BPS}, got {rate!r}"
            )
        if rule.chain_id is not None and rule.chain_id not in chains:
            raise InvalidTerms(f"{where}: unknown chain {rule.chain_id!r}")
        if rule.validator_key:
            if rule.chain_id is None:
                raise InvalidTerms(f"{where}: a validator filter needs a chain")
            if not ValidatorIdentity.objects.filter(
                chain_id=rule.chain_id, validator_key=rule.validator_key
            ).exists():
                raise InvalidTerms(
                    f"{where}: {rule.validator_key} is not a validator of the operator on {rule.chain_id}"
                )
        floor, cap = rule.floor_amount_native, rule.cap_amount_native
        for name, value in (("floor", floor), ("cap", cap)):
            if value is not None and value < 0:
                raise InvalidTerms(f"{where}: the {name} cannot be negative")
        if floor is not None and cap is not None and floor > cap:
            raise InvalidTerms(f"{where}: the floor ({floor}) is above the cap ({cap})")
        if rule.tier_config is not None:
            TierConfig.parse(rule.tier_config, where=f"{where}: tier_config")


def _snapshot_terms(rules: Sequence[RuleSpec]) -> dict[str, Any]:
    return {"rules": [rule.as_json() for rule in sorted(rules, key=lambda r: r.rule_order)]}


def _create_rules(agreement: Agreement, version_number: int, rules: Sequence[RuleSpec]) -> None:
    AgreementRule.objects.bulk_create(
        AgreementRule(
            agreement=agreement,
            version_number=version_number,
            rule_order=rule.rule_order,
            chain_id=rule.chain_id,
            validator_key=rule.validator_key,
            revenue_component=rule.revenue_component,
            attribution_method=rule.attribution_method,
            commission_rate_bps=rule.commission_rate_bps,
            floor_amount_native=rule.floor_amount_native,
            cap_amount_native=rule.cap_amount_native,
            tier_config=rule.tier_config,
        )
        for rule in rules
    )


def _refuse(error: InvalidTerms) -> AgreementError:
    return AgreementError(str(error))


def _require_in_scope(actor: User | None, rules: Iterable[tuple[str | None, str | None]]) -> None:
    """A user limited to some chains or validators changes only terms wholly within them."""
    if actor is None:
        return
    problems = rules_outside_scope(actor, rules)
    if problems:
        raise AgreementError("; ".join(problems))


def _current_rule_scopes(agreement: Agreement) -> list[tuple[str | None, str | None]]:
    return list(
        AgreementRule.objects.filter(
            agreement=agreement, version_number=agreement.current_version
        ).values_list("chain_id", "validator_key")
    )


def terms_token(version: AgreementVersion) -> str:
    """Identifies the terms a form was opened on, so a save over someone else's change is refused."""
    content = {
        "version": version.version_number,
        "from": version.effective_from.isoformat(),
        "terms": version.terms_snapshot,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:20]


@transaction.atomic
def agreement_create(
    *,
    partner: Partner,
    name: str,
    effective_from: datetime,
    rules: Sequence[RuleSpec],
    actor: User | None,
    effective_until: datetime | None = None,
    reason: str = "",
) -> Agreement:
    """A DRAFT agreement with its version 1."""
    if not name.strip():
        raise AgreementError("an agreement needs a name")
    if effective_until is not None and effective_until <= effective_from:
        raise AgreementError("the agreement must end after it starts")
    try:
        validate_rules(rules)
    except InvalidTerms as error:
        raise _refuse(error) from None
    _require_in_scope(actor, ((rule.chain_id, rule.validator_key) for rule in rules))
    agreement = Agreement.objects.create(
        partner=partner,
        agreement_name=name.strip(),
        current_version=1,
        status=AgreementStatus.DRAFT,
        effective_from=effective_from,
        effective_until=effective_until,
    )
    AgreementVersion.objects.create(
        agreement=agreement,
        version_number=1,
        effective_from=effective_from,
        effective_until=effective_until,
        terms_snapshot=_snapshot_terms(rules),
        change_reason=reason or "created",
        created_by=actor,
    )
    _create_rules(agreement, 1, rules)
    audit_record(
        actor=actor,
        action=AuditAction.CREATE_AGREEMENT,
        resource=agreement,
        after={**snapshot(agreement), "terms": _snapshot_terms(rules)},
        reason=reason,
    )
    return agreement


def version_in_use(agreement: Agreement, version_number: int) -> bool:
    return CommissionLine.objects.filter(agreement=agreement, agreement_version=version_number).exists()


@transaction.atomic
def agreement_update_terms(
    *,
    agreement_id: UUID,
    rules: Sequence[RuleSpec],
    effective_from: datetime,
    change_reason: str,
    actor: User | None,
    based_on: str | None = None,
) -> AgreementVersion:
    """New terms. A DRAFT agreement's unused version is edited in place; otherwise the terms become
    a new version from `effective_from`, and the previous one ends there. A version that any
    line used is never modified. `based_on`: the `terms_token` of the terms the change was made
    from; if they changed since, the change is refused rather than silently undoing the other."""
    agreement = Agreement.objects.select_for_update().get(pk=agreement_id)
    if not change_reason.strip():
        raise AgreementError("say why the terms change (change reason)")
    if agreement.status == AgreementStatus.TERMINATED:
        raise AgreementError("a terminated agreement's terms cannot change")
    try:
        validate_rules(rules)
    except InvalidTerms as error:
        raise _refuse(error) from None
    current = AgreementVersion.objects.select_for_update().get(
        agreement=agreement, version_number=agreement.current_version
    )
    if based_on is not None and based_on != terms_token(current):
        raise AgreementError(
            f"the terms changed since you opened them (now version {current.version_number}, "
            f"{current.change_reason!r}): reload the page and make your change again"
        )
    _require_in_scope(
        actor,
        [*_current_rule_scopes(agreement), *((rule.chain_id, rule.validator_key) for rule in rules)],
    )
    before = {"version": current.version_number, "terms": current.terms_snapshot}
    if effective_from < agreement.effective_from or (
        agreement.effective_until is not None and effective_from >= agreement.effective_until
    ):
        raise AgreementError("the new terms must start within the agreement's dates")
    if agreement.status == AgreementStatus.DRAFT and not version_in_use(agreement, current.version_number):
        AgreementRule.objects.filter(agreement=agreement, version_number=current.version_number).delete()
        _create_rules(agreement, current.version_number, rules)
        current.terms_snapshot = _snapshot_terms(rules)
        current.effective_from = effective_from
        current.change_reason = change_reason
        current.save(update_fields=["terms_snapshot", "effective_from", "change_reason"])
        version = current
    else:
        if effective_from <= current.effective_from:
            raise AgreementError(
                f"the new version would overlap version {current.version_number}, in force from "
                f"{current.effective_from:%Y-%m-%d %H:%M}; start it later"
            )
        current.effective_until = effective_from
        current.save(update_fields=["effective_until"])
        version = AgreementVersion.objects.create(
            agreement=agreement,
            version_number=current.version_number + 1,
            effective_from=effective_from,
            effective_until=agreement.effective_until,
            terms_snapshot=_snapshot_terms(rules),
            change_reason=change_reason,
            created_by=actor,
        )
        _create_rules(agreement, version.version_number, rules)
        agreement.current_version = version.version_number
        agreement.save(update_fields=["current_version", "updated_at"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE_AGREEMENT,
        resource=agreement,
        before=before,
        after={"version": version.version_number, "terms": version.terms_snapshot},
        reason=change_reason,
    )
    return version


@transaction.atomic
def agreement_set_status(
    *,
    agreement_id: UUID,
    status: str,
    actor: User | None,
    reason: str,
    effective_at: datetime | None = None,
) -> Agreement:
    """Move an agreement along DRAFT -> ACTIVE <-> SUSPENDED -> TERMINATED. The change takes effect
    at `effective_at` (activation: the agreement's start; otherwise now, by default)."""
    agreement = Agreement.objects.select_for_update().get(pk=agreement_id)
    if status not in AgreementStatus.values:
        raise AgreementError(f"unknown status {status!r}")
    if status not in TRANSITIONS[agreement.status]:
        allowed = ", ".join(sorted(TRANSITIONS[agreement.status])) or "none: it is final"
        raise AgreementError(
            f"an agreement cannot go from {agreement.status} to {status} (allowed: {allowed})"
        )
    if not reason.strip():
        raise AgreementError("say why the status changes (reason)")
    _require_in_scope(actor, _current_rule_scopes(agreement))
    if effective_at is None:
        effective_at = (
            agreement.effective_from if agreement.status == AgreementStatus.DRAFT else timezone.now()
        )
    last = agreement.status_events.order_by("-effective_at").first()
    if last is not None and effective_at < last.effective_at:
        raise AgreementError(
            "the change cannot take effect before the last one "
            f"({last.to_status} at {last.effective_at:%Y-%m-%d %H:%M})"
        )
    before = snapshot(agreement, ["status"])
    AgreementStatusEvent.objects.create(
        agreement=agreement,
        from_status=agreement.status,
        to_status=status,
        effective_at=effective_at,
        reason=reason,
        actor=actor,
    )
    agreement.status = status
    agreement.save(update_fields=["status", "updated_at"])
    audit_record(
        actor=actor,
        action=AuditAction.CHANGE_AGREEMENT_STATUS,
        resource=agreement,
        before=before,
        after={"status": status, "effective_at": effective_at.isoformat()},
        reason=reason,
    )
    return agreement
