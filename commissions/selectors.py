"""Reads for the commission engine: one period's figures, the partners' clients, the agreements in
force. Everything is read from current canonical rows and returned as the engine's typed inputs,
in key order. At the end, what a partner may see of its commissions (the portal and the API read
the same)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from uuid import UUID

from django.db import connection
from django.db.models import Q, QuerySet

from accounts.access import scoped
from aurora.common.planner import hash_joins_only, without_jit
from canonical.models import CanonicalStakeReward, CanonicalValidatorFees, CanonicalValidatorMev
from chains.models import Chain, Period, ValidatorIdentity
from commissions.engine.attribution import ClientTotals, PartnerFigures, ValidatorFigures
from commissions.engine.lines import RuleTerms
from commissions.engine.tiers import TierConfig
from commissions.models import (
    Agreement,
    AgreementRule,
    AgreementStatus,
    AgreementStatusEvent,
    AgreementVersion,
    CommissionLine,
    RevenueComponent,
    StatementStatus,
)
from partners.models import Partner

ZERO = Decimal(0)
RELEASED = (StatementStatus.RELEASED, StatementStatus.PAID)


def statement_month(period: Period) -> str:
    """The calendar month (UTC) a period belongs to: the one in which it ends. A period ending
    exactly at midnight on the 1st ended in the month before (its last moment is before it)."""
    last_moment = period.period_end - timedelta(microseconds=1)
    return f"{last_moment:%Y-%m}"


def operator_withdraw_authorities(chain: Chain) -> frozenset[str]:
    """The withdraw authorities of the operator's own stake (chains.yaml parameters)."""
    configured = (chain.parameters or {}).get("operator_withdraw_authorities") or []
    return frozenset(str(address) for address in configured)


@dataclass(frozen=True)
class PnlFigures:
    validator_key: str
    exec_fees: Decimal
    mev_tips: Decimal
    vote_rewards: Decimal
    commission: Decimal
    active_stake: Decimal
    penalties: Decimal = ZERO  # what the protocol took from the operator's own stake

    @property
    def total(self) -> Decimal:
        """May be negative: a period in which penalties exceeded everything earned."""
        return self.exec_fees + self.mev_tips + self.vote_rewards + self.commission - self.penalties

    def as_validator_figures(self) -> ValidatorFigures:
        return ValidatorFigures(
            validator_key=self.validator_key,
            components={
                RevenueComponent.EXEC_FEES: self.exec_fees,
                RevenueComponent.MEV_TIPS: self.mev_tips,
                # the operator's own stake's income net of penalties: negative when they won
                RevenueComponent.VOTE_REWARDS: self.vote_rewards - self.penalties,
                RevenueComponent.COMMISSION: self.commission,
            },
            active_stake=self.active_stake,
            penalties=self.penalties,
        )


def period_pnl(period: Period, validators: Sequence[str]) -> list[PnlFigures]:
    """Each validator's P&L in the period, from current canonical rows (missing data counts 0).

    VOTE_REWARDS is the operator's own stake's rewards net of the commission already in
    COMMISSION (the validator takes its commission from its own stake too), so nothing is
    counted twice. What the protocol took from that stake (penalties, >= 0) is kept apart and
    subtracted from the total, which is then negative if penalties exceeded everything earned.
    """
    chain = period.chain
    current = {"period": period, "validator_key__in": validators, "superseded_at__isnull": True}
    fees = dict(
        CanonicalValidatorFees.objects.filter(**current).values_list("validator_key", "total_fees_native")
    )
    mev = dict(
        CanonicalValidatorMev.objects.filter(**current).values_list("validator_key", "total_mev_native")
    )
    aggregate = {
        key: (commission, stake)
        for key, commission, stake in CanonicalStakeReward.objects.filter(
            **current, staker_address__isnull=True
        ).values_list("validator_key", "commission_native", "active_stake_native")
    }
    own: dict[str, Decimal] = defaultdict(lambda: ZERO)
    own_penalties: dict[str, Decimal] = defaultdict(lambda: ZERO)
    authorities = operator_withdraw_authorities(chain)
    if authorities:
        for key, rewards, commission, penalties in CanonicalStakeReward.objects.filter(
            **current, staker_address__isnull=False, withdraw_authority__in=authorities
        ).values_list("validator_key", "rewards_native", "commission_native", "penalties_native"):
            own[key] += rewards - commission
            own_penalties[key] += penalties
    result = []
    for key in sorted(validators):
        commission, stake = aggregate.get(key, (ZERO, ZERO))
        result.append(
            PnlFigures(
                validator_key=key,
                exec_fees=fees.get(key, ZERO),
                mev_tips=mev.get(key, ZERO),
                vote_rewards=own[key],
                commission=commission,
                active_stake=stake or ZERO,
                penalties=own_penalties[key],
            )
        )
    return result


