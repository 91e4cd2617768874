import hashlib
from datetime import timedelta
from decimal import Decimal
from typing import Any

import factory
from django.db.models import Max
from django.utils import timezone
from factory.django import DjangoModelFactory

from commissions.models import (
    Agreement,
    AgreementRule,
    AgreementStatus,
    AgreementStatusEvent,
    AgreementVersion,
    AttributionMethod,
    ClientStakeSnapshot,
    CommissionLine,
    ComputationRun,
    ComputationStatus,
    DocumentFormat,
    RevenueComponent,
    Statement,
    StatementDocument,
    StatementStatus,
    ValidatorPnl,
)

from .chains import ChainFactory, PeriodFactory
from .partners import PartnerFactory


class ValidatorPnlFactory(DjangoModelFactory[ValidatorPnl]):
    """The seed's validator ABC: 1.5 SOL fees, 0.8 SOL MEV, 2.0 SOL rewards, 0.1 SOL commission."""

    class Meta:
        model = ValidatorPnl

    chain = factory.SubFactory(ChainFactory)
    period = factory.SubFactory(PeriodFactory, chain=factory.SelfAttribute("..chain"))
    validator_key = factory.Sequence(lambda n: f"Vote{n:040d}")
    exec_fees_native = Decimal("1500000000")
    mev_tips_native = Decimal("800000000")
    vote_rewards_native = Decimal("2000000000")
    commission_native = Decimal("100000000")
    total_revenue_native = factory.LazyAttribute(
        lambda o: o.exec_fees_native + o.mev_tips_native + o.vote_rewards_native + o.commission_native
    )


class AgreementFactory(DjangoModelFactory[Agreement]):
    class Meta:
        model = Agreement

    partner = factory.SubFactory(PartnerFactory)
    agreement_name = factory.Sequence(lambda n: f"Agreement {n}")
    status = AgreementStatus.ACTIVE
    effective_from = factory.LazyFunction(lambda: timezone.now().replace(microsecond=0) - timedelta(days=365))


def _next_version_number(o: Any) -> int:
    if o.agreement._state.adding:
        return 1
    latest = AgreementVersion.objects.filter(agreement=o.agreement).aggregate(n=Max("version_number"))["n"]
    return (latest or 0) + 1


class AgreementVersionFactory(DjangoModelFactory[AgreementVersion]):
    """The agreement's next version (1 for a new agreement)."""

    class Meta:
        model = AgreementVersion

    agreement = factory.SubFactory(AgreementFactory)
    version_number = factory.LazyAttribute(_next_version_number)
    effective_from = factory.SelfAttribute("agreement.effective_from")
    terms_snapshot = factory.LazyAttribute(
        lambda o: {"agreement_name": o.agreement.agreement_name, "rules": []}
    )
    change_reason = "initial terms"


def _version_number(o: Any) -> int:
    """The given version's number, else the agreement's latest one (created if it has none):
    the composite foreign key needs an existing (agreement, version_number)."""
    if o.version is not None:
        return int(o.version.version_number)
    latest = AgreementVersion.objects.filter(agreement=o.agreement).order_by("-version_number").first()
    return (latest or AgreementVersionFactory(agreement=o.agreement)).version_number


class AgreementRuleFactory(DjangoModelFactory[AgreementRule]):
    """The seed's Agreement B: FIXED_SHARE, 5 % of MEV tips.

    `AgreementRuleFactory(version=v)` attaches the rule to version `v`; `agreement=a` to the
    latest version of `a`.
    """

    class Meta:
        model = AgreementRule

    class Params:
        version = None

    agreement = factory.Maybe(
        "version",
        yes_declaration=factory.SelfAttribute("version.agreement"),
        no_declaration=factory.SubFactory(AgreementFactory),
    )
    version_number = factory.LazyAttribute(_version_number)
    rule_order = factory.Sequence(lambda n: n + 1)
    chain = factory.SubFactory(ChainFactory)
    revenue_component = RevenueComponent.MEV_TIPS
    attribution_method = AttributionMethod.FIXED_SHARE
    commission_rate_bps = 500


