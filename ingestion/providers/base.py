"""The provider interface: what every adapter offers, and the typed values it returns.

An adapter turns provider responses into typed, validated values. It never writes to the
database: it returns the value together with the exchanges (request + raw response) it came
from, and the orchestrator stages those. Parsing is a pure function of the exchanges, so the
normalizer can parse staged payloads again with the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from ingestion.models import DataType
from ingestion.providers.options import AdapterOptions, ClientOptions

if TYPE_CHECKING:
    from chains.models import Chain, Provider
    from chains.registry import ProviderSpec
    from ingestion.providers.http import ProviderClient

T = TypeVar("T")


@dataclass(frozen=True)
class ProviderSettings:
    """A provider's configuration (from providers.yaml via the registry), independent of the ORM."""

    name: str
    adapter: str
    base_url: str | None = None
    api_version: str | None = None
    api_key_env: str | None = None
    rate_limit_per_minute: int | None = None
    timeout_seconds: float = 30
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_model(cls, provider: Provider) -> ProviderSettings:
        return cls(
            name=provider.provider_name,
            adapter=provider.adapter,
            base_url=provider.base_url,
            api_version=provider.api_version,
            api_key_env=provider.api_key_env,
            rate_limit_per_minute=provider.rate_limit_per_minute,
            timeout_seconds=float(provider.timeout_seconds or 30),
            options=dict(provider.options or {}),
        )

    @classmethod
    def from_spec(cls, name: str, spec: ProviderSpec) -> ProviderSettings:
        """The settings as providers.yaml declares them (no database needed)."""
        return cls(
            name=name,
            adapter=spec.adapter,
            base_url=str(spec.base_url) if spec.base_url else None,
            api_version=spec.api_version,
            api_key_env=spec.api_key_env,
            rate_limit_per_minute=spec.rate_limit_per_minute,
            timeout_seconds=spec.timeout_seconds,
            options=spec.options,
        )

    @property
    def version(self) -> str:
        """What staging records as the provider version: the configured API version, else the adapter."""
        return self.api_version or self.adapter


@dataclass(frozen=True)
class ChainSettings:
    chain_id: str
    finality_lag: int
    parameters: Mapping[str, Any] = field(default_factory=dict)
    period_length_epochs: int | None = None

    @classmethod
    def from_model(cls, chain: Chain) -> ChainSettings:
        return cls(
            chain_id=chain.id,
            finality_lag=chain.finality_lag,
            parameters=dict(chain.parameters or {}),
            period_length_epochs=chain.period_length_epochs,
        )


@dataclass(frozen=True)
class Exchange:
    """One HTTP request and the JSON body it got back, exactly as received.

    `request` describes the call without credentials (no headers, key parameters removed);
    `request_key` tells apart the several requests one item needs (endpoints, pages, batches).
    """

    request_key: str
    request: dict[str, Any]
    status: int
    body: Any
    fetched_at: datetime
    scope: str


def named(exchanges: Sequence[Exchange], request_key: str) -> Exchange | None:
    """The exchange with this request key (parsing must not depend on the order rows come back in)."""
    return next((exchange for exchange in exchanges if exchange.request_key == request_key), None)


def numbered(exchanges: Sequence[Exchange], request_key: str) -> list[Exchange]:
    """The pages or batches of one request (`<key>#0000`, `<key>#0001`, ...), in order."""
    prefix = f"{request_key}#"
    return sorted((e for e in exchanges if e.request_key.startswith(prefix)), key=lambda e: e.request_key)


@dataclass(frozen=True)
class Fetched(Generic[T]):
    value: T
    exchanges: list[Exchange]


@dataclass(frozen=True)
class ValidatorRef:
    """The operator's validator as the adapters need it (Solana: vote account and node identity)."""

    key: str
    node_pubkey: str | None = None


# ---- typed values -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodInfo:
    identifier: str
    first_index: int
    last_index: int
    start: datetime
    end: datetime
    is_final: bool


@dataclass(frozen=True)
class ChainHead:
    """Where the chain is now: the period in progress and the newest final period (None if none)."""

    current_period: int
    latest_final_period: int | None


@dataclass(frozen=True)
class BlockFee:
    index: int  # slot
    amount: int  # base units credited to the validator for the block
    produced: bool
    reason: str = ""  # why a leader slot earned nothing (skipped)


@dataclass(frozen=True)
class ValidatorFees:
    validator_key: str
    period: str
    total_fees: int
    blocks_scheduled: int
    blocks_produced: int
    blocks: tuple[BlockFee, ...] = ()


@dataclass(frozen=True)
class ValidatorMev:
    validator_key: str
    period: str
    total_tips: int  # all MEV tips of the validator's tip distribution for the period
    commission_bps: int  # the validator's MEV commission
    staker_count: int | None = None
    tip_count: int = 0  # tips the total is made of; 0 when the provider reports only amounts
    running_mev_client: bool = True


@dataclass(frozen=True)
class StakeAccountReward:
    stake_account: str
    staker: str
    withdrawer: str
    delegated_stake: int  # delegation.stake in the snapshot
    activation_epoch: int
    deactivation_epoch: int | None
    reward: int | None  # net reward credited for the period (after commission); None if it earned none
    commission_pct: int | None  # commission in force when the reward was credited
    post_balance: int | None
    effective_slot: int | None