CLIENT_TOTALS_SQL = """
WITH clients AS MATERIALIZED (
    SELECT partner_id, address, kind FROM partner_clients
    WHERE chain_id = %(chain)s AND partner_id = ANY(%(partners)s) AND effective_from <= %(end)s
      AND (effective_until IS NULL OR effective_until > %(end)s)
), matched AS MATERIALIZED (
    SELECT c.partner_id, a.validator_key, a.staker_address, a.withdraw_authority, a.active_stake_native,
           a.rewards_native, a.commission_native, a.penalties_native, c.address AS client
    FROM clients c JOIN canonical_stake_rewards a ON a.staker_address = c.address
    WHERE c.kind = 'STAKE_ACCOUNT' AND a.chain_id = %(chain)s AND a.period_id = %(period)s
      AND a.superseded_at IS NULL
    UNION ALL
    SELECT c.partner_id, a.validator_key, a.staker_address, a.withdraw_authority, a.active_stake_native,
           a.rewards_native, a.commission_native, a.penalties_native, c.address AS client
    FROM clients c JOIN canonical_stake_rewards a ON a.withdraw_authority = c.address
    WHERE c.kind = 'WITHDRAW_AUTHORITY' AND a.chain_id = %(chain)s AND a.period_id = %(period)s
      AND a.superseded_at IS NULL
      AND a.staker_address IS NOT NULL
      AND NOT EXISTS (  -- claimed directly, by any partner: that claim wins
          SELECT 1 FROM partner_clients d
          WHERE d.chain_id = %(chain)s AND d.address = a.staker_address AND d.kind = 'STAKE_ACCOUNT'
            AND d.effective_from <= %(end)s AND (d.effective_until IS NULL OR d.effective_until > %(end)s))
), per_validator AS MATERIALIZED (
    SELECT partner_id, validator_key, count(*) AS n, sum(coalesce(active_stake_native, 0)) AS stake,
           sum(rewards_native) AS rewards, sum(commission_native) AS commission,
           sum(penalties_native) AS penalties
    FROM matched GROUP BY partner_id, validator_key
)"""
# Stores each partner's stake accounts (documents) in the same statement: the detail never leaves
# the database, and a snapshot is rewritten only where its digest changed.
STORE_SNAPSHOTS_SQL = """, listed AS (
    SELECT partner_id, validator_key,
           json_agg(json_build_array(staker_address, withdraw_authority, client,
                                     trim_scale(coalesce(active_stake_native, 0))::text,
                                     trim_scale(rewards_native)::text, trim_scale(commission_native)::text)
                    ORDER BY staker_address) AS accounts
    FROM matched GROUP BY partner_id, validator_key
), documents AS (
    SELECT p.partner_id, coalesce(sum(v.n), 0) AS n, coalesce(sum(v.stake), 0) AS stake,
           coalesce(json_object_agg(v.validator_key, l.accounts ORDER BY v.validator_key)
                    FILTER (WHERE v.validator_key IS NOT NULL)::text, '{}') AS doc
    FROM unnest(%(partners)s::uuid[]) AS p(partner_id)
    LEFT JOIN per_validator v USING (partner_id)
    LEFT JOIN listed l ON l.partner_id = v.partner_id AND l.validator_key = v.validator_key
    GROUP BY p.partner_id
), snapshots AS (
    INSERT INTO client_stake_snapshots
        (snapshot_id, partner_id, chain_id, period_id, account_count, introduced_stake_native, accounts,
         digest, computed_at)
    SELECT gen_random_uuid(), partner_id, %(chain)s, %(period)s, n, stake, doc::jsonb, md5(doc), now()
    FROM documents
    ON CONFLICT (partner_id, period_id) DO UPDATE
        SET account_count = EXCLUDED.account_count,
            introduced_stake_native = EXCLUDED.introduced_stake_native,
            accounts = EXCLUDED.accounts, digest = EXCLUDED.digest, computed_at = EXCLUDED.computed_at
        WHERE client_stake_snapshots.digest IS DISTINCT FROM EXCLUDED.digest
    RETURNING 1
)"""
# Up to this many partners, the clients' stake accounts are best found through the address
# indexes (a nested loop from each client); beyond it, by hashing the period's stake accounts.
FEW_PARTNERS = 20


