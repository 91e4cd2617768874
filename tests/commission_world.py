"""A small, hand-made world for the commission engine: canonical rows written directly, so every
figure in a test is one a reader can check by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from accounts.models import Role, User
from chains.models import Chain, Period, Provider, ValidatorIdentity
from commissions.models import Agreement, AgreementStatus
from commissions.services.agreements import RuleSpec, agreement_create, agreement_set_status
from ingestion.models import DataType, IngestionRun, StagingPayload
from partners.models import ClientKind, Partner, PartnerClient
from tests import factories as f

SOL = Decimal(10**9)
OPERATOR = "Operator1111111111111111111111111111111111"
START = datetime(2025, 9, 1, tzinfo=UTC)


@dataclass
class World:
    chain: Chain
    provider: Provider
    periods: list[Period] = field(default_factory=list)
    run: IngestionRun | None = None

    def period(self, identifier: int, end: datetime) -> Period:
        period = Period.objects.create(
            chain=self.chain,
            period_identifier=str(identifier),
            period_start=end - timedelta(days=2),
            period_end=end,
            is_finalized=True,
            finalized_at=end,
        )
        self.periods.append(period)
        return period

    def validator(self, key: str) -> ValidatorIdentity:
        return ValidatorIdentity.objects.get_or_create(chain=self.chain, validator_key=key)[0]

    def payload(self, period: Period, validator: str, data_type: str) -> StagingPayload:
        if self.run is None:
            self.run = IngestionRun.objects.create(chain=self.chain, period=period, status="SUCCESS")
        return f.StagingPayloadFactory(
            run=self.run,
            chain=self.chain,
            period=period,
            validator_key=validator,
            provider=self.provider,
            data_type=data_type,
        )

    def figures(
        self,
        period: Period,
        validator: str,
        *,
        fees: Decimal = Decimal(0),
        mev: Decimal = Decimal(0),
        commission: Decimal = Decimal(0),
        stake: Decimal = Decimal(0),
        accounts: tuple[tuple[str, str, Decimal, Decimal, Decimal], ...] = (),
    ) -> None:
        """A validator's canonical rows: fees, MEV, the stake aggregate (commission = the vote
        account's reward, active stake) and stake accounts (address, withdraw authority, stake,
        rewards before commission, commission)."""
        self.validator(validator)
        f.CanonicalValidatorFeesFactory(
            chain=self.chain,
            period=period,
            validator_key=validator,
            total_fees_native=fees,
            source_payload=self.payload(period, validator, DataType.FEES),
            source_provider=self.provider,
        )
        f.CanonicalValidatorMevFactory(
            chain=self.chain,
            period=period,
            validator_key=validator,
            total_mev_native=mev,
            source_payload=self.payload(period, validator, DataType.MEV),
            source_provider=self.provider,
        )
        rewards_payload = self.payload(period, validator, DataType.REWARDS)
        common = {
            "chain": self.chain,
            "period": period,
            "validator_key": validator,
            "source_payload": rewards_payload,
            "source_provider": self.provider,
        }
        f.CanonicalStakeRewardFactory(
            **common,
            staker_address=None,
            withdraw_authority=None,
            active_stake_native=stake,
            rewards_native=sum((a[3] for a in accounts), commission),
            commission_native=commission,
        )
        for address, authority, account_stake, rewards, account_commission in accounts:
            f.CanonicalStakeRewardFactory(
                **common,
                staker_address=address,
                withdraw_authority=authority,
                active_stake_native=account_stake,
                rewards_native=rewards,
                commission_native=account_commission,
            )


def make_world(*, operator: bool = True) -> World:
    chain = f.ChainFactory()
    if operator:
        chain.parameters = {**(chain.parameters or {}), "operator_withdraw_authorities": [OPERATOR]}
        chain.save()
    provider = f.ProviderFactory(provider_name="solana-rpc")
    return World(chain=chain, provider=provider)


def client(
    partner: Partner,
    chain: Chain,
    address: str,
    *,
    kind: str = ClientKind.WITHDRAW_AUTHORITY,
    since: datetime = START,
    until: datetime | None = None,
) -> PartnerClient:
    return PartnerClient.objects.create(
        partner=partner, chain=chain, address=address, kind=kind, effective_from=since, effective_until=until
    )


def finance(username: str = "finance") -> User:
    return f.UserFactory(username=username, role=Role.FINANCE, is_staff=True)


def active_agreement(
    partner: Partner, *rules: RuleSpec, name: str = "", since: datetime = START, **kwargs: Any
) -> Agreement:
    agreement = agreement_create(
        partner=partner,
        name=name or f"{partner.partner_name} terms",
        effective_from=since,
        rules=rules,
        actor=None,
        **kwargs,
    )
    return agreement_set_status(
        agreement_id=agreement.pk, status=AgreementStatus.ACTIVE, actor=None, reason="signed"
    )
