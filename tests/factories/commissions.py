from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from commissions.models import (
    Agreement,
    AgreementRule,
    AgreementStatus,
    AgreementVersion,
    AttributionMethod,
    CommissionLine,
    RevenueComponent,
    Statement,
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


class AgreementVersionFactory(DjangoModelFactory[AgreementVersion]):
    class Meta:
        model = AgreementVersion

    agreement = factory.SubFactory(AgreementFactory)
    version_number = 1
    effective_from = factory.SelfAttribute("agreement.effective_from")
    terms_snapshot = factory.LazyAttribute(
        lambda o: {"agreement_name": o.agreement.agreement_name, "rules": []}
    )
    change_reason = "initial terms"


class AgreementRuleFactory(DjangoModelFactory[AgreementRule]):
    """The seed's Agreement B: FIXED_SHARE, 5 % of MEV tips."""

    class Meta:
        model = AgreementRule

    class Params:
        version = factory.SubFactory(AgreementVersionFactory)

    agreement = factory.SelfAttribute("version.agreement")
    version_number = factory.SelfAttribute("version.version_number")
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


class CommissionLineFactory(DjangoModelFactory[CommissionLine]):
    """0.8 SOL of MEV at 5 %: 0.04 SOL."""

    class Meta:
        model = CommissionLine

    rule = factory.SubFactory(AgreementRuleFactory)
    agreement = factory.SelfAttribute("rule.agreement")
    agreement_version = factory.SelfAttribute("rule.version_number")
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
    breakdown = factory.LazyAttribute(
        lambda o: {"validators": [{"validator_key": "ABC", "base": str(o.base_amount_native)}]}
    )
