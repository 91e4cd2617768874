from decimal import Decimal
from typing import Any

import factory
from factory.django import DjangoModelFactory

from canonical.models import (
    CanonicalPeriodRevision,
    CanonicalStakeReward,
    CanonicalValidatorFees,
    CanonicalValidatorMeta,
    CanonicalValidatorMev,
    FindingKind,
    NormalizationRun,
    NormalizationStatus,
    NormalizedInput,
    ReconciliationFinding,
    ReconciliationReport,
    Severity,
)
from ingestion.models import DataType

from .chains import ChainFactory, PeriodFactory, ProviderFactory
from .ingestion import IngestionRunFactory, StagingPayloadFactory


def _payload(o: Any) -> Any:
    run = IngestionRunFactory(chain=o.chain, period=o.period)
    return StagingPayloadFactory(
        run=run,
        chain=o.chain,
        period=o.period,
        validator_key=o.validator_key,
        provider=o.provider,
        data_type=o.data_type,
    )


class CanonicalRecordFactory(DjangoModelFactory[Any]):
    """Each row is traced to a staging payload (and its run) of the same chain, period, validator
    and provider; pass `provider=` to choose the provider of both."""

    class Params:
        provider = factory.SubFactory(ProviderFactory)
        data_type = DataType.FEES

    chain = factory.SubFactory(ChainFactory)
    period = factory.SubFactory(PeriodFactory, chain=factory.SelfAttribute("..chain"))
    validator_key = factory.Sequence(lambda n: f"Vote{n:040d}")
    source_payload = factory.LazyAttribute(_payload)
    source_provider = factory.SelfAttribute("source_payload.provider")


class CanonicalValidatorFeesFactory(CanonicalRecordFactory):
    class Meta:
        model = CanonicalValidatorFees

    total_fees_native = Decimal("1500000000")
    fee_count = 120


class CanonicalValidatorMevFactory(CanonicalRecordFactory):
    class Meta:
        model = CanonicalValidatorMev

    class Params:
        data_type = DataType.MEV

    total_mev_native = Decimal("800000000")
    tip_count = 1


class CanonicalStakeRewardFactory(CanonicalRecordFactory):
    class Meta:
        model = CanonicalStakeReward

    class Params:
        data_type = DataType.REWARDS

    staker_address = factory.Sequence(lambda n: f"Stake{n:040d}")
    withdraw_authority = factory.Sequence(lambda n: f"Withdraw{n:036d}")
    active_stake_native = Decimal("1000000000000000")
    rewards_native = Decimal("500000000")
    commission_native = Decimal("25000000")


class CanonicalValidatorMetaFactory(CanonicalRecordFactory):
    class Meta:
        model = CanonicalValidatorMeta

    class Params:
        data_type = DataType.META

    commission_rate_bps = 500
    mev_commission_bps = 800
    is_mev_enabled = True
    total_stake_native = Decimal("1523456789012345")
    active_stake_native = Decimal("1523456789012345")
    delegator_count = 42
    uptime_percentage = Decimal("99.50")


class CanonicalPeriodRevisionFactory(DjangoModelFactory[CanonicalPeriodRevision]):
    """Kept by database triggers in the product; written directly only by tests."""

    class Meta:
        model = CanonicalPeriodRevision

    period = factory.SubFactory(PeriodFactory)
    revision = 1


class NormalizationRunFactory(DjangoModelFactory[NormalizationRun]):
    class Meta:
        model = NormalizationRun

    chain = factory.SubFactory(ChainFactory)
    period = factory.SubFactory(PeriodFactory, chain=factory.SelfAttribute("..chain"))
    status = NormalizationStatus.SUCCESS
    validators_total = 3
    rows_inserted = 433
    duration_seconds = Decimal("0.180")


class NormalizedInputFactory(DjangoModelFactory[NormalizedInput]):
    class Meta:
        model = NormalizedInput

    run = factory.SubFactory(NormalizationRunFactory)
    chain = factory.SelfAttribute("run.chain")
    period = factory.SelfAttribute("run.period")
    validator_key = factory.Sequence(lambda n: f"Vote{n:040d}")
    fingerprint = factory.Sequence(lambda n: f"{n:064x}")


class ReconciliationReportFactory(DjangoModelFactory[ReconciliationReport]):
    class Meta:
        model = ReconciliationReport

    run = factory.SubFactory(NormalizationRunFactory)
    chain = factory.SelfAttribute("run.chain")
    period = factory.SelfAttribute("run.period")
    warning_count = 1
    summary = "1 warning: 1 providers disagree"


class ReconciliationFindingFactory(DjangoModelFactory[ReconciliationFinding]):
    class Meta:
        model = ReconciliationFinding

    report = factory.SubFactory(ReconciliationReportFactory)
    chain = factory.SelfAttribute("report.chain")
    period = factory.SelfAttribute("report.period")
    kind = FindingKind.PROVIDER_DISAGREEMENT
    severity = Severity.WARNING
    validator_key = factory.Sequence(lambda n: f"Vote{n:040d}")
    data_type = DataType.META
    field = "commission_rate_bps"
    providers = "solana-rpc vs stakewiz"
    expected_value = Decimal(700)
    observed_value = Decimal(800)
    message = "commission_rate_bps: solana-rpc says 700, stakewiz says 800"
