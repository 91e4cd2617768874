"""Jito Kobe API: the validator's MEV tips and MEV commission per epoch.

`/api/v1/validator_rewards` gives, per (vote account, epoch), `mev_revenue` (all tips of the
validator's tip distribution account) and `mev_commission` (bps). The validator's own MEV
revenue is revenue x commission / 10000; stakers share the rest. No row means the validator did
not run Jito that epoch: zero, with the reason kept in the value.
"""

from __future__ import annotations

from ingestion.models import DataType
from ingestion.providers.base import (
    PROBE_SCOPE,
    Exchange,
    Fetched,
    PeriodInfo,
    ProbeOutcome,
    ProviderAdapter,
    ValidatorMev,
    ValidatorRef,
)
from ingestion.providers.errors import ProviderBadResponse
from ingestion.providers.parsing import BasisPoints, ProviderModel, Pubkey, StrictU64, validate

VALIDATOR_REWARDS = "/api/v1/validator_rewards"


class ValidatorRewardBody(ProviderModel):
    vote_account: Pubkey
    epoch: StrictU64
    mev_revenue: StrictU64
    mev_commission: BasisPoints
    num_stakers: StrictU64 | None = None


class ValidatorRewardsBody(ProviderModel):
    rewards: list[ValidatorRewardBody]


class JitoAdapter(ProviderAdapter):
    chain_family = "solana"
    supplies = frozenset({DataType.MEV})
    probe_call = f"GET {VALIDATOR_REWARDS}"

    def probe(self, validator: ValidatorRef | None) -> ProbeOutcome:
        """The newest reward row (of the validator, if one is registered)."""
        params: dict[str, str | int] = {"limit": 1}
        if validator is not None:
            params["vote_account"] = validator.key
        exchange = self.client.get(VALIDATOR_REWARDS, params=params, scope=PROBE_SCOPE, request_key="probe")
        body = validate(
            ValidatorRewardsBody,
            exchange.body,
            provider=self.settings.name,
            endpoint=f"GET {VALIDATOR_REWARDS}",
        )
        if not body.rewards:
            return ProbeOutcome("answered; no reward rows")
        return ProbeOutcome(f"answered; latest epoch {max(row.epoch for row in body.rewards)}")

    def fetch_mev(self, period: PeriodInfo, validator: ValidatorRef) -> Fetched[ValidatorMev]:
        exchange = self.client.get(
            VALIDATOR_REWARDS,
            params={"vote_account": validator.key, "epoch": period.identifier},
            scope=f"{period.identifier}/{validator.key}",
            request_key="validator-rewards",
        )
        return Fetched(self.parse_mev([exchange], period, validator), [exchange])

    def parse_mev(
        self, exchanges: list[Exchange], period: PeriodInfo, validator: ValidatorRef
    ) -> ValidatorMev:
        endpoint = f"GET {VALIDATOR_REWARDS}"
        body = validate(
            ValidatorRewardsBody, exchanges[0].body, provider=self.settings.name, endpoint=endpoint
        )
        epoch = int(period.identifier)
        rows = [row for row in body.rewards if row.vote_account == validator.key and row.epoch == epoch]
        if len(rows) != len(body.rewards):
            raise ProviderBadResponse(
                provider=self.settings.name, endpoint=endpoint, reason="rows for another validator or epoch"
            )
        if len(rows) > 1:
            raise ProviderBadResponse(
                provider=self.settings.name, endpoint=endpoint, reason=f"{len(rows)} rows for one epoch"
            )
        if not rows:
            return ValidatorMev(
                validator_key=validator.key,
                period=period.identifier,
                total_tips=0,
                commission_bps=0,
                running_mev_client=False,
            )
        row = rows[0]
        return ValidatorMev(
            validator_key=validator.key,
            period=period.identifier,
            total_tips=row.mev_revenue,
            commission_bps=row.mev_commission,
            staker_count=row.num_stakers,
        )