class StatementFactory(DjangoModelFactory[Statement]):
    class Meta:
        model = Statement

    partner = factory.SubFactory(PartnerFactory)
    chain = factory.SubFactory(ChainFactory)
    month = factory.Sequence(lambda n: f"{2020 + n // 12}-{n % 12 + 1:02d}")
    total_commission_native = Decimal("40000000")
    line_count = 1


class StatementDocumentFactory(DjangoModelFactory[StatementDocument]):
    """A released statement's frozen partner CSV (a stand-in body; its hash and size match)."""

    class Meta:
        model = StatementDocument

    statement = factory.SubFactory(
        StatementFactory, status=StatementStatus.RELEASED, released_at=factory.LazyFunction(timezone.now)
    )
    partner = factory.SelfAttribute("statement.partner")
    document_format = DocumentFormat.PARTNER_CSV
    filename = "statement.csv"
    content_type = "text/csv; charset=utf-8"
    content = b"partner,Example Partner\n"
    sha256 = factory.LazyAttribute(lambda o: hashlib.sha256(o.content).hexdigest())
    size = factory.LazyAttribute(lambda o: len(o.content))
    snapshot = factory.LazyFunction(dict)


class CommissionLineFactory(DjangoModelFactory[CommissionLine]):
    """0.8 SOL of MEV at 5 %: 0.04 SOL."""

    class Meta:
        model = CommissionLine

    rule = factory.SubFactory(AgreementRuleFactory, chain=factory.SelfAttribute("..chain"))
    agreement = factory.SelfAttribute("rule.agreement")
    agreement_version = factory.SelfAttribute("rule.version_number")
    rule_order = factory.SelfAttribute("rule.rule_order")
    partner = factory.SelfAttribute("agreement.partner")
    chain = factory.SubFactory(ChainFactory)
    period = factory.SubFactory(PeriodFactory, chain=factory.SelfAttribute("..chain"))
    validator_key = None
    revenue_component = factory.SelfAttribute("rule.revenue_component")
    attribution_method = factory.SelfAttribute("rule.attribution_method")
    base_amount_native = Decimal("800000000")
    commission_rate_bps = factory.SelfAttribute("rule.commission_rate_bps")
    pre_override_amount_native = Decimal("40000000")
    final_amount_native = factory.LazyAttribute(
        lambda o: (
            o.override_amount_native if o.override_amount_native is not None else o.pre_override_amount_native
        )
    )
    override_amount_native = None
    override_reason = factory.LazyAttribute(
        lambda o: None if o.override_amount_native is None else "manual correction"
    )
    override_timestamp = factory.LazyAttribute(
        lambda o: None if o.override_amount_native is None else timezone.now()
    )
    breakdown = factory.LazyAttribute(
        lambda o: {"validators": [{"validator": "ABC", "base": str(o.base_amount_native)}]}
    )


class AgreementStatusEventFactory(DjangoModelFactory[AgreementStatusEvent]):
    class Meta:
        model = AgreementStatusEvent

    agreement = factory.SubFactory(AgreementFactory)
    from_status = AgreementStatus.DRAFT
    to_status = AgreementStatus.ACTIVE
    effective_at = factory.LazyFunction(timezone.now)
    reason = "signed"


class ComputationRunFactory(DjangoModelFactory[ComputationRun]):
    class Meta:
        model = ComputationRun

    chain = factory.SubFactory(ChainFactory)
    period = factory.SubFactory(PeriodFactory, chain=factory.SelfAttribute("..chain"))
    status = ComputationStatus.SUCCESS
    lines_inserted = 2
    fingerprint = "0" * 64


class ClientStakeSnapshotFactory(DjangoModelFactory[ClientStakeSnapshot]):
    class Meta:
        model = ClientStakeSnapshot

    partner = factory.SubFactory(PartnerFactory)
    chain = factory.SubFactory(ChainFactory)
    period = factory.SubFactory(PeriodFactory, chain=factory.SelfAttribute("..chain"))
    account_count = 1
    introduced_stake_native = Decimal("1000000000000000")
    accounts = factory.LazyFunction(
        lambda: {
            "ABC": [["StakeXYZ", "AuthorityXYZ", "AuthorityXYZ", "1000000000000000", "500000000", "25000000"]]
        }
    )