def client_join_planner(partners: Sequence[UUID]) -> AbstractContextManager[None]:
    """How the statements that join clients to stake accounts are planned (see FEW_PARTNERS and
    aurora.common.planner.hash_joins_only: the policies on partner_clients hide its size)."""
    return without_jit() if len(partners) <= FEW_PARTNERS else hash_joins_only()


_SELECT_TOTALS = """
SELECT partner_id, validator_key, n, stake, rewards, commission, penalties FROM per_validator
"""


def client_figures(
    period: Period, partner_ids: Iterable[UUID], *, snapshot: bool = False
) -> dict[UUID, PartnerFigures]:
    """Each partner's clients in the period, as per-validator totals summed by the database.

    With `snapshot`, the same statement also stores each partner's stake accounts behind the
    totals (client_stake_snapshots, rewritten only where they changed), so the account-level
    detail never travels to Python.

    A client counts while the period's end is within its effective dates. A stake account claimed
    directly (STAKE_ACCOUNT) belongs to that claim even if its withdraw authority is claimed by
    another partner: the more specific introduction wins, and no stake is counted twice.
    """
    partners = sorted(set(partner_ids))
    if not partners:
        return {}
    query = CLIENT_TOTALS_SQL + (STORE_SNAPSHOTS_SQL if snapshot else "") + _SELECT_TOTALS
    parameters: dict[str, Any] = {
        "chain": period.chain_id,
        "end": period.period_end,
        "period": period.pk,
        "partners": partners,
    }
    with client_join_planner(partners), connection.cursor() as cursor:
        cursor.execute(query, parameters)
        rows = cursor.fetchall()
    totals: dict[UUID, dict[str, ClientTotals]] = defaultdict(dict)
    for partner, validator, count, stake, rewards, commission, penalties in rows:
        totals[partner][validator] = ClientTotals(int(count), stake, rewards, commission, penalties)
    return {partner: PartnerFigures.from_totals(by_validator) for partner, by_validator in totals.items()}


def client_accounts(period: Period, partner_ids: Iterable[UUID]) -> dict[UUID, PartnerFigures]:
    """The clients' per-validator totals, without storing snapshots (a read)."""
    return client_figures(period, partner_ids)


@dataclass(frozen=True)
class RuleInForce:
    rule_id: UUID
    terms: RuleTerms


@dataclass(frozen=True)
class AgreementInForce:
    agreement_id: UUID
    partner_id: UUID
    version_number: int
    rules: tuple[RuleInForce, ...] = field(default_factory=tuple)


def status_at(events: Sequence[Any], moment: datetime) -> str:
    """The status at `moment` from status events (anything with `to_status` and `effective_at`)."""
    status: str = AgreementStatus.DRAFT
    for event in events:  # in effective order
        if event.effective_at <= moment:
            status = event.to_status
    return status


_RULE_FIELDS = (
    "pk",
    "agreement_id",
    "version_number",
    "rule_order",
    "chain_id",
    "validator_key",
    "revenue_component",
    "attribution_method",
    "commission_rate_bps",
    "floor_amount_native",
    "cap_amount_native",
    "tier_config",
)


# The agreements' side of the inputs (also part of INPUTS_SQL): any change to an agreement, a
# version, a rule or the status timeline changes it. Rows saved through the ORM carry the time of
# their last write (`updated_at`, auto_now), so a table's row count and latest write tell whether
# any row was added, changed or removed, without reading every row's spelling.
AGREEMENT_PARTS = """
        (SELECT count(*)::text || '/' || coalesce(max(updated_at)::text, '') FROM agreements),
        (SELECT md5(string_agg(version_id::text || effective_from::text || coalesce(effective_until::text, '')
                               || md5(terms_snapshot::text), ',' ORDER BY version_id))
           FROM agreement_versions),
        (SELECT count(*)::text || '/' || coalesce(max(updated_at)::text, '') FROM agreement_rules),
        (SELECT md5(string_agg(status_event_id::text, ',' ORDER BY status_event_id))
           FROM agreement_status_events)"""


