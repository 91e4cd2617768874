"""Beacon API (consensus layer): periods and finality, consensus rewards, validator metadata.

Per validator and window (all amounts Gwei on the wire, wei in the values):

* REWARDS: the validator (`states/{last slot}/validators?id=`: index, withdrawal credentials),
  its proposer duties and, for each duty slot with a block, the block's reward
  (`rewards/blocks/{slot}`); attestation rewards of every epoch (`POST rewards/attestations/{epoch}`
  with the validator's index); the sync committees of the window (`states/{slot}/sync_committees`)
  and, where the validator sits in one, its reward in every block of those epochs
  (`POST rewards/sync_committee/{slot}`). A slot without a block earns nothing, with the reason.
* META: the validator in the state before the window and at its last slot (balances, status,
  effective balance, withdrawal credentials).

The validator is looked up by its public key; its index is read from the state, never configured.
Requests are sent one validator at a time (the POST bodies are lists of one index), because each
validator's payloads are staged on their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from ingestion.models import DataType
from ingestion.providers.base import (
    PROBE_SCOPE,
    ChainHead,
    ChainSettings,
    Exchange,
    Fetched,
    PeriodInfo,
    ProbeOutcome,
    ProviderSettings,
    ValidatorMeta,
    ValidatorRef,
    named,
)
from ingestion.providers.errors import ProviderBadResponse
from ingestion.providers.ethereum.common import EthereumAdapter, get_or_absent, is_absent
from ingestion.providers.ethereum.consensus import BeaconReader
from ingestion.providers.ethereum.shapes import (
    AttestationRewardsBody,
    BlockRewardsBody,
    FinalityBody,
    HeaderBody,
    NodeSyncingBody,
    SyncCommitteeBody,
    SyncCommitteeRewardsBody,
    ValidatorEntry,
    ValidatorsBody,
)
from ingestion.providers.ethereum.values import (
    MISSED,
    AttestationReward,
    BeaconValidatorMeta,
    ConsensusRewards,
    ProposerReward,
    SyncCommitteeReward,
    gwei,
    withdrawal_address,
)
from ingestion.providers.ethereum.windows import PeriodRangeError, period_epochs
from ingestion.providers.http import ProviderClient
from ingestion.providers.parsing import validate

HEAD_HEADER = "GET /eth/v1/beacon/headers/head"
NODE_SYNCING = "GET /eth/v1/node/syncing"
FINALITY = "GET /eth/v1/beacon/states/head/finality_checkpoints"
VALIDATORS = "GET /eth/v1/beacon/states/{state_id}/validators"
BLOCK_REWARDS = "GET /eth/v1/beacon/rewards/blocks/{block_id}"
ATTESTATION_REWARDS = "POST /eth/v1/beacon/rewards/attestations/{epoch}"
SYNC_COMMITTEES = "GET /eth/v1/beacon/states/{state_id}/sync_committees"
SYNC_REWARDS = "POST /eth/v1/beacon/rewards/sync_committee/{block_id}"
ACTIVE_STATUSES = frozenset({"active_ongoing", "active_exiting", "active_slashed"})


def unique(exchanges: Sequence[Exchange]) -> list[Exchange]:
    """Each request once (a shared read can be needed twice by one item), in first-seen order."""
    seen: dict[str, Exchange] = {}
    for exchange in exchanges:
        seen.setdefault(exchange.request_key, exchange)
    return list(seen.values())


class BeaconAdapter(EthereumAdapter):
    supplies = frozenset({DataType.REWARDS, DataType.META})
    supplies_periods = True
    probe_call = NODE_SYNCING

    def __init__(self, *, chain: ChainSettings, settings: ProviderSettings, client: ProviderClient) -> None:
        super().__init__(chain=chain, settings=settings, client=client)
        self.reader = BeaconReader(self, client)

    def probe(self, validator: ValidatorRef | None) -> ProbeOutcome:
        """The node is not syncing; its head slot."""
        exchange = self.client.get("/eth/v1/node/syncing", scope=PROBE_SCOPE, request_key="probe")
        state = validate(
            NodeSyncingBody, exchange.body, provider=self.settings.name, endpoint=NODE_SYNCING
        ).data
        if state.is_syncing:
            raise ProviderBadResponse(
                provider=self.settings.name,
                endpoint=NODE_SYNCING,
                reason=(
                    f"the node is syncing: {state.sync_distance:,} slots behind at slot {state.head_slot:,}"
                ),
            )
        return ProbeOutcome(f"synced; head slot {state.head_slot:,}")

    # ---- periods -------------------------------------------------------------------------------

    def chain_head(self) -> Fetched[ChainHead]:
        exchanges = [
            self.client.get("/eth/v1/beacon/headers/head", scope="head", request_key="head-header"),
            self.client.get(
                "/eth/v1/beacon/states/head/finality_checkpoints",
                scope="head",
                request_key="finality-checkpoints",
            ),
        ]
        head_epoch, finalized = self._head(exchanges)
        windows = self.windows()
        return Fetched(
            ChainHead(
                current_period=windows.start_of(head_epoch),
                latest_final_period=windows.latest_final(finalized),
            ),
            exchanges,
        )

    def _head(self, exchanges: Sequence[Exchange]) -> tuple[int, int]:
        """(head epoch, finalized epoch)."""
        header: HeaderBody = self.body(
            HeaderBody, self.exchange(exchanges, "head-header"), HEAD_HEADER, final=False
        )
        finality: FinalityBody = self.body(
            FinalityBody, self.exchange(exchanges, "finality-checkpoints"), FINALITY, final=False
        )
        head_epoch = self.time.epoch_of(header.data.header.message.slot)
        finalized = finality.data.finalized.epoch
        if finalized > head_epoch:
            raise self.bad(FINALITY, f"finalized epoch {finalized} is ahead of the head (epoch {head_epoch})")
        return head_epoch, finalized

    def list_periods(self, first: int, last: int) -> Fetched[list[PeriodInfo]]:
        """The windows first, first + L, ..., last (window starts), with finality from the head."""
        windows = self.windows()
        try:
            identifiers = windows.identifiers(first, last)
        except PeriodRangeError as error:
            # A request naming no window is refused like any bad range. (Imported here: the
            # orchestrator imports the registry, which imports this module.)
            from ingestion.services import IngestionError

            raise IngestionError(f"{self.chain.chain_id}: {error}") from None
        head = self.chain_head()
        _, finalized = self._head(head.exchanges)
        return Fetched([windows.info(identifier, finalized) for identifier in identifiers], head.exchanges)

    # ---- the validator -------------------------------------------------------------------------

    def _state_slots(self, period: PeriodInfo) -> tuple[str, int]:
        """The state before the window (its first slot - 1, or genesis) and at its last slot."""
        first = self.time.first_slot(period.first_index)
        return (str(first - 1) if first > 0 else "genesis"), self.time.last_slot(period.last_index)

    def _fetch_validator(self, state_id: str, pubkey: str, scope: str, request_key: str) -> Exchange:
        return self.client.get(
            f"/eth/v1/beacon/states/{state_id}/validators",
            params={"id": pubkey},
            scope=scope,
            request_key=request_key,
        )

    def _validator(self, exchange: Exchange, pubkey: str, *, required: bool = True) -> ValidatorEntry | None:
        body: ValidatorsBody = self.body(ValidatorsBody, exchange, VALIDATORS)
        rows = [row for row in body.data if row.validator.pubkey.lower() == pubkey]
        if len(rows) != len(body.data):
            raise self.bad(VALIDATORS, "an answer about another validator")
        if len(rows) > 1:
            raise self.bad(VALIDATORS, f"{len(rows)} entries for one validator")
        if not rows and required:
            raise self.bad(VALIDATORS, f"validator {pubkey[:18]}... is not in the beacon state")
        return rows[0] if rows else None

    # ---- REWARDS -------------------------------------------------------------------------------

    def fetch_stake_rewards(
        self, period: PeriodInfo, validator: ValidatorRef
    ) -> Fetched[Any]:  # a ConsensusRewards
        pubkey = self.pubkey(validator)
        scope = self.scope(period, pubkey)
        _, end_state = self._state_slots(period)
        exchanges = [self._fetch_validator(str(end_state), pubkey, scope, "validator")]
        entry = self._validator(exchanges[0], pubkey)
        assert entry is not None  # noqa: S101 (required=True raised otherwise)
        index = str(entry.index)

        exchanges += self.reader.fetch_duties(period)
        for duty in self.reader.duties(exchanges, period, pubkey):
            header = self.reader.fetch_header(period, duty.slot)
            exchanges.append(header)
            if self.reader.header(header, duty.slot) is not None:
                exchanges.append(
                    get_or_absent(
                        self.client,
                        f"/eth/v1/beacon/rewards/blocks/{duty.slot}",
                        scope=scope,
                        request_key=f"block-rewards/{duty.slot}",
                    )
                )

        for epoch in period_epochs(period):
            exchanges.append(
                self.client.post(
                    f"/eth/v1/beacon/rewards/attestations/{epoch}",
                    json=[index],
                    scope=scope,
                    request_key=f"attestation-rewards/{epoch}",
                )
            )

        for committee_period, epochs in self._sync_periods(period).items():
            committee = self._fetch_sync_committee(period, committee_period, epochs[0])
            exchanges.append(committee)
            if entry.index not in self._committee(committee):
                continue
            for epoch in epochs:
                for slot in range(self.time.first_slot(epoch), self.time.last_slot(epoch) + 1):
                    header = self.reader.fetch_header(period, slot)
                    exchanges.append(header)
                    if self.reader.header(header, slot) is not None:
                        exchanges.append(self._fetch_sync_reward(slot, index, scope))
        exchanges = unique(exchanges)
        return Fetched(self.parse_stake_rewards(exchanges, period, validator), exchanges)

    def _sync_periods(self, period: PeriodInfo) -> dict[int, list[int]]:
        """Sync-committee period -> the window's epochs in it."""
        periods: dict[int, list[int]] = {}
        for epoch in period_epochs(period):
            periods.setdefault(self.time.sync_committee_period(epoch), []).append(epoch)
        return periods

    def _fetch_sync_committee(self, period: PeriodInfo, committee_period: int, epoch: int) -> Exchange:
        key = f"sync-committee/{committee_period}"

        def fetch() -> Exchange:
            return self.client.get(
                f"/eth/v1/beacon/states/{self.time.first_slot(epoch)}/sync_committees",
                params={"epoch": epoch},
                scope=period.identifier,
                request_key=key,
            )

        return self.shared.get(period, key, fetch)

    def _committee(self, exchange: Exchange) -> set[int]:
        body: SyncCommitteeBody = self.body(SyncCommitteeBody, exchange, SYNC_COMMITTEES)
        return set(body.data.validators)

    def _fetch_sync_reward(self, slot: int, index: str, scope: str) -> Exchange:
        return get_or_absent(
            self.client,
            f"/eth/v1/beacon/rewards/sync_committee/{slot}",
            json=[index],
            scope=scope,
            request_key=f"sync-committee-rewards/{slot}",
        )

    def parse_stake_rewards(
        self, exchanges: list[Exchange], period: PeriodInfo, validator: ValidatorRef
    ) -> ConsensusRewards:
        pubkey = self.pubkey(validator)
        entry = self._validator(self.exchange(exchanges, "validator"), pubkey)
        assert entry is not None  # noqa: S101
        record = entry.validator
        return ConsensusRewards(
            validator_key=validator.key,
            period=period.identifier,
            validator_index=entry.index,
            withdrawal_credentials=record.withdrawal_credentials.lower(),
            withdrawal_address=withdrawal_address(record.withdrawal_credentials),
            effective_balance=gwei(record.effective_balance),
            status=entry.status,
            attestations=self._attestations(exchanges, period, entry),
            proposals=self._proposals(exchanges, period, pubkey, entry.index),
            sync_committee=(sync := self._sync_rewards(exchanges, period, entry.index)) or (),
            in_sync_committee=sync is not None,
        )

    def _proposals(
        self, exchanges: list[Exchange], period: PeriodInfo, pubkey: str, index: int
    ) -> tuple[ProposerReward, ...]:
        proposals = []
        for duty in self.reader.duties(exchanges, period, pubkey):
            slot = duty.slot
            if duty.validator_index != index:
                raise self.bad("GET /eth/v1/validator/duties/proposer/{epoch}", "duty under another index")
            header = self.reader.header(self.exchange(exchanges, self.reader.header_key(slot)), slot)
            rewards = named(exchanges, f"block-rewards/{slot}")
            if header is None or (rewards is not None and is_absent(rewards)):
                proposals.append(ProposerReward(slot=slot, produced=False, total=0, reason=MISSED))
                continue
            if header.header.message.proposer_index != index:
                raise self.bad(
                    "GET /eth/v1/beacon/headers?slot=",
                    f"slot {slot} was proposed by {header.header.message.proposer_index}, not {index}",
                )
            if rewards is None:
                raise self.bad(BLOCK_REWARDS, f"the reward of block {slot} was not fetched")
            data = self.body(BlockRewardsBody, rewards, BLOCK_REWARDS).data
            if data.proposer_index != index:
                raise self.bad(BLOCK_REWARDS, f"block {slot}'s reward names proposer {data.proposer_index}")
            parts = (
                data.attestations + data.sync_aggregate + data.proposer_slashings + data.attester_slashings
            )
            if parts != data.total:
                raise self.bad(BLOCK_REWARDS, f"block {slot}: the parts do not add up to the total")
            proposals.append(
                ProposerReward(
                    slot=slot,
                    produced=True,
                    total=gwei(data.total),
                    attestations=gwei(data.attestations),
                    sync_aggregate=gwei(data.sync_aggregate),
                    proposer_slashings=gwei(data.proposer_slashings),
                    attester_slashings=gwei(data.attester_slashings),
                )
            )
        return tuple(proposals)

    def _attestations(
        self, exchanges: list[Exchange], period: PeriodInfo, entry: ValidatorEntry
    ) -> tuple[AttestationReward, ...]:
        rewards = []
        record = entry.validator
        for epoch in period_epochs(period):
            body: AttestationRewardsBody = self.body(
                AttestationRewardsBody,
                self.exchange(exchanges, f"attestation-rewards/{epoch}"),
                ATTESTATION_REWARDS,
            )
            totals = body.totals()
            if totals is None:
                raise self.bad(ATTESTATION_REWARDS, "no total_rewards in the answer")
            rows = [row for row in totals if row.validator_index == entry.index]
            if len(rows) != len(totals) or len(rows) > 1:
                raise self.bad(ATTESTATION_REWARDS, f"epoch {epoch}: rows for other validators or repeated")
            if not rows:
                if record.activation_epoch <= epoch < record.exit_epoch:
                    raise self.bad(ATTESTATION_REWARDS, f"epoch {epoch}: no reward for an active validator")
                continue  # not active that epoch: no attestation duty
            row = rows[0]
            rewards.append(
                AttestationReward(
                    epoch=epoch,
                    head=gwei(row.head),
                    target=gwei(row.target),
                    source=gwei(row.source),
                    inclusion_delay=gwei(row.inclusion_delay or 0),
                    inactivity=gwei(row.inactivity or 0),
                )
            )
        return tuple(rewards)

    def _sync_rewards(
        self, exchanges: list[Exchange], period: PeriodInfo, index: int
    ) -> tuple[SyncCommitteeReward, ...] | None:
        """The validator's reward in every block of the window's epochs where it sat in the sync
        committee; None when it sat in none."""
        rewards: list[SyncCommitteeReward] = []
        member = False
        for committee_period, epochs in self._sync_periods(period).items():
            if index not in self._committee(self.exchange(exchanges, f"sync-committee/{committee_period}")):
                continue
            member = True
            for epoch in epochs:
                for slot in range(self.time.first_slot(epoch), self.time.last_slot(epoch) + 1):
                    rewards.append(self._sync_reward(exchanges, slot, index))
        return tuple(rewards) if member else None

    def _sync_reward(self, exchanges: list[Exchange], slot: int, index: int) -> SyncCommitteeReward:
        header = self.reader.header(self.exchange(exchanges, self.reader.header_key(slot)), slot)
        answer = named(exchanges, f"sync-committee-rewards/{slot}")
        if header is None or (answer is not None and is_absent(answer)):
            return SyncCommitteeReward(slot=slot, reward=0, produced=False, reason=MISSED)
        if answer is None:
            raise self.bad(SYNC_REWARDS, f"the sync-committee reward of block {slot} was not fetched")
        body: SyncCommitteeRewardsBody = self.body(SyncCommitteeRewardsBody, answer, SYNC_REWARDS)
        rows = [row for row in body.data if row.validator_index == index]
        if len(rows) != len(body.data):
            raise self.bad(SYNC_REWARDS, f"block {slot}: rows for other validators")
        if not rows:
            raise self.bad(SYNC_REWARDS, f"block {slot}: no reward for a sync-committee member")
        return SyncCommitteeReward(slot=slot, reward=gwei(sum(row.reward for row in rows)), produced=True)

    # ---- META ----------------------------------------------------------------------------------

    def fetch_meta(
        self, period: PeriodInfo, validator: ValidatorRef
    ) -> Fetched[ValidatorMeta]:  # a BeaconValidatorMeta
        pubkey = self.pubkey(validator)
        scope = self.scope(period, pubkey)
        start_state, end_state = self._state_slots(period)
        exchanges = [
            self._fetch_validator(start_state, pubkey, scope, "validator-start"),
            self._fetch_validator(str(end_state), pubkey, scope, "validator"),
        ]
        return Fetched(self.parse_meta(exchanges, period, validator), exchanges)

    def parse_meta(
        self, exchanges: list[Exchange], period: PeriodInfo, validator: ValidatorRef
    ) -> BeaconValidatorMeta:
        pubkey = self.pubkey(validator)
        start = self._validator(self.exchange(exchanges, "validator-start"), pubkey, required=False)
        end = self._validator(self.exchange(exchanges, "validator"), pubkey)
        assert end is not None  # noqa: S101
        record = end.validator
        active = end.status in ACTIVE_STATUSES
        return BeaconValidatorMeta(
            validator_key=validator.key,
            period=period.identifier,
            commission_bps=0,
            active_stake=Decimal(gwei(record.effective_balance) if active else 0),
            validator_index=end.index,
            status=end.status,
            status_at_start=start.status if start else None,
            balance_start=gwei(start.balance) if start else None,
            balance_end=gwei(end.balance),
            effective_balance=gwei(record.effective_balance),
            withdrawal_credentials=record.withdrawal_credentials.lower(),
            withdrawal_address=withdrawal_address(record.withdrawal_credentials),
            slashed=record.slashed,
            activation_epoch=record.activation_epoch,
            exit_epoch=record.exit_epoch,
        )
