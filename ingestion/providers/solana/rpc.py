"""Solana JSON-RPC: epochs and finality, vote accounts, inflation rewards, stake accounts, block fees.

Everything is read at `finalized` commitment. Amounts stay integers in lamports.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field

from ingestion.models import DataType
from ingestion.providers.base import (
    PROBE_SCOPE,
    BlockFee,
    ChainHead,
    Exchange,
    Fetched,
    PeriodInfo,
    ProbeOutcome,
    ProviderAdapter,
    StakeAccountReward,
    StakeRewards,
    ValidatorFees,
    ValidatorMeta,
    ValidatorRef,
    named,
    numbered,
)
from ingestion.providers.errors import ProviderBadResponse, ProviderError
from ingestion.providers.http import RpcCall, RpcOutcome
from ingestion.providers.options import ClientOptions
from ingestion.providers.parsing import (
    U64_MAX,
    Percent,
    ProviderModel,
    Pubkey,
    StrictU64,
    convert,
    u64_overflow,
    validate,
)
from ingestion.providers.solana.epochs import EpochSchedule, EpochScheduleBody
from ingestion.providers.solana.shapes import (
    REWARD_U64_FIELDS,
    STAKE_PROGRAM_ID,
    InflationReward,
    ProgramAccount,
)

STAKE_ACCOUNT_SIZE = 200
VOTER_OFFSET = 124
SKIPPED_SLOT_CODES = frozenset({-32007, -32009})
BLOCK_CONFIG = {
    "encoding": "json",
    "transactionDetails": "none",
    "rewards": True,
    "maxSupportedTransactionVersion": 0,
    "commitment": "finalized",
}

# ---- response shapes ----------------------------------------------------------------------------


class EpochInfoBody(ProviderModel):
    absoluteSlot: StrictU64
    epoch: StrictU64
    slotIndex: StrictU64
    slotsInEpoch: StrictU64


class VoteAccountBody(ProviderModel):
    votePubkey: Pubkey
    nodePubkey: Pubkey
    activatedStake: StrictU64
    commission: Percent
    epochVoteAccount: bool
    epochCredits: list[tuple[StrictU64, StrictU64, StrictU64]]
    inflationRewardsCommissionBps: Annotated[int, Field(strict=True, ge=0, le=10_000)] | None = None


class VoteAccountsBody(ProviderModel):
    current: list[VoteAccountBody]
    delinquent: list[VoteAccountBody]


@dataclass(frozen=True)
class ListedStake:
    staker: str
    withdrawer: str
    stake: int
    activation_epoch: int
    deactivation_epoch: int | None


class BlockRewardBody(ProviderModel):
    pubkey: Pubkey
    lamports: Annotated[int, Field(strict=True)]
    postBalance: StrictU64
    rewardType: str | None = None
    commission: Percent | None = None


class BlockBody(ProviderModel):
    blockTime: Annotated[int, Field(strict=True)] | None = None
    rewards: list[BlockRewardBody] | None = None


def _epoch_call(method: str, addresses: list[str], epoch: int) -> RpcCall:
    return RpcCall(method, [addresses, {"epoch": epoch, "commitment": "finalized"}])


class SolanaRpcOptions(ClientOptions):
    # Archival calls (getBlock, getInflationReward) per request: some hosts refuse big batches.
    archival_batch_size: Annotated[int, Field(strict=True, ge=1, le=1000)] = 10
    inflation_reward_addresses: Annotated[int, Field(strict=True, ge=1, le=1000)] = 100


class SolanaRpcAdapter(ProviderAdapter):
    Options = SolanaRpcOptions
    chain_family = "solana"
    supplies = frozenset({DataType.FEES, DataType.REWARDS, DataType.META})
    supplies_periods = True
    probe_call = "getHealth, getSlot"

    def probe(self, validator: ValidatorRef | None) -> ProbeOutcome:
        """The node is healthy (getHealth) and has a finalized slot."""
        outcomes, _ = self.client.rpc_batch(
            [RpcCall("getHealth", []), RpcCall("getSlot", [{"commitment": "finalized"}])],
            scope=PROBE_SCOPE,
            request_key="probe",
        )
        for outcome in outcomes:
            if outcome.error is not None:  # getHealth: "Node is behind by N slots" and the like
                raise outcome.error
        name = self.settings.name
        if outcomes[0].result != "ok":
            raise ProviderBadResponse(provider=name, endpoint="getHealth", reason=f"{outcomes[0].result!r}")
        slot = validate(StrictU64, outcomes[1].result, provider=name, endpoint="getSlot")
        return ProbeOutcome(f"healthy; finalized slot {slot:,}")

    @property
    def _reward_chunk(self) -> int:
        return max(1, int(self.settings.options.get("inflation_reward_addresses", 100)))

    @property
    def _archival_batch(self) -> int:
        return max(1, int(self.settings.options.get("archival_batch_size", 10)))

    def _validate(self, shape: Any, data: Any, endpoint: str) -> Any:
        return validate(shape, data, provider=self.settings.name, endpoint=endpoint)

    def _batched(self, exchanges: list[Exchange], request_key: str) -> Iterator[tuple[RpcCall, RpcOutcome]]:
        """Each call of the numbered batches `request_key#NNNN` with its answer."""
        for exchange in numbered(exchanges, request_key):
            sent = exchange.request.get("body")
            if not isinstance(sent, list):
                raise ProviderBadResponse(
                    provider=self.settings.name, endpoint=request_key, reason="not a batch"
                )
            calls = [RpcCall(call["method"], call["params"]) for call in sent]
            yield from zip(calls, self.client.batch_outcomes(exchange.body, calls), strict=True)

    def _result(self, outcome: RpcOutcome) -> Any:
        if outcome.error is not None:
            raise outcome.error
        return outcome.result

    # ---- periods -------------------------------------------------------------------------------

    def _schedule(self, scope: str) -> tuple[EpochSchedule, Exchange]:
        result, exchange = self.client.rpc("getEpochSchedule", [], scope=scope)
        return EpochSchedule.from_body(
            self._validate(EpochScheduleBody, result, "getEpochSchedule")
        ), exchange

    def distribution_slots(self, schedule: EpochSchedule) -> int:
        """Slots after an epoch's end during which its stake rewards are still being credited."""
        configured = self.chain.parameters.get("reward_distribution_slots")
        return int(configured) if configured is not None else schedule.slots_per_epoch // 10

    def chain_head(self) -> Fetched[ChainHead]:
        schedule, schedule_exchange = self._schedule("head")
        outcomes, exchanges = self.client.rpc_batch(
            [
                RpcCall("getEpochInfo", [{"commitment": "finalized"}]),
                RpcCall("getSlot", [{"commitment": "finalized"}]),
            ],
            scope="head",
            request_key="head",
        )
        info = self._validate(EpochInfoBody, self._result(outcomes[0]), "getEpochInfo")
        finalized_slot = self._validate(StrictU64, self._result(outcomes[1]), "getSlot")
        return Fetched(self.head_from(schedule, info.epoch, finalized_slot), [schedule_exchange, *exchanges])

    def head_from(self, schedule: EpochSchedule, current_epoch: int, finalized_slot: int) -> ChainHead:
        """Epoch N is final when it is `finality_lag` epochs behind the finalized epoch and its
        rewards, credited at the start of N+1 over a distribution window, are finalized too."""
        candidate = current_epoch - self.chain.finality_lag
        while candidate >= 0 and finalized_slot < schedule.first_slot(
            candidate + 1
        ) + self.distribution_slots(schedule):
            candidate -= 1
        return ChainHead(
            current_period=current_epoch, latest_final_period=candidate if candidate >= 0 else None
        )

    def list_periods(self, first: int, last: int) -> Fetched[list[PeriodInfo]]:
        head = self.chain_head()
        schedule, _ = self._schedule("head")
        exchanges = list(head.exchanges)
        latest_final = head.value.latest_final_period
        periods = []
        for epoch in range(first, last + 1):
            start, end, epoch_exchanges = self._epoch_times(schedule, epoch, head.value.current_period)
            exchanges.extend(epoch_exchanges)
            periods.append(
                PeriodInfo(
                    identifier=str(epoch),
                    first_index=schedule.first_slot(epoch),
                    last_index=schedule.last_slot(epoch),
                    start=start,
                    end=end,
                    is_final=latest_final is not None and epoch <= latest_final,
                )
            )
        return Fetched(periods, exchanges)

    def _epoch_times(
        self, schedule: EpochSchedule, epoch: int, current: int
    ) -> tuple[datetime, datetime, list[Exchange]]:
        """Start = time of the epoch's first block; end = time of the next epoch's first block."""
        boundaries = [epoch, epoch + 1] if epoch < current else [epoch]
        scope = str(epoch)
        outcomes, exchanges = self.client.rpc_batch(
            [
                RpcCall("getBlocksWithLimit", [schedule.first_slot(e), 1, {"commitment": "finalized"}])
                for e in boundaries
            ],
            scope=scope,
            request_key="epoch-first-blocks",
        )
        slots = []
        for outcome in outcomes:
            found = self._validate(list[StrictU64], self._result(outcome), "getBlocksWithLimit")
            if not found:
                raise ProviderBadResponse(
                    provider=self.settings.name,
                    endpoint="getBlocksWithLimit",
                    reason=f"no block found in epoch {epoch}",
                )
            slots.append(found[0])
        time_outcomes, time_exchanges = self.client.rpc_batch(
            [RpcCall("getBlockTime", [slot]) for slot in slots], scope=scope, request_key="epoch-block-times"
        )
        times = [
            datetime.fromtimestamp(self._validate(StrictU64, self._result(outcome), "getBlockTime"), tz=UTC)
            for outcome in time_outcomes
        ]
        if len(times) == 1:  # the epoch is still running: estimate its end at 400 ms per slot
            times.append(times[0] + timedelta(milliseconds=400 * schedule.slots_in(epoch)))
        return times[0], times[1], [*exchanges, *time_exchanges]

    # ---- metadata ------------------------------------------------------------------------------

    def fetch_meta(self, period: PeriodInfo, validator: ValidatorRef) -> Fetched[ValidatorMeta]:
        epoch = int(period.identifier)
        _, exchanges = self.client.rpc_batch(
            [
                RpcCall(
                    "getVoteAccounts",
                    [
                        {
                            "votePubkey": validator.key,
                            "commitment": "finalized",
                            "keepUnstakedDelinquents": True,
                        }
                    ],
                ),
                _epoch_call("getInflationReward", [validator.key], epoch),
            ],
            scope=f"{period.identifier}/{validator.key}",
            request_key="vote-account",
        )
        return Fetched(self.parse_meta(exchanges, period, validator), exchanges)

    def parse_meta(
        self, exchanges: list[Exchange], period: PeriodInfo, validator: ValidatorRef
    ) -> ValidatorMeta:
        calls = [RpcCall("getVoteAccounts", []), RpcCall("getInflationReward", [])]
        outcomes = self.client.batch_outcomes(self._exchange(exchanges, "vote-account#0000").body, calls)
        accounts = self._validate(VoteAccountsBody, self._result(outcomes[0]), "getVoteAccounts")
        matches = [(a, False) for a in accounts.current if a.votePubkey == validator.key]
        matches += [(a, True) for a in accounts.delinquent if a.votePubkey == validator.key]
        if not matches:
            raise ProviderBadResponse(
                provider=self.settings.name,
                endpoint="getVoteAccounts",
                reason=f"vote account {validator.key} not found",
            )
        account, delinquent = matches[0]
        rewards = self._inflation_rewards(self._result(outcomes[1]))
        reward = rewards[0] if rewards else None
        if reward is not None and reward.commission is not None:
            commission_bps = reward.commission * 100  # the rate in force when the epoch's rewards were paid
        elif account.inflationRewardsCommissionBps is not None:
            commission_bps = account.inflationRewardsCommissionBps
        else:
            commission_bps = account.commission * 100
        epoch = int(period.identifier)
        credits = next((c - p for e, c, p in account.epochCredits if e == epoch), None)
        return ValidatorMeta(
            validator_key=validator.key,
            period=period.identifier,
            commission_bps=commission_bps,
            node_pubkey=account.nodePubkey,
            active_stake=Decimal(account.activatedStake),
            delinquent=delinquent,
            epoch_credits=credits,
        )

    # ---- staking rewards -----------------------------------------------------------------------

    def fetch_stake_rewards(self, period: PeriodInfo, validator: ValidatorRef) -> Fetched[StakeRewards]:
        scope = f"{period.identifier}/{validator.key}"
        _, accounts_exchange = self.client.rpc(
            "getProgramAccounts",
            [
                STAKE_PROGRAM_ID,
                {
                    "encoding": "jsonParsed",
                    "commitment": "finalized",
                    "filters": [
                        {"dataSize": STAKE_ACCOUNT_SIZE},
                        {"memcmp": {"offset": VOTER_OFFSET, "bytes": validator.key}},
                    ],
                },
            ],
            scope=scope,
            request_key="stake-accounts",
        )
        accounts = self._stake_accounts(accounts_exchange.body, validator)
        addresses = [validator.key, *sorted(accounts)]
        calls = [
            _epoch_call("getInflationReward", addresses[i : i + self._reward_chunk], int(period.identifier))
            for i in range(0, len(addresses), self._reward_chunk)
        ]
        _, reward_exchanges = self.client.rpc_batch(
            calls, scope=scope, request_key="inflation-rewards", batch_size=self._archival_batch
        )
        exchanges = [accounts_exchange, *reward_exchanges]
        return Fetched(self._stake_rewards(accounts, exchanges, period, validator), exchanges)

    def _stake_accounts(self, body: Any, validator: ValidatorRef) -> dict[str, ListedStake]:
        result = self.client.rpc_result(body, "getProgramAccounts")
        name = self.settings.name
        listed: list[ProgramAccount] = convert(
            list[ProgramAccount], result, provider=name, endpoint="getProgramAccounts"
        )
        for index, entry in enumerate(listed):
            if entry.account.lamports > U64_MAX:
                raise u64_overflow(f"{index}.account.lamports", provider=name, endpoint="getProgramAccounts")
        accounts = {}
        for entry in listed:
            info = entry.account.data.parsed.info
            state = info.stake
            if state is None or state.delegation.voter != validator.key:
                continue  # initialized but undelegated, or a node ignoring the filter
            delegation = state.delegation
            stake = int(delegation.stake)
            activation = int(delegation.activationEpoch)
            deactivation = int(delegation.deactivationEpoch)
            if stake > U64_MAX or activation > U64_MAX or deactivation > U64_MAX:
                raise ProviderBadResponse(
                    provider=name, endpoint="getProgramAccounts", reason="a u64 field overflows"
                )
            authorized = info.meta.authorized
            accounts[entry.pubkey] = ListedStake(
                staker=authorized.staker,
                withdrawer=authorized.withdrawer,
                stake=stake,
                activation_epoch=activation,
                deactivation_epoch=None if deactivation == U64_MAX else deactivation,
            )
        return accounts

    def _inflation_rewards(self, result: Any) -> list[InflationReward | None]:
        """One getInflationReward result: a reward or null per address asked, in the same order."""
        name = self.settings.name
        values: list[InflationReward | None] = convert(
            list[InflationReward | None], result, provider=name, endpoint="getInflationReward"
        )
        for index, value in enumerate(values):
            if (
                value is not None
                and max(value.epoch, value.effectiveSlot, value.amount, value.postBalance) > U64_MAX
            ):
                field = next(f for f in REWARD_U64_FIELDS if getattr(value, f) > U64_MAX)
                raise u64_overflow(f"{index}.{field}", provider=name, endpoint="getInflationReward")
        return values

    def row_sources(self, data_type: DataType, exchanges: Sequence[Exchange]) -> dict[str, str]:
        """Each address's getInflationReward batch, so a stake account's row names its payload."""
        if data_type != DataType.REWARDS:
            return {}
        sources = {}
        for exchange in numbered(exchanges, "inflation-rewards"):
            calls = exchange.request.get("body")
            for call in calls if isinstance(calls, list) else []:
                params = call.get("params") if isinstance(call, dict) else None
                if isinstance(params, list) and params and isinstance(params[0], list):
                    for address in params[0]:
                        sources[str(address)] = exchange.request_key
        return sources

    def parse_stake_rewards(
        self, exchanges: list[Exchange], period: PeriodInfo, validator: ValidatorRef
    ) -> StakeRewards:
        accounts = self._stake_accounts(self._exchange(exchanges, "stake-accounts").body, validator)
        return self._stake_rewards(accounts, exchanges, period, validator)

    def _stake_rewards(
        self,
        accounts: dict[str, ListedStake],
        exchanges: list[Exchange],
        period: PeriodInfo,
        validator: ValidatorRef,
    ) -> StakeRewards:
        epoch = int(period.identifier)
        rewards: dict[str, InflationReward | None] = {}
        for call, outcome in self._batched(exchanges, "inflation-rewards"):
            addresses = call.params[0]
            values = self._inflation_rewards(self._result(outcome))
            if len(values) != len(addresses):
                raise ProviderBadResponse(
                    provider=self.settings.name,
                    endpoint="getInflationReward",
                    reason=f"{len(values)} rewards for {len(addresses)} addresses",
                )
            for address, value in zip(addresses, values, strict=True):
                if value is not None and value.epoch != epoch:
                    raise ProviderBadResponse(
                        provider=self.settings.name,
                        endpoint="getInflationReward",
                        reason=f"reward for epoch {value.epoch} where {epoch} was asked",
                    )
                rewards[address] = value
        missing = [address for address in [validator.key, *accounts] if address not in rewards]
        if missing:
            raise ProviderBadResponse(
                provider=self.settings.name,
                endpoint="getInflationReward",
                reason=f"no answer for {len(missing)} address(es)",
            )
        vote = rewards[validator.key]
        stake_accounts = []
        for pubkey in sorted(accounts):
            listed = accounts[pubkey]
            reward = rewards[pubkey]
            stake_accounts.append(
                StakeAccountReward(
                    stake_account=pubkey,
                    staker=listed.staker,
                    withdrawer=listed.withdrawer,
                    delegated_stake=listed.stake,
                    activation_epoch=listed.activation_epoch,
                    deactivation_epoch=listed.deactivation_epoch,
                    reward=None if reward is None else reward.amount,
                    commission_pct=None if reward is None else reward.commission,
                    post_balance=None if reward is None else reward.postBalance,
                    effective_slot=None if reward is None else reward.effectiveSlot,
                )
            )
        return StakeRewards(
            validator_key=validator.key,
            period=period.identifier,
            vote_reward=None if vote is None else vote.amount,
            vote_commission_pct=None if vote is None else vote.commission,
            stake_accounts=tuple(stake_accounts),
        )

    # ---- block fees ----------------------------------------------------------------------------

    def _node_pubkey(self, validator: ValidatorRef, scope: str) -> tuple[str, list[Exchange]]:
        if validator.node_pubkey:
            return validator.node_pubkey, []
        result, exchange = self.client.rpc(
            "getVoteAccounts",
            [{"votePubkey": validator.key, "commitment": "finalized", "keepUnstakedDelinquents": True}],
            scope=scope,
            request_key="node-identity",
        )
        accounts = self._validate(VoteAccountsBody, result, "getVoteAccounts")
        for account in [*accounts.current, *accounts.delinquent]:
            if account.votePubkey == validator.key:
                return account.nodePubkey, [exchange]
        raise ProviderBadResponse(
            provider=self.settings.name,
            endpoint="getVoteAccounts",
            reason=f"vote account {validator.key} not found",
        )

    def fetch_fees(self, period: PeriodInfo, validator: ValidatorRef) -> Fetched[ValidatorFees]:
        scope = f"{period.identifier}/{validator.key}"
        node, exchanges = self._node_pubkey(validator, scope)
        _, schedule_exchange = self.client.rpc(
            "getLeaderSchedule",
            [period.first_index, {"identity": node, "commitment": "finalized"}],
            scope=scope,
            request_key="leader-schedule",
        )
        exchanges.append(schedule_exchange)
        slots = self._leader_slots(schedule_exchange.body, node, period)
        _, block_exchanges = self.client.rpc_batch(
            [RpcCall("getBlock", [slot, BLOCK_CONFIG]) for slot in slots],
            scope=scope,
            request_key="blocks",
            batch_size=self._archival_batch,
        )
        exchanges.extend(block_exchanges)
        return Fetched(self.parse_fees(exchanges, period, ValidatorRef(validator.key, node)), exchanges)

    def _leader_slots(self, body: Any, node: str, period: PeriodInfo) -> list[int]:
        schedule = self._validate(
            dict[str, list[StrictU64]] | None,
            self.client.rpc_result(body, "getLeaderSchedule"),
            "getLeaderSchedule",
        )
        if schedule is None:
            raise ProviderError(
                provider=self.settings.name,
                endpoint="getLeaderSchedule",
                reason=f"this node no longer knows the leader schedule of epoch {period.identifier}",
            )
        slot_count = period.last_index - period.first_index + 1
        indices = schedule.get(node, [])
        if any(index >= slot_count for index in indices):
            raise ProviderBadResponse(
                provider=self.settings.name,
                endpoint="getLeaderSchedule",
                reason="slot index beyond the epoch",
            )
        return sorted(period.first_index + index for index in indices)

    def parse_fees(
        self, exchanges: list[Exchange], period: PeriodInfo, validator: ValidatorRef
    ) -> ValidatorFees:
        node = validator.node_pubkey
        identity = named(exchanges, "node-identity")
        if identity is not None:
            accounts = self._validate(
                VoteAccountsBody,
                self.client.rpc_result(identity.body, "getVoteAccounts"),
                "getVoteAccounts",
            )
            node = next(
                (
                    a.nodePubkey
                    for a in [*accounts.current, *accounts.delinquent]
                    if a.votePubkey == validator.key
                ),
                node,
            )
        if node is None:
            raise ProviderBadResponse(
                provider=self.settings.name, endpoint="getVoteAccounts", reason="node identity unknown"
            )
        slots = self._leader_slots(self._exchange(exchanges, "leader-schedule").body, node, period)
        blocks: dict[int, BlockFee] = {}
        for call, outcome in self._batched(exchanges, "blocks"):
            slot = int(call.params[0])
            blocks[slot] = self._block_fee(slot, outcome, node)
        missing = [slot for slot in slots if slot not in blocks]
        if missing:
            raise ProviderBadResponse(
                provider=self.settings.name,
                endpoint="getBlock",
                reason=f"{len(missing)} leader slot(s) not fetched",
            )
        ordered = tuple(blocks[slot] for slot in slots)
        return ValidatorFees(
            validator_key=validator.key,
            period=period.identifier,
            total_fees=sum(block.amount for block in ordered),
            blocks_scheduled=len(ordered),
            blocks_produced=sum(1 for block in ordered if block.produced),
            blocks=ordered,
        )

    def _block_fee(self, slot: int, outcome: RpcOutcome, node: str) -> BlockFee:
        error = outcome.error
        if error is not None:
            code = getattr(error, "code", None)
            if code in SKIPPED_SLOT_CODES:
                return BlockFee(index=slot, amount=0, produced=False, reason="skipped")
            raise error
        block = self._validate(BlockBody | None, outcome.result, "getBlock")
        if block is None:
            raise ProviderBadResponse(
                provider=self.settings.name, endpoint="getBlock", reason=f"block {slot} is not confirmed yet"
            )
        fee = sum(
            reward.lamports
            for reward in block.rewards or []
            if (reward.rewardType or "").lower() == "fee" and reward.pubkey == node
        )
        if fee < 0:
            raise ProviderBadResponse(
                provider=self.settings.name,
                endpoint="getBlock",
                reason=f"negative fee reward in block {slot}",
            )
        return BlockFee(index=slot, amount=fee, produced=True)