def agreements_stamp() -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT md5(concat_ws('|', {AGREEMENT_PARTS}))")
        (stamp,) = cursor.fetchone()
    return str(stamp)


@dataclass(frozen=True)
class _BookedAgreement:
    agreement_id: UUID
    partner_id: UUID
    status: str
    effective_from: datetime
    effective_until: datetime | None
    events: tuple[SimpleNamespace, ...]  # to_status, effective_at; in effective order
    versions: tuple[tuple[int, datetime, datetime | None], ...]


@dataclass(frozen=True)
class AgreementBook:
    """Every agreement that can pay on a chain (not DRAFT), with its timeline, versions and rules,
    read once: a range's periods are then selected in memory (`in_force`). `stamp` is the
    agreements' digest when read; `current()` tells whether it still holds."""

    chain_id: str
    stamp: str
    agreements: tuple[_BookedAgreement, ...]
    rules: dict[tuple[UUID, int], tuple[RuleInForce, ...]]

    @classmethod
    def load(cls, chain_id: str) -> AgreementBook:
        stamp = agreements_stamp()
        candidates = Agreement.objects.exclude(status=AgreementStatus.DRAFT)
        ids = candidates.values("pk")  # a subquery: no list of thousands of ids to send and parse
        events: dict[UUID, list[SimpleNamespace]] = defaultdict(list)
        for agreement_id, to_status, effective_at in (
            AgreementStatusEvent.objects.filter(agreement_id__in=ids)
            .order_by("effective_at", "created_at")
            .values_list("agreement_id", "to_status", "effective_at")
        ):
            events[agreement_id].append(SimpleNamespace(to_status=to_status, effective_at=effective_at))
        versions: dict[UUID, list[tuple[int, datetime, datetime | None]]] = defaultdict(list)
        for agreement_id, number, since, until in AgreementVersion.objects.filter(
            agreement_id__in=ids
        ).values_list("agreement_id", "version_number", "effective_from", "effective_until"):
            versions[agreement_id].append((number, since, until))
        grouped: dict[tuple[UUID, int], list[SimpleNamespace]] = defaultdict(list)
        for row in (
            AgreementRule.objects.filter(agreement_id__in=ids, is_active=True)
            .filter(Q(chain__isnull=True) | Q(chain_id=chain_id))
            .values(*_RULE_FIELDS)
        ):
            rule = SimpleNamespace(**row)
            grouped[(rule.agreement_id, rule.version_number)].append(rule)
        rules = {
            key: tuple(
                RuleInForce(rule.pk, rule_terms_from(rule, chain_id))
                for rule in sorted(found, key=lambda r: r.rule_order)
            )
            for key, found in grouped.items()
        }
        agreements = tuple(
            _BookedAgreement(
                agreement_id=pk,
                partner_id=partner_id,
                status=status,
                effective_from=since,
                effective_until=until,
                events=tuple(events[pk]),
                versions=tuple(versions[pk]),
            )
            for pk, partner_id, status, since, until in candidates.order_by("pk").values_list(
                "pk", "partner_id", "status", "effective_from", "effective_until"
            )
        )
        return cls(chain_id=chain_id, stamp=stamp, agreements=agreements, rules=rules)

    def current(self) -> bool:
        return agreements_stamp() == self.stamp

    def in_force(self, period: Period) -> list[AgreementInForce]:
        if period.chain_id != self.chain_id:
            raise ValueError(f"a book of {self.chain_id} asked for a period of {period.chain_id}")
        end = period.period_end
        result = []
        for agreement in self.agreements:
            if agreement.effective_from > end or (
                agreement.effective_until is not None and agreement.effective_until <= end
            ):
                continue
            # Without a recorded timeline (rows written outside the services), the status stands.
            status = status_at(agreement.events, end) if agreement.events else agreement.status
            numbers = [
                number
                for number, since, until in agreement.versions
                if since <= end and (until is None or until > end)
            ]
            if status != AgreementStatus.ACTIVE or not numbers:
                continue
            number = max(numbers)
            result.append(
                AgreementInForce(
                    agreement_id=agreement.agreement_id,
                    partner_id=agreement.partner_id,
                    version_number=number,
                    rules=self.rules.get((agreement.agreement_id, number), ()),
                )
            )
        return result