@dataclass(frozen=True)
class StakeRewards:
    validator_key: str
    period: str
    vote_reward: int | None  # the vote account's inflation reward: the commission it earned
    vote_commission_pct: int | None
    stake_accounts: tuple[StakeAccountReward, ...]

    @property
    def staker_rewards_total(self) -> int:
        return sum(account.reward or 0 for account in self.stake_accounts)


@dataclass(frozen=True)
class ValidatorMeta:
    validator_key: str
    period: str
    commission_bps: int
    mev_commission_bps: int | None = None
    is_mev_enabled: bool | None = None
    node_pubkey: str | None = None
    display_name: str | None = None
    active_stake: Decimal | None = None  # base units; a provider reporting whole tokens is converted
    delinquent: bool | None = None
    epoch_credits: int | None = None
    delegator_count: int | None = None
    skip_rate_pct: Decimal | None = None


@dataclass(frozen=True)
class ProbeOutcome:
    """What a health probe saw: a line for the operator, and whether it had nothing to ask."""

    detail: str
    skipped: bool = False


# ---- the interface ------------------------------------------------------------------------------


PARSERS = {
    DataType.FEES: "parse_fees",
    DataType.MEV: "parse_mev",
    DataType.REWARDS: "parse_stake_rewards",
    DataType.META: "parse_meta",
}
PROBE_SCOPE = "provider-check"


class ProviderAdapter:
    """One provider of one chain family. Subclasses implement the operations listed in `supplies`."""

    chain_family: ClassVar[str]
    # The `options:` this adapter reads; sync_registry refuses anything else.
    Options: ClassVar[type[AdapterOptions]] = ClientOptions
    supplies: ClassVar[frozenset[DataType]] = frozenset()
    supplies_periods: ClassVar[bool] = False
    # The call `probe` makes, as the provider check reports it; None when the adapter has no probe.
    probe_call: ClassVar[str | None] = None

    def __init__(self, *, chain: ChainSettings, settings: ProviderSettings, client: ProviderClient) -> None:
        self.chain = chain
        self.settings = settings
        self.client = client

    def _exchange(self, exchanges: Sequence[Exchange], request_key: str) -> Exchange:
        exchange = named(exchanges, request_key)
        if exchange is None:
            from ingestion.providers.errors import ProviderBadResponse

            raise ProviderBadResponse(
                provider=self.settings.name, endpoint=request_key, reason="response missing"
            )
        return exchange

    def _unsupported(self, what: str) -> NotImplementedError:
        return NotImplementedError(f"{self.settings.name} ({self.settings.adapter}) does not supply {what}")

    def probe(self, validator: ValidatorRef | None) -> ProbeOutcome:
        """One cheap call through the adapter's client: is the provider usable now? Raises a
        ProviderError when it is not. `validator` is one registered validator, if any."""
        return ProbeOutcome(f"no probe for the {self.settings.adapter} adapter", skipped=True)

    # periods
    def chain_head(self) -> Fetched[ChainHead]:
        raise self._unsupported("periods")

    def list_periods(self, first: int, last: int) -> Fetched[list[PeriodInfo]]:
        raise self._unsupported("periods")

    # per validator and period
    def fetch_fees(self, period: PeriodInfo, validator: ValidatorRef) -> Fetched[ValidatorFees]:
        raise self._unsupported("fees")

    def fetch_mev(self, period: PeriodInfo, validator: ValidatorRef) -> Fetched[ValidatorMev]:
        raise self._unsupported("MEV")

    def fetch_stake_rewards(self, period: PeriodInfo, validator: ValidatorRef) -> Fetched[StakeRewards]:
        raise self._unsupported("staking rewards")

    def fetch_meta(self, period: PeriodInfo, validator: ValidatorRef) -> Fetched[ValidatorMeta]:
        raise self._unsupported("metadata")

    def fetch(self, data_type: DataType, period: PeriodInfo, validator: ValidatorRef) -> Fetched[Any]:
        operations: dict[DataType, Callable[[PeriodInfo, ValidatorRef], Fetched[Any]]] = {
            DataType.FEES: self.fetch_fees,
            DataType.MEV: self.fetch_mev,
            DataType.REWARDS: self.fetch_stake_rewards,
            DataType.META: self.fetch_meta,
        }
        return operations[data_type](period, validator)

    def row_sources(self, data_type: DataType, exchanges: Sequence[Exchange]) -> dict[str, str]:
        """Which exchange (request key) holds each part of a value, where a value is spread over
        several (Solana: the batch holding each stake account's reward). Empty by default."""
        return {}

    # parsing staged exchanges again (normalization); the same code the fetch used
    def parse(
        self, data_type: DataType, exchanges: Sequence[Exchange], period: PeriodInfo, validator: ValidatorRef
    ) -> Any:
        """The typed value from exchanges fetched earlier (e.g. staged payloads), in any order."""
        if data_type not in self.supplies:
            raise self._unsupported(f"parsing of {data_type}")
        parser: Callable[[list[Exchange], PeriodInfo, ValidatorRef], Any] = getattr(self, PARSERS[data_type])
        return parser(list(exchanges), period, validator)
