"""Demo partners, clients and agreements over the shipped recordings (development only).

Clients are picked from the normalized stake accounts of the first recorded epoch, largest first
and never the operator's own, so the demo works on whatever the recordings hold. When the
ethereum-mainnet chain is active and normalized, Helios Capital also introduced the largest
withdrawal addresses of its first window, under an agreement of their own. Re-running changes
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from accounts.models import User
from canonical.models import CanonicalStakeReward
from chains.models import Chain, Period
from commissions.models import Agreement, AgreementStatus, Statement, StatementStatus
from commissions.selectors import operator_withdraw_authorities
from commissions.services.agreements import RuleSpec, agreement_create, agreement_set_status
from commissions.services.statements import (
    statement_approve,
    statement_mark_paid,
    statement_release,
    statement_submit,
)
from demo.users import DEMO_PARTNER_NAME, DEMO_PARTNERS, demo_partner
from partners.models import ClientKind, Partner, PartnerClient

ETHEREUM_CHAIN = "ethereum-mainnet"
START = datetime(2025, 9, 1, tzinfo=UTC)
MID_MONTH = datetime(2025, 9, 25, tzinfo=UTC)  # between the ends of epochs 850 and 851


class DemoDataError(Exception):
    """The demo cannot be set up (nothing normalized yet)."""


@dataclass(frozen=True)
class DemoAgreement:
    partner: str
    email: str
    name: str
    rules: tuple[RuleSpec, ...]


def demo_agreements_ensure(*, chain_id: str = "solana-mainnet") -> list[Agreement]:
    chain = Chain.objects.get(pk=chain_id)
    first = Period.objects.filter(chain=chain, is_finalized=True).order_by("period_start").first()
    if first is None or not CanonicalStakeReward.objects.filter(period=first).exists():
        raise DemoDataError("normalize the recorded epochs first (manage.py ingest, then normalize)")
    validators = sorted(
        CanonicalStakeReward.objects.filter(period=first, staker_address__isnull=True).values_list(
            "validator_key", flat=True
        )
    )
    authorities = _largest_authorities(first, exclude=operator_withdraw_authorities(chain))
    with transaction.atomic():
        demo = demo_partner(DEMO_PARTNER_NAME)
        northwind = demo_partner("Northwind Staking")
        helios = demo_partner("Helios Capital")
        if not helios.portal_shows_open_amounts:  # one partner sees provisional amounts
            helios.portal_shows_open_amounts = True
            helios.save(update_fields=["portal_shows_open_amounts", "updated_at"])
        _clients(demo, chain, authorities[0:3], ClientKind.WITHDRAW_AUTHORITY, START)
        _clients(helios, chain, authorities[3:7], ClientKind.WITHDRAW_AUTHORITY, START)
        _clients(helios, chain, authorities[7:8], ClientKind.WITHDRAW_AUTHORITY, MID_MONTH)  # joins mid-month
        stake_accounts = [
            address
            for address in CanonicalStakeReward.objects.filter(
                period=first, validator_key=validators[1], staker_address__isnull=False
            )
            .exclude(withdraw_authority__in=authorities)
            .order_by("-active_stake_native", "staker_address")
            .values_list("staker_address", flat=True)[:2]
            if address
        ]
        _clients(northwind, chain, stake_accounts, ClientKind.STAKE_ACCOUNT, START)
        specs = [
            DemoAgreement(
                DEMO_PARTNER_NAME,
                "",
                "Demo Partner: client revenue",
                (
                    RuleSpec(1, "VOTE_REWARDS", "CLIENT_REVENUE", 1_000, chain_id=chain.pk),
                    RuleSpec(2, "COMMISSION", "CLIENT_REVENUE", 2_000, chain_id=chain.pk),
                ),
            ),
            DemoAgreement(
                "Northwind Staking",
                "",
                "Northwind: MEV share and introduced stake",
                (
                    RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500, chain_id=chain.pk),
                    RuleSpec(
                        2, "EXEC_FEES", "STAKE_WEIGHT", 1_500, chain_id=chain.pk, validator_key=validators[1]
                    ),
                ),
            ),
            DemoAgreement(
                "Helios Capital",
                "",
                "Helios: tiered commission share",
                (
                    RuleSpec(
                        1,
                        "COMMISSION",
                        "STAKE_WEIGHT",
                        0,
                        chain_id=chain.pk,
                        floor_amount_native=Decimal(1_000_000),
                        cap_amount_native=Decimal(50_000_000_000),
                        tier_config={
                            "basis": "introduced_stake",
                            "mode": "marginal",
                            "tiers": [
                                {"from": "0", "rate_bps": 1_000},
                                {"from": "50000000000000", "rate_bps": 1_500},
                                {"from": "200000000000000", "rate_bps": 2_000},
                            ],
                        },
                    ),
                ),
            ),
        ]
        agreements = []
        for spec in specs:
            partner = Partner.objects.get(partner_name=spec.partner)
            agreement = Agreement.objects.filter(partner=partner, agreement_name=spec.name).first()
            if agreement is None:
                agreement = agreement_create(
                    partner=partner,
                    name=spec.name,
                    effective_from=START,
                    rules=spec.rules,
                    actor=None,
                    reason="demo",
                )
                agreement = agreement_set_status(
                    agreement_id=agreement.pk,
                    status=AgreementStatus.ACTIVE,
                    actor=None,
                    reason="demo: signed",
                )
            agreements.append(agreement)
    ethereum = Chain.objects.filter(pk=ETHEREUM_CHAIN, is_active=True).first()
    if ethereum is not None and chain.pk != ETHEREUM_CHAIN and _first_normalized(ethereum) is not None:
        agreements.append(demo_ethereum_agreement_ensure())
    return agreements


def _first_normalized(chain: Chain) -> Period | None:
    first = Period.objects.filter(chain=chain, is_finalized=True).order_by("period_start").first()
    if first is None or not CanonicalStakeReward.objects.filter(period=first).exists():
        return None
    return first


ETHEREUM_AGREEMENT = "Helios: Ethereum MEV share and fee on introduced stake"


def demo_ethereum_agreement_ensure(*, chain_id: str = ETHEREUM_CHAIN) -> Agreement:
    """Helios Capital's Ethereum clients (the two largest withdrawal addresses of the first
    normalized window that are not the operator's) and its agreement: 5 % of the validators' MEV,
    and 20 % of the operator fee earned on the stake it introduced."""
    chain = Chain.objects.get(pk=chain_id)
    first = _first_normalized(chain)
    if first is None:
        raise DemoDataError(f"normalize the recorded windows of {chain_id} first (ingest, then normalize)")
    addresses = [a for a in _largest_authorities(first, exclude=operator_withdraw_authorities(chain)) if a][
        :2
    ]
    with transaction.atomic():
        helios = demo_partner("Helios Capital")
        _clients(helios, chain, addresses, ClientKind.WITHDRAW_AUTHORITY, START)
        agreement = Agreement.objects.filter(partner=helios, agreement_name=ETHEREUM_AGREEMENT).first()
        if agreement is None:
            agreement = agreement_create(
                partner=helios,
                name=ETHEREUM_AGREEMENT,
                effective_from=START,
                rules=(
                    RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500, chain_id=chain.pk),
                    RuleSpec(2, "COMMISSION", "STAKE_WEIGHT", 2_000, chain_id=chain.pk),
                ),
                actor=None,
                reason="demo",
            )
            agreement = agreement_set_status(
                agreement_id=agreement.pk, status=AgreementStatus.ACTIVE, actor=None, reason="demo: signed"
            )
        return agreement


def _largest_authorities(period: Period, *, exclude: frozenset[str]) -> list[str]:
    rows = (
        CanonicalStakeReward.objects.filter(
            period=period, staker_address__isnull=False, superseded_at__isnull=True
        )
        .exclude(withdraw_authority__in=exclude)
        .values("withdraw_authority")
        .annotate(stake=Sum("active_stake_native"))
        .order_by("-stake", "withdraw_authority")
    )
    return [row["withdraw_authority"] for row in rows[:8]]


def _clients(partner: Partner, chain: Chain, addresses: list[str], kind: str, since: datetime) -> None:
    for address in addresses:
        PartnerClient.objects.get_or_create(
            chain=chain,
            address=address,
            defaults={"partner": partner, "kind": kind, "effective_from": since, "note": "demo"},
        )


DEMO_MONTH = "2025-09"


def demo_statements_release(*, month: str = DEMO_MONTH) -> list[Statement]:
    """The demo partners' statements of `month` taken through the workflow by the demo staff:
    prepared by `finance`, approved by `finance2` and `admin`, released; Northwind's also paid.
    Statements already further along are left as they are."""
    staff = {
        user.username: user for user in User.objects.filter(username__in=["finance", "finance2", "admin"])
    }
    if len(staff) < 3:
        raise DemoDataError("create the demo users first (manage.py demo_users)")
    statements = list(
        Statement.objects.filter(partner__partner_name__in=DEMO_PARTNERS, month=month)
        .select_related("partner")
        .order_by("partner__partner_name", "chain_id")
    )
    for statement in statements:
        if statement.status == StatementStatus.DRAFT:
            statement_submit(statement_id=statement.pk, actor=staff["finance"])
            statement_approve(statement_id=statement.pk, actor=staff["finance2"])
            statement_approve(statement_id=statement.pk, actor=staff["admin"])
            statement_release(statement_id=statement.pk, actor=staff["finance"])
            if statement.partner.partner_name == "Northwind Staking":
                statement_mark_paid(
                    statement_id=statement.pk, actor=staff["finance"], reference="demo transfer"
                )
        statement.refresh_from_db()
    return statements