def agreements_in_force(period: Period, book: AgreementBook | None = None) -> list[AgreementInForce]:
    """Agreements that pay for the period: ACTIVE at its end, within their dates, with the rules
    of the version in force at the period's end that apply to the period's chain. `book`: the
    agreements read for a range, used while its stamp still holds."""
    if book is None or book.chain_id != period.chain_id or not book.current():
        book = AgreementBook.load(period.chain_id)
    return book.in_force(period)


def rule_terms_from(spec: Any, chain_id: str) -> RuleTerms:
    """Engine terms from a rule: as entered (commissions.services.agreements.RuleSpec) or as stored
    (an AgreementRule's values; the attribute names are the same)."""
    return RuleTerms(
        rule_order=spec.rule_order,
        chain_id=spec.chain_id or chain_id,
        validator_key=spec.validator_key or None,
        component=spec.revenue_component,
        method=spec.attribution_method,
        rate_bps=spec.commission_rate_bps,
        floor=spec.floor_amount_native,
        cap=spec.cap_amount_native,
        tiers=TierConfig.parse(spec.tier_config) if spec.tier_config else None,
    )


def operator_validators(chain: Chain) -> list[str]:
    return list(
        ValidatorIdentity.objects.filter(chain=chain, is_active=True)
        .order_by("validator_key")
        .values_list("validator_key", flat=True)
    )


def describe(value: Any) -> str:
    return format(value.normalize(), "f") if isinstance(value, Decimal) else str(value)


ENGINE_VERSION = "2026-12-1"  # change with any change to what the engine computes from its inputs

# The chain-wide inputs are digested once for all the periods asked; each period adds its own rows.
INPUTS_SQL = f"""
WITH shared AS MATERIALIZED (
    SELECT concat_ws('|',
        (SELECT parameters::text FROM chains WHERE chain_id = %(chain)s),
        (SELECT md5(string_agg(validator_key || is_active::text, ',' ORDER BY validator_key))
           FROM canonical_validator_identities WHERE chain_id = %(chain)s),
        (SELECT count(*)::text || '/' || coalesce(max(updated_at)::text, '')
           FROM partner_clients WHERE chain_id = %(chain)s),
        {AGREEMENT_PARTS},
        (SELECT md5(string_agg(statement_id::text || status, ',' ORDER BY statement_id))
           FROM partner_commission_statements WHERE chain_id = %(chain)s)
    ) AS digest
)
SELECT p.period_id, md5(concat_ws('|',
    %(engine)s,
    p.period_end::text,
    coalesce(r.revision, 0)::text,  -- bumped by every write of the period's canonical rows
    shared.digest
))
FROM canonical_periods p CROSS JOIN shared
LEFT JOIN canonical_period_revisions r ON r.period_id = p.period_id
WHERE p.period_id = ANY(%(periods)s)
"""  # noqa: S608 (AGREEMENT_PARTS is a constant)


def input_fingerprints(periods: Sequence[Period]) -> dict[UUID, str]:
    """A digest per period of everything its P&L and lines are computed from: its canonical rows
    (by their revision, canonical.models.CanonicalPeriodRevision), the validators, the chain's
    settings, partner clients, agreements with their versions, rules and status timeline, and
    which statements are open. Equal digests: nothing to recompute. The periods are of one chain;
    the chain-wide part is read once for all of them."""
    if not periods:
        return {}
    chains = {period.chain_id for period in periods}
    if len(chains) > 1:
        raise ValueError(f"periods of several chains: {sorted(chains)}")
    parameters: dict[str, Any] = {
        "engine": ENGINE_VERSION,
        "periods": [p.pk for p in periods],
        "chain": chains.pop(),
    }
    with connection.cursor() as cursor:
        cursor.execute(INPUTS_SQL, parameters)
        return {period_id: str(digest) for period_id, digest in cursor.fetchall()}


def input_fingerprint(period: Period) -> str:
    return input_fingerprints([period])[period.pk]


# ---- what a partner sees ------------------------------------------------------------------------


def amounts_visible(partner: Partner, status: str) -> bool:
    """Amounts of a statement not yet released can still change; the partner sees them only where
    its `portal_shows_open_amounts` says so."""
    return status in RELEASED or partner.portal_shows_open_amounts


def visible_lines(user: Any, partner: Partner) -> QuerySet[CommissionLine]:
    """The partner's lines whose amounts it may see."""
    lines = scoped(CommissionLine.objects.all(), user).filter(partner=partner)
    if not partner.portal_shows_open_amounts:
        lines = lines.filter(statement__status__in=RELEASED)
    return lines
