"""Solana Beach: validator metadata and per-epoch block fees, an alternative to the RPC's block scan.

Needs an API key (Bearer). Block-rewards history is keyed by the node identity and paged
newest first; paging stops once the asked epoch is passed.
"""

from __future__ import annotations

from ingestion.models import DataType
from ingestion.providers.base import (
    Exchange,
    Fetched,
    PeriodInfo,
    ProbeOutcome,
    ProviderAdapter,
    ValidatorFees,
    ValidatorMeta,
    ValidatorRef,
    numbered,
)
from ingestion.providers.errors import ProviderBadResponse
from ingestion.providers.parsing import Percent, ProviderModel, Pubkey, StrictU64, validate
from ingestion.providers.solana.probes import VALIDATOR_PAGE, probe_validator_page

PAGE_LIMIT = 100
MAX_PAGES = 50


class BeachValidatorBody(ProviderModel):
    votePubkey: Pubkey
    nodePubkey: Pubkey
    commission: Percent
    delinquent: bool
    name: str | None = None


class BlockRewardsEntry(ProviderModel):
    epoch: StrictU64
    blocks: StrictU64
    fees: StrictU64


class Pagination(ProviderModel):
    total: StrictU64
    offset: StrictU64
    limit: StrictU64


class BlockRewardsHistoryBody(ProviderModel):
    history: list[BlockRewardsEntry]
    pagination: Pagination


class SolanaBeachAdapter(ProviderAdapter):
    chain_family = "solana"
    supplies = frozenset({DataType.META, DataType.FEES})
    probe_call = VALIDATOR_PAGE

    def probe(self, validator: ValidatorRef | None) -> ProbeOutcome:
        """The registered validator's page."""
        return probe_validator_page(self, validator, BeachValidatorBody)

    def _scope(self, period: PeriodInfo, validator: ValidatorRef) -> str:
        return f"{period.identifier}/{validator.key}"

    def fetch_meta(self, period: PeriodInfo, validator: ValidatorRef) -> Fetched[ValidatorMeta]:
        exchange = self.client.get(
            f"/validator/{validator.key}", scope=self._scope(period, validator), request_key="validator"
        )
        return Fetched(self.parse_meta([exchange], period, validator), [exchange])

    def _validator(self, exchange: Exchange, validator: ValidatorRef) -> BeachValidatorBody:
        endpoint = "GET /validator/{vote}"
        body = validate(BeachValidatorBody, exchange.body, provider=self.settings.name, endpoint=endpoint)
        if body.votePubkey != validator.key:
            raise ProviderBadResponse(
                provider=self.settings.name, endpoint=endpoint, reason="another validator's data"
            )
        return body

    def parse_meta(
        self, exchanges: list[Exchange], period: PeriodInfo, validator: ValidatorRef
    ) -> ValidatorMeta:
        body = self._validator(self._exchange(exchanges, "validator"), validator)
        return ValidatorMeta(
            validator_key=validator.key,
            period=period.identifier,
            commission_bps=body.commission * 100,
            node_pubkey=body.nodePubkey,
            display_name=body.name,
            delinquent=body.delinquent,
        )

    def fetch_fees(self, period: PeriodInfo, validator: ValidatorRef) -> Fetched[ValidatorFees]:
        scope = self._scope(period, validator)
        exchanges = [self.client.get(f"/validator/{validator.key}", scope=scope, request_key="validator")]
        node = self._validator(exchanges[0], validator).nodePubkey
        epoch = int(period.identifier)
        for page in range(MAX_PAGES):
            exchange = self.client.get(
                f"/validator/{node}/block-rewards-history",
                params={"offset": page * PAGE_LIMIT, "limit": PAGE_LIMIT},
                scope=scope,
                request_key=f"block-rewards-history#{page:04d}",
            )
            exchanges.append(exchange)
            history = self._history(exchange)
            done = (
                len(history.history) < PAGE_LIMIT
                or history.pagination.offset + PAGE_LIMIT >= history.pagination.total
            )
            if done or any(entry.epoch <= epoch for entry in history.history):
                break
        return Fetched(self.parse_fees(exchanges, period, validator), exchanges)

    def _history(self, exchange: Exchange) -> BlockRewardsHistoryBody:
        return validate(
            BlockRewardsHistoryBody,
            exchange.body,
            provider=self.settings.name,
            endpoint="GET /validator/{node}/block-rewards-history",
        )

    def parse_fees(
        self, exchanges: list[Exchange], period: PeriodInfo, validator: ValidatorRef
    ) -> ValidatorFees:
        self._validator(self._exchange(exchanges, "validator"), validator)
        epoch = int(period.identifier)
        entries = [
            entry
            for exchange in numbered(exchanges, "block-rewards-history")
            for entry in self._history(exchange).history
            if entry.epoch == epoch
        ]
        if len(entries) > 1:
            raise ProviderBadResponse(
                provider=self.settings.name,
                endpoint="GET /validator/{node}/block-rewards-history",
                reason=f"{len(entries)} entries for epoch {epoch}",
            )
        if not entries:
            raise ProviderBadResponse(
                provider=self.settings.name,
                endpoint="GET /validator/{node}/block-rewards-history",
                reason=f"no entry for epoch {epoch}",
            )
        entry = entries[0]
        return ValidatorFees(
            validator_key=validator.key,
            period=period.identifier,
            total_fees=entry.fees,
            blocks_scheduled=entry.blocks,
            blocks_produced=entry.blocks,
        )
