"""Stakewiz: validator metadata, a cross-check for the RPC's commission and Jito status.

Stakewiz reports `activated_stake` in SOL as a float; it is converted to lamports for metadata
only and never feeds an amount that is paid.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field

from ingestion.models import DataType
from ingestion.providers.base import (
    Exchange,
    Fetched,
    PeriodInfo,
    ProbeOutcome,
    ProviderAdapter,
    ValidatorMeta,
    ValidatorRef,
)
from ingestion.providers.errors import ProviderBadResponse
from ingestion.providers.parsing import BasisPoints, ProviderModel, Pubkey, validate
from ingestion.providers.solana.probes import VALIDATOR_PAGE, probe_validator_page

LAMPORTS_PER_SOL = 10**9
NonNegativeNumber = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class StakewizValidatorBody(ProviderModel):
    vote_identity: Pubkey
    identity: Pubkey
    name: str | None = None
    commission: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
    activated_stake: NonNegativeNumber
    delinquent: bool
    skip_rate: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] | None = None
    is_jito: bool | None = None
    jito_commission_bps: BasisPoints | None = None


class StakewizAdapter(ProviderAdapter):
    chain_family = "solana"
    supplies = frozenset({DataType.META})
    probe_call = VALIDATOR_PAGE

    def probe(self, validator: ValidatorRef | None) -> ProbeOutcome:
        """The registered validator's page."""
        return probe_validator_page(self, validator, StakewizValidatorBody)

    def fetch_meta(self, period: PeriodInfo, validator: ValidatorRef) -> Fetched[ValidatorMeta]:
        exchange = self.client.get(
            f"/validator/{validator.key}",
            scope=f"{period.identifier}/{validator.key}",
            request_key="validator",
        )
        return Fetched(self.parse_meta([exchange], period, validator), [exchange])

    def parse_meta(
        self, exchanges: list[Exchange], period: PeriodInfo, validator: ValidatorRef
    ) -> ValidatorMeta:
        endpoint = "GET /validator/{vote}"
        body = validate(
            StakewizValidatorBody, exchanges[0].body, provider=self.settings.name, endpoint=endpoint
        )
        if body.vote_identity != validator.key:
            raise ProviderBadResponse(
                provider=self.settings.name, endpoint=endpoint, reason="another validator's data"
            )
        # Floats from JSON go through their shortest repr, so 5515852.324715695 SOL stays those digits.
        stake = (Decimal(repr(body.activated_stake)) * LAMPORTS_PER_SOL).to_integral_value()
        return ValidatorMeta(
            validator_key=validator.key,
            period=period.identifier,
            commission_bps=int((Decimal(repr(body.commission)) * 100).to_integral_value()),
            mev_commission_bps=body.jito_commission_bps if body.is_jito else None,
            is_mev_enabled=body.is_jito,
            node_pubkey=body.identity,
            display_name=body.name,
            active_stake=stake,
            delinquent=body.delinquent,
            skip_rate_pct=None if body.skip_rate is None else Decimal(repr(body.skip_rate)),
        )
