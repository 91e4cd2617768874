"""A deterministic, simulated Solana cluster that answers like the real providers (no network).

`SimulatedSolana` serves four providers through `httpx.MockTransport`: the Solana JSON-RPC
(`solana-rpc`), Jito's Kobe API (`jito`), Stakewiz (`stakewiz`) and Solana Beach (`solanabeach`).
Every answer is a pure function of (seed, validator specs, epoch range, current epoch, request):
pseudo-randomness comes from sha256 of labelled strings, never from `random`, so two instances
built with the same arguments answer byte for byte the same. Nothing is generated up front;
per (validator, epoch) results are computed on first use and cached, so a world of 50 validators
x 2,000 stake accounts answers a full epoch's requests quickly. All amounts are integer lamports.

The world, in short (see `providers.md` for the real semantics being imitated):

* Epochs of 432,000 slots from slot 0 (no warm-up); slot s lasts 400 ms, so its block time is
  `BASE_TIME + (s - BASE_SLOT) * 2 // 5` with epoch 850 starting at 2025-09-22T00:00:00Z.
* Each simulated validator has `stake_account_count` stake accounts: two belong to the operator
  (withdrawer = `operator_withdraw_authority`), a few whales hold about 35% of the stake and the
  rest is spread log-uniformly (at least 1 SOL each). About 30% of the accounts share their
  withdrawer with other accounts (clients with several accounts, possibly at several validators).
  A few accounts are delegated in `first_epoch + 1` and a few deactivate in `first_epoch + 2`.
* Stake is either fully active or inactive (no warm-up / cool-down fractions): an account
  activated in epoch A earns from epoch A + 1 on; one deactivated in epoch D earns for epochs < D
  (its reward is null from D on) and stays listed by getProgramAccounts with its deactivationEpoch.
* Inflation for epoch E: gross = stake x 6.5%/yr / 182 epochs x credits factor (0.97-1.0, the
  validator's vote credits for E over the maximum), in integers; the split is Agave's
  `commission_split` (both parts floored, the remainder lamport is lost). The staker part is added
  to `delegation.stake` (compounding); the voter parts make the vote account's reward. Stakes
  before `first_epoch` are the base stakes (history before the range is not compounded).
* Leader schedule: each validator gets about stake / 400M SOL x 432,000 slots, in runs of four
  consecutive slots at pseudo-random, non-overlapping positions; the rest of the epoch is led by
  a handful of unrelated "other" validators. 1.5-4.5% of our leader slots are skipped (never the
  first slots of an epoch, which carry the reward distribution). Others never skip.
* Block `Fee` rewards: 2,500 lamports x 1,500-3,500 signatures + 2-50 million lamports of
  priority fees, credited to the leader identity. Jito tips: 2-20 million lamports per produced
  block of a validator running Jito (its tip distribution account's `mev_revenue`).
* "Now" is the moment right after the last epoch became final: the current epoch defaults to
  `last_epoch + 1` and the finalized slot is `first_slot(current) + 44,200` (past the 43,200-slot
  reward distribution window), confirmed 32 and processed 40 slots later.

Deliberate simplifications: getBlock serves `transactionDetails` "none" and "signatures" only;
blocks carry `Fee` rewards and, in an epoch's first block, the `Voting` rewards of the previous
epoch (no per-stake `Staking` entries); no request-size or rate limits are enforced.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import struct
import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import httpx

from demo.simulated.base58 import b58decode, b58encode

SLOTS_PER_EPOCH: Final = 432_000
SLOTS_PER_RUN: Final = 4  # NUM_CONSECUTIVE_LEADER_SLOTS
RUNS_PER_EPOCH: Final = SLOTS_PER_EPOCH // SLOTS_PER_RUN
LAMPORTS_PER_SOL: Final = 1_000_000_000
U64_MAX: Final = 2**64 - 1
STAKE_PROGRAM_ID: Final = "Stake11111111111111111111111111111111111111"
SYSTEM_PROGRAM_ID: Final = "11111111111111111111111111111111"
RENT_EXEMPT_RESERVE: Final = 2_282_880
STAKE_ACCOUNT_SIZE: Final = 200
BASE_EPOCH: Final = 850
BASE_SLOT: Final = BASE_EPOCH * SLOTS_PER_EPOCH
BASE_TIME: Final = 1_758_499_200  # 2025-09-22T00:00:00Z, the first slot of epoch 850
FINALIZED_OFFSET: Final = SLOTS_PER_EPOCH // 10 + 1_000  # distribution window + a margin
CONFIRMED_LEAD: Final = 32
PROCESSED_LEAD: Final = 40
MAX_CREDITS_PER_EPOCH: Final = 16 * SLOTS_PER_EPOCH
# Per-epoch inflation rate = 65/1000 per year / 182 epochs per year x credits_ppm / 10^6.
INFLATION_NUMERATOR: Final = 65
INFLATION_DENOMINATOR: Final = 1000 * 182 * 1_000_000
CLUSTER_STAKE: Final = 400_000_000 * LAMPORTS_PER_SOL
MAX_BLOCK_RANGE: Final = 500_000
VERSION: Final = "2.2.16"
FEATURE_SET: Final = 3_294_202_862
GENESIS_HASH: Final = "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d"
WARMUP_COOLDOWN_RATE: Final = 0.25
OTHER_VALIDATORS: Final = 8
PROVIDERS: Final = ("solana-rpc", "jito", "stakewiz", "solanabeach")
COMMITMENTS: Final = ("processed", "confirmed", "finalized")
JITO_MAX_LIMIT: Final = 10_000
BEACH_MAX_LIMIT: Final = 100
PARSED_CACHE_SIZE: Final = 16  # (validator, epoch) getProgramAccounts answers kept as JSON text
# (continent, country, region, city, asn, organisation, latitude, longitude)
DATA_CENTERS: Final = (
    ("Europe", "Germany", "Hesse", "Frankfurt", 24940, "Hetzner Online GmbH", "50.1109", "8.6821"),
    (
        "North America",
        "United States",
        "Virginia",
        "Ashburn",
        16509,
        "Amazon.com, Inc.",
        "39.0438",
        "-77.4874",
    ),
    (
        "Europe",
        "Netherlands",
        "North Holland",
        "Amsterdam",
        20473,
        "The Constant Company, LLC",
        "52.3676",
        "4.9041",
    ),
    ("Asia", "Japan", "Tokyo", "Tokyo", 2516, "KDDI CORPORATION", "35.6762", "139.6503"),
    ("Europe", "United Kingdom", "England", "London", 54825, "Packet Host, Inc.", "51.5072", "-0.1276"),
)

Json = Any


# ---- public value types ------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulatedValidator:
    """One validator of the simulated world (the operator's or a partner's)."""

    vote_pubkey: str
    node_pubkey: str
    name: str
    stake_account_count: int
    total_stake_lamports: int  # approximate total delegated at the first epoch
    commission_by_epoch: Mapping[int, int] = field(hash=False)  # percent in force from that epoch on
    mev_commission_bps: int
    runs_jito: bool

    def commission(self, epoch: int) -> int:
        """The inflation commission (percent) in force during `epoch`."""
        starts = [start for start in self.commission_by_epoch if start <= epoch]
        key = max(starts) if starts else min(self.commission_by_epoch)
        return self.commission_by_epoch[key]


@dataclass(frozen=True)
class SimulatedStakeAccount:
    """Ground truth for one stake account during one epoch (lamports).

    `stake` is `delegation.stake` during the epoch and `lamports` the balance before the epoch's
    reward is credited; the reward fields are 0 and `post_balance` / `effective_slot` None when
    the account earns nothing that epoch (not active yet, deactivated).
    """

    pubkey: str
    staker: str
    withdrawer: str
    stake: int
    lamports: int
    activation_epoch: int
    deactivation_epoch: int | None  # as visible during the epoch: None until it is deactivated
    earning: bool
    commission: int
    reward_gross: int
    reward_commission: int
    reward_net: int
    post_balance: int | None
    effective_slot: int | None


# ---- deterministic helpers ---------------------------------------------------------------------


def first_slot(epoch: int) -> int:
    return epoch * SLOTS_PER_EPOCH


def block_time(slot: int) -> int:
    return BASE_TIME + (slot - BASE_SLOT) * 2 // 5


def _digest(seed: int, *parts: object) -> bytes:
    return hashlib.sha256(":".join([str(seed), *map(str, parts)]).encode()).digest()


def _number(seed: int, *parts: object) -> int:
    return int.from_bytes(_digest(seed, *parts)[:8], "big")


def _pubkey(seed: int, *parts: object) -> str:
    return b58encode(_digest(seed, "pubkey", *parts))


def _decimal(numerator: int, denominator: int, places: int) -> float:
    """numerator / denominator rounded half up to `places` decimals, built from integers."""
    scaled = (numerator * 10**places * 2 + denominator) // (2 * denominator)
    whole, fraction = divmod(scaled, 10**places)
    return float(f"{whole}.{fraction:0{places}d}") if places else float(whole)


def _sol(lamports: int) -> float:
    """Lamports as a SOL float, the way Stakewiz reports stake (display only, never summed)."""
    return float(f"{lamports // LAMPORTS_PER_SOL}.{lamports % LAMPORTS_PER_SOL:09d}")


def _is_pubkey(text: object) -> bool:
    if not isinstance(text, str) or not 32 <= len(text) <= 44:
        return False
    try:
        return len(b58decode(text)) == 32
    except ValueError:
        return False


class _RawJson(str):
    """JSON text to embed as is (a cached getProgramAccounts answer)."""


def _json_text(body: Json) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _json_bytes(body: Json) -> bytes:
    return _json_text(body).encode()


def _json_response(status: int, body: Json) -> httpx.Response:
    return httpx.Response(
        status, content=_json_bytes(body), headers={"content-type": "application/json; charset=utf-8"}
    )


def _raw_response(status: int, text: str) -> httpx.Response:
    return httpx.Response(
        status, content=text.encode(), headers={"content-type": "application/json; charset=utf-8"}
    )


def _answer_text(answer: dict[str, Json]) -> str:
    """One JSON-RPC answer as text, embedding a cached result as is."""
    result = answer.get("result")
    if isinstance(result, _RawJson):
        return '{"jsonrpc":"2.0","result":' + result + ',"id":' + _json_text(answer["id"]) + "}"
    return _json_text(answer)


def _text_response(status: int, text: str) -> httpx.Response:
    return httpx.Response(
        status, content=text.encode(), headers={"content-type": "text/plain; charset=utf-8"}
    )


def _zstd_raw_frame(data: bytes) -> bytes:
    """A valid zstd frame holding `data` in one raw (uncompressed) block; len(data) < 256."""
    header = bytes([0x28, 0xB5, 0x2F, 0xFD, 0x20, len(data)])  # magic, single segment, 1-byte size
    block = (1 | (len(data) << 3)).to_bytes(3, "little")  # last block, raw, size
    return header + block + data


def demo_validators(*, seed: int = 7) -> tuple[SimulatedValidator, ...]:
    """Three validators: 5%, 7% (8% from epoch 852) and 10% commission; the third runs no Jito."""
    specs = (
        ("Aurora Demo Alpha", 90, 150_000, {0: 5}, 800, True),
        ("Aurora Demo Beta", 140, 250_000, {0: 7, 852: 8}, 1_000, True),
        ("Aurora Demo Gamma", 200, 400_000, {0: 10}, 500, False),
    )
    return tuple(
        SimulatedValidator(
            vote_pubkey=_pubkey(seed, "demo-vote", index),
            node_pubkey=_pubkey(seed, "demo-node", index),
            name=name,
            stake_account_count=count,
            total_stake_lamports=sol * LAMPORTS_PER_SOL,
            commission_by_epoch=commissions,
            mev_commission_bps=mev_bps,
            runs_jito=jito,
        )
        for index, (name, count, sol, commissions, mev_bps, jito) in enumerate(specs)
    )


def generated_validators(
    *, validators: int, stake_accounts_per_validator: int, seed: int = 7
) -> tuple[SimulatedValidator, ...]:
    """`validators` validators with 100k-1.1M SOL each, 3-10% commission, 90% running Jito."""
    result = []
    for index in range(validators):
        sol = 100_000 + _number(seed, "gen-stake", index) % 1_000_001
        commission = (3, 5, 5, 7, 8, 10)[_number(seed, "gen-commission", index) % 6]
        result.append(
            SimulatedValidator(
                vote_pubkey=_pubkey(seed, "gen-vote", index),
                node_pubkey=_pubkey(seed, "gen-node", index),
                name=f"Generated Validator {index + 1:03d}",
                stake_account_count=stake_accounts_per_validator,
                total_stake_lamports=sol * LAMPORTS_PER_SOL,
                commission_by_epoch={0: commission},
                mev_commission_bps=(500, 800, 1_000)[_number(seed, "gen-mev", index) % 3],
                runs_jito=_number(seed, "gen-jito", index) % 10 != 0,
            )
        )
    return tuple(result)


# ---- the world (independent of the current epoch) ----------------------------------------------


@dataclass(frozen=True)
class _Account:
    pubkey: str
    key: bytes
    staker: str
    staker_key: bytes
    withdrawer: str
    withdrawer_key: bytes
    base_stake: int
    activation_epoch: int
    deactivation_epoch: int | None  # the epoch of the deactivate instruction
    excess: int  # undelegated lamports above stake + rent reserve

    def earns(self, epoch: int) -> bool:
        return self.activation_epoch < epoch and (
            self.deactivation_epoch is None or epoch < self.deactivation_epoch
        )


@dataclass(frozen=True)
class _EpochRewards:
    stakes: tuple[int, ...]  # delegation.stake during the epoch, per account
    gross: tuple[int, ...]
    voter: tuple[int, ...]
    net: tuple[int, ...]
    commission: int
    vote_reward: int
    active_stake: int
    earning_count: int


@dataclass(frozen=True)
class _Production:
    leader: tuple[int, ...]
    produced: tuple[int, ...]
    skipped: tuple[int, ...]
    fee_prefix: tuple[int, ...]  # cumulative Fee rewards of produced blocks (aligned with produced)
    tips: int


@dataclass(frozen=True)
class _Schedule:
    owner: Mapping[int, int]  # run index in the epoch -> our validator index
    runs: tuple[tuple[int, ...], ...]  # sorted run indices per validator
    skipped: frozenset[int]  # skipped slots of the epoch (ours only; others never skip)
    skipped_sorted: tuple[int, ...]


@dataclass(frozen=True)
class _Other:
    vote_pubkey: str
    node_pubkey: str
    name: str
    stake: int
    commission: int
    runs_jito: bool
    mev_commission_bps: int


class _World:
    """Everything that does not depend on the current epoch, computed lazily and cached."""

    def __init__(
        self,
        *,
        seed: int,
        validators: tuple[SimulatedValidator, ...],
        first_epoch: int,
        last_epoch: int,
        operator: str,
    ) -> None:
        self.seed = seed
        self.validators = validators
        self.first_epoch = first_epoch
        self.last_epoch = last_epoch
        self.operator = operator
        self.operator_key = b58decode(operator)
        self.vote_index = {v.vote_pubkey: i for i, v in enumerate(validators)}
        self.node_index = {v.node_pubkey: i for i, v in enumerate(validators)}
        self.vote_keys = tuple(b58decode(v.vote_pubkey) for v in validators)
        self.history_start = max(0, first_epoch - 3)
        total_accounts = sum(v.stake_account_count for v in validators)
        self.client_pool = max(1, total_accounts * 30 // 100 // 3)
        self.partitions = max(4, -(-total_accounts // 4096))
        self.no_skip_prefix = 1 + self.partitions
        self.skip_bp = tuple(150 + _number(seed, "skip-rate", v.vote_pubkey) % 301 for v in validators)
        self.others = tuple(self._other(index) for index in range(OTHER_VALIDATORS))
        self.other_vote_index = {o.vote_pubkey: i for i, o in enumerate(self.others)}
        self.other_node_index = {o.node_pubkey: i for i, o in enumerate(self.others)}
        cumulative = []
        running = 0
        for other in self.others:
            running += other.stake
            cumulative.append(running)
        self.other_cumulative = tuple(cumulative)
        self._accounts: dict[int, tuple[_Account, ...]] = {}
        self.stake_index: dict[str, tuple[int, int]] = {}  # pubkeys of the accounts built so far
        self._clients: dict[int, tuple[str, bytes]] = {}
        self._rewards: dict[tuple[int, int], _EpochRewards] = {}
        self._schedules: dict[int, _Schedule] = {}
        self._production: dict[tuple[int, int], _Production] = {}
        self._first_heights: dict[int, int] = {}
        self._credits: dict[tuple[int, int], int] = {}
        self._vote_balances: dict[tuple[int, int], int] = {}
        self.parsed_text: OrderedDict[tuple[int, int], str] = OrderedDict()
        self.lock = threading.Lock()

    # -- randomness --

    def number(self, *parts: object) -> int:
        return _number(self.seed, *parts)

    def pubkey(self, *parts: object) -> str:
        return _pubkey(self.seed, *parts)

    def _other(self, index: int) -> _Other:
        return _Other(
            vote_pubkey=self.pubkey("other-vote", index),
            node_pubkey=self.pubkey("other-node", index),
            name=f"Other Validator {index + 1}",
            stake=(2_000_000 + self.number("other-stake", index) % 10_000_001) * LAMPORTS_PER_SOL,
            commission=(0, 5, 7, 10)[self.number("other-commission", index) % 4],
            runs_jito=index % 4 != 3,
            mev_commission_bps=(0, 500, 800, 1_000)[self.number("other-mev", index) % 4],
        )

    # -- stake accounts --

    def _stake_key(self, validator: int, index: int) -> bytes:
        """32 bytes: 26 from a hash, then (validator, index) masked by a hash of those 26 bytes,
        so an address can be traced back to its account without a global index."""
        head = _digest(self.seed, "stake", self.validators[validator].vote_pubkey, index)[:26]
        mask = hashlib.sha256(b"aurora-simulated-stake:" + head).digest()[:6]
        tail = validator.to_bytes(2, "big") + index.to_bytes(4, "big")
        return head + bytes(a ^ b for a, b in zip(tail, mask, strict=True))

    def locate_stake(self, address: str) -> tuple[int, int] | None:
        """(validator index, account index) of one of our stake accounts, else None."""
        known = self.stake_index.get(address)
        if known is not None:
            return known
        try:
            key = b58decode(address)
        except ValueError:
            return None
        if len(key) != 32:
            return None
        mask = hashlib.sha256(b"aurora-simulated-stake:" + key[:26]).digest()[:6]
        tail = bytes(a ^ b for a, b in zip(key[26:], mask, strict=True))
        validator, index = int.from_bytes(tail[:2], "big"), int.from_bytes(tail[2:], "big")
        if validator >= len(self.validators) or index >= self.validators[validator].stake_account_count:
            return None
        return (validator, index) if self._stake_key(validator, index) == key else None

    def _client(self, client: int) -> tuple[str, bytes]:
        found = self._clients.get(client)
        if found is None:
            key = _digest(self.seed, "pubkey", "client", client)
            found = self._clients[client] = (b58encode(key), key)
        return found

    def accounts(self, validator: int) -> tuple[_Account, ...]:
        found = self._accounts.get(validator)
        if found is None:
            found = self._accounts[validator] = self._build_accounts(validator)
        return found

    def _build_accounts(self, validator: int) -> tuple[_Account, ...]:
        spec = self.validators[validator]
        vote, count, first = spec.vote_pubkey, spec.stake_account_count, self.first_epoch
        operators = min(2, count)
        whales = max(1, count // 40) if count >= 8 else 0
        activating = max(1, count // 45) if count >= 12 else 0
        deactivating = activating
        roles = (
            ["operator"] * operators
            + ["whale"] * whales
            + ["activating"] * activating
            + ["deactivating"] * deactivating
        )
        roles += ["holder"] * (count - len(roles))
        roles = roles[:count]

        # One digest per account, cut into eight 32-bit draws:
        # 0 mantissa, 1 exponent, 2 whale weight, 3 shared withdrawer, 4 client, 5 separate staker,
        # 6 age, 7 excess.
        draws = []
        for index in range(count):
            digest = _digest(self.seed, "account", vote, index)
            draws.append([int.from_bytes(digest[k : k + 4], "big") for k in range(0, 32, 4)])
        whale_total = spec.total_stake_lamports * 35 // 100 if whales else 0
        small_total = spec.total_stake_lamports - whale_total
        weights = []
        for role, draw in zip(roles, draws, strict=True):
            if role == "whale":
                weights.append(50 + draw[2] % 51)
            else:
                exponent = 3 if role == "operator" else draw[1] % 4
                weights.append((100 + draw[0] % 900) * 10**exponent)
        # Accounts delegated inside the range come on top of the total at the first epoch.
        whale_weights = sum(w for w, role in zip(weights, roles, strict=True) if role == "whale") or 1
        small_weights = (
            sum(w for w, role in zip(weights, roles, strict=True) if role not in ("whale", "activating")) or 1
        )

        accounts = []
        for index, (role, draw) in enumerate(zip(roles, draws, strict=True)):
            if role == "whale":
                stake = whale_total * weights[index] // whale_weights
            else:
                stake = small_total * weights[index] // small_weights
            stake = max(LAMPORTS_PER_SOL, stake)
            key = self._stake_key(validator, index)
            if role == "operator":
                withdrawer, withdrawer_key = self.operator, self.operator_key
                staker, staker_key = withdrawer, withdrawer_key
            else:
                if draw[3] % 100 < 30:
                    withdrawer, withdrawer_key = self._client(draw[4] % self.client_pool)
                else:
                    withdrawer_key = _digest(self.seed, "pubkey", "withdrawer", vote, index)
                    withdrawer = b58encode(withdrawer_key)
                if draw[5] % 10 == 0:
                    staker_key = _digest(self.seed, "pubkey", "staker", vote, index)
                    staker = b58encode(staker_key)
                else:
                    staker, staker_key = withdrawer, withdrawer_key
            age = {"operator": 100, "whale": 20, "holder": 2, "deactivating": 2}.get(role, 0)
            activation = first + 1 if role == "activating" else max(0, first - age - draw[6] % 500)
            excess = 1_000_000 + (draw[7] // 10) % 400_000_001 if draw[7] % 10 == 0 else 0
            pubkey = b58encode(key)
            self.stake_index[pubkey] = (validator, index)
            accounts.append(
                _Account(
                    pubkey=pubkey,
                    key=key,
                    staker=staker,
                    staker_key=staker_key,
                    withdrawer=withdrawer,
                    withdrawer_key=withdrawer_key,
                    base_stake=stake,
                    activation_epoch=activation,
                    deactivation_epoch=first + 2 if role == "deactivating" else None,
                    excess=excess,
                )
            )
        return tuple(accounts)

    # -- inflation rewards --

    def credits_ppm(self, validator: int, epoch: int) -> int:
        return 970_000 + self.number("credits", self.validators[validator].vote_pubkey, epoch) % 30_001

    def credits_earned(self, validator: int, epoch: int) -> int:
        return MAX_CREDITS_PER_EPOCH * self.credits_ppm(validator, epoch) // 1_000_000

    def cumulative_credits(self, validator: int, epoch: int) -> int:
        """Vote credits at the end of `epoch`: per-epoch credits from a few epochs before the range,
        a nominal 98.5% of the maximum per epoch before that."""
        key = (validator, epoch)
        found = self._credits.get(key)
        if found is not None:
            return found
        anchor = self.history_start - 1
        base = (
            1_000_000_000 + self.number("credits-base", self.validators[validator].vote_pubkey) % 400_000_000
        )
        if epoch <= anchor:
            value = base - (anchor - epoch) * (MAX_CREDITS_PER_EPOCH * 985 // 1000)
        else:
            value = base + sum(self.credits_earned(validator, e) for e in range(anchor + 1, epoch + 1))
        self._credits[key] = value
        return value

    def rewards(self, validator: int, epoch: int) -> _EpochRewards:
        """Stakes and rewards of `epoch`, compounding from `first_epoch` (base stakes up to it)."""
        found = self._rewards.get((validator, epoch))
        if found is not None:
            return found
        start = epoch
        while start > self.first_epoch and (validator, start - 1) not in self._rewards:
            start -= 1
        previous = self._rewards.get((validator, start - 1)) if start > self.first_epoch else None
        for current in range(start, epoch + 1):
            if previous is None:
                stakes = tuple(a.base_stake for a in self.accounts(validator))
            else:
                stakes = tuple(s + n for s, n in zip(previous.stakes, previous.net, strict=True))
            previous = self._rewards[(validator, current)] = self._compute_rewards(validator, current, stakes)
        return self._rewards[(validator, epoch)]

    def _compute_rewards(self, validator: int, epoch: int, stakes: tuple[int, ...]) -> _EpochRewards:
        commission = self.validators[validator].commission(epoch)
        numerator = INFLATION_NUMERATOR * self.credits_ppm(validator, epoch)
        gross_list, voter_list, net_list = [], [], []
        active = earning = 0
        for account, stake in zip(self.accounts(validator), stakes, strict=True):
            gross = voter = net = 0
            if account.earns(epoch):
                gross = stake * numerator // INFLATION_DENOMINATOR
                # Agave's commission_split: both sides floored; a split that leaves one side
                # without a lamport pays nothing at all.
                voter = gross * commission // 100
                net = gross * (100 - commission) // 100
                if 0 < commission < 100 and (voter == 0 or net == 0):
                    gross = voter = net = 0
                active += stake
                earning += 1
            gross_list.append(gross)
            voter_list.append(voter)
            net_list.append(net)
        return _EpochRewards(
            stakes=stakes,
            gross=tuple(gross_list),
            voter=tuple(voter_list),
            net=tuple(net_list),
            commission=commission,
            vote_reward=sum(voter_list),
            active_stake=active,
            earning_count=earning,
        )

    def stake_effective_slot(self, account: _Account, epoch: int) -> int:
        partition = self.number("partition", account.pubkey, epoch) % self.partitions
        return first_slot(epoch + 1) + 1 + partition

    def vote_balance(self, validator: int, epoch: int) -> int:
        """The vote account's balance after the rewards of `epoch` were credited."""
        key = (validator, epoch)
        found = self._vote_balances.get(key)
        if found is None:
            base = LAMPORTS_PER_SOL + self.number("vote-balance", self.validators[validator].vote_pubkey) % (
                5 * LAMPORTS_PER_SOL
            )
            start = min(epoch, self.first_epoch)
            found = base + sum(self.rewards(validator, e).vote_reward for e in range(start, epoch + 1))
            self._vote_balances[key] = found
        return found

    # -- leader schedule and blocks --

    def schedule(self, epoch: int) -> _Schedule:
        found = self._schedules.get(epoch)
        if found is not None:
            return found
        owner: dict[int, int] = {}
        runs: list[tuple[int, ...]] = []
        for validator, spec in enumerate(self.validators):
            # The spec's stake, not the compounded one: a schedule never needs the stake accounts.
            jitter = 95 + self.number("schedule-jitter", spec.vote_pubkey, epoch) % 11
            count = spec.total_stake_lamports * RUNS_PER_EPOCH * jitter // (CLUSTER_STAKE * 100)
            if len(owner) + count > RUNS_PER_EPOCH * 9 // 10:
                raise ValueError("the simulated validators hold too much stake for one leader schedule")
            mine = []
            for run in range(count):
                position = self.number("leader", spec.vote_pubkey, epoch, run) % RUNS_PER_EPOCH
                while position in owner:
                    position = (position + 1) % RUNS_PER_EPOCH
                owner[position] = validator
                mine.append(position)
            runs.append(tuple(sorted(mine)))
        base = first_slot(epoch)
        skipped = []
        for validator, positions in enumerate(runs):
            rate = self.skip_bp[validator]
            for position in positions:
                for slot in range(base + position * SLOTS_PER_RUN, base + (position + 1) * SLOTS_PER_RUN):
                    if slot - base >= self.no_skip_prefix and self.number("skip", slot) % 10_000 < rate:
                        skipped.append(slot)
        found = _Schedule(
            owner=owner,
            runs=tuple(runs),
            skipped=frozenset(skipped),
            skipped_sorted=tuple(sorted(skipped)),
        )
        self._schedules[epoch] = found
        return found

    def production(self, validator: int, epoch: int) -> _Production:
        key = (validator, epoch)
        found = self._production.get(key)
        if found is not None:
            return found
        schedule = self.schedule(epoch)
        base = first_slot(epoch)
        leader = tuple(
            slot
            for position in schedule.runs[validator]
            for slot in range(base + position * SLOTS_PER_RUN, base + (position + 1) * SLOTS_PER_RUN)
        )
        produced = tuple(slot for slot in leader if slot not in schedule.skipped)
        prefix = []
        running = 0
        for slot in produced:
            running += self.fee(slot)
            prefix.append(running)
        tips = sum(self.tip(slot) for slot in produced) if self.validators[validator].runs_jito else 0
        found = _Production(
            leader=leader,
            produced=produced,
            skipped=tuple(slot for slot in leader if slot in schedule.skipped),
            fee_prefix=tuple(prefix),
            tips=tips,
        )
        self._production[key] = found
        return found

    def other_leader(self, epoch: int, position: int) -> int:
        target = self.number("other-leader", epoch, position) % self.other_cumulative[-1]
        return bisect_right(self.other_cumulative, target)

    def leader(self, slot: int) -> tuple[bool, int]:
        """(is ours, index) of the slot's leader."""
        epoch, index = divmod(slot, SLOTS_PER_EPOCH)
        position = index // SLOTS_PER_RUN
        ours = self.schedule(epoch).owner.get(position)
        if ours is not None:
            return True, ours
        return False, self.other_leader(epoch, position)

    def leader_identity(self, slot: int) -> str:
        ours, index = self.leader(slot)
        return self.validators[index].node_pubkey if ours else self.others[index].node_pubkey

    def is_skipped(self, slot: int) -> bool:
        return slot in self.schedule(slot // SLOTS_PER_EPOCH).skipped

    def fee(self, slot: int) -> int:
        signatures = 1_500 + self.number("signatures", slot) % 2_001
        return 2_500 * signatures + 2_000_000 + self.number("priority-fees", slot) % 48_000_001

    def tip(self, slot: int) -> int:
        return 2_000_000 + self.number("tips", slot) % 18_000_001

    def first_height(self, epoch: int) -> int:
        """Block height of the first slot of `epoch` (that slot is always produced): exact from a
        few epochs before the range, a gap-free estimate before that."""
        anchor = self.history_start
        anchor_height = first_slot(anchor) * 15 // 16
        if epoch <= anchor:
            return anchor_height - (anchor - epoch) * SLOTS_PER_EPOCH
        found = self._first_heights.get(epoch)
        if found is None:
            known = max((e for e in self._first_heights if e < epoch), default=anchor)
            height = self._first_heights.get(known, anchor_height)
            for current in range(known, epoch):
                height += SLOTS_PER_EPOCH - len(self.schedule(current).skipped)
                self._first_heights[current + 1] = height
            found = height
        return found

    def block_height(self, slot: int) -> int:
        epoch = slot // SLOTS_PER_EPOCH
        skipped_before = bisect_left(self.schedule(epoch).skipped_sorted, slot)
        return self.first_height(epoch) + (slot - first_slot(epoch)) - skipped_before

    def parent_slot(self, slot: int) -> int:
        parent = slot - 1
        while parent > 0 and self.is_skipped(parent):
            parent -= 1
        return max(parent, 0)

    def blockhash(self, slot: int) -> str:
        return b58encode(_digest(self.seed, "blockhash", slot))


# ---- the simulator -----------------------------------------------------------------------------


class _RpcError(Exception):
    def __init__(self, code: int, message: str, data: Json = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def body(self) -> dict[str, Json]:
        error: dict[str, Json] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


class _HttpError(Exception):
    def __init__(self, status: int, body: Json) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body


def _describe(value: Json) -> str:
    """A JSON value the way serde names it in 'invalid type' errors."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value}`"
    if isinstance(value, str):
        return f'string "{value}"'
    return "sequence" if isinstance(value, list) else "map"


def _invalid(detail: str) -> _RpcError:
    return _RpcError(-32602, f"Invalid params: {detail}.")


def _u64(value: Json) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(f"invalid type: {_describe(value)}, expected u64")
    if not 0 <= value <= U64_MAX:
        raise _invalid(f"invalid value: {_describe(value)}, expected u64")
    return int(value)


def _pubkey_param(value: Json) -> str:
    if not isinstance(value, str):
        raise _invalid(f"invalid type: {_describe(value)}, expected a string")
    if len(value) > 44:
        raise _RpcError(-32602, "Invalid param: WrongSize")
    try:
        raw = b58decode(value)
    except ValueError:
        raise _RpcError(-32602, "Invalid param: Invalid") from None
    if len(raw) != 32:
        raise _RpcError(-32602, "Invalid param: WrongSize")
    return value


def _arity(params: list[Json], minimum: int, maximum: int) -> None:
    if len(params) < minimum:
        raise _RpcError(-32602, f"`params` should have at least {minimum} argument(s)")
    if len(params) > maximum:
        raise _invalid(f"invalid length {len(params)}, expected at most {maximum} elements in sequence")


def _config(value: Json) -> dict[str, Json]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(f"invalid type: {_describe(value)}, expected struct config")
    commitment = value.get("commitment")
    if commitment is not None and commitment not in COMMITMENTS:
        raise _invalid(
            f"unknown variant `{commitment}`, expected one of `processed`, `confirmed`, `finalized`"
        )
    return value


class SimulatedSolana:
    """A simulated Solana cluster with its Jito, Stakewiz and Solana Beach views (see module doc)."""

    def __init__(
        self,
        *,
        seed: int = 7,
        validators: Sequence[SimulatedValidator] | None = None,
        first_epoch: int = 850,
        last_epoch: int = 853,
        current_epoch: int | None = None,
        operator_withdraw_authority: str | None = None,
        solanabeach_api_key: str = "demo-key",
        leader_schedule_history: int = 10,
    ) -> None:
        if not 0 <= first_epoch <= last_epoch:
            raise ValueError("need 0 <= first_epoch <= last_epoch")
        specs = tuple(validators) if validators is not None else demo_validators(seed=seed)
        self._check(specs)
        operator = operator_withdraw_authority or _pubkey(seed, "operator-withdraw-authority")
        if not _is_pubkey(operator):
            raise ValueError("operator_withdraw_authority is not a base58 public key")
        self._world = _World(
            seed=seed, validators=specs, first_epoch=first_epoch, last_epoch=last_epoch, operator=operator
        )
        self.seed = seed
        self.validators: tuple[SimulatedValidator, ...] = specs
        self.first_epoch = first_epoch
        self.last_epoch = last_epoch
        self.operator_withdraw_authority = operator
        self.solanabeach_api_key = solanabeach_api_key
        self.leader_schedule_history = leader_schedule_history
        self.current_epoch = last_epoch + 1 if current_epoch is None else current_epoch
        if self.current_epoch < 1:
            raise ValueError("current_epoch must be at least 1")
        self._slots: tuple[int, int, int] | None = None

    @staticmethod
    def _check(specs: tuple[SimulatedValidator, ...]) -> None:
        if len({v.vote_pubkey for v in specs}) != len(specs) or len({v.node_pubkey for v in specs}) != len(
            specs
        ):
            raise ValueError("validators need distinct vote and node pubkeys")
        if len(specs) > 65_535:
            raise ValueError("at most 65,535 validators")
        for spec in specs:
            if not (_is_pubkey(spec.vote_pubkey) and _is_pubkey(spec.node_pubkey)):
                raise ValueError(f"{spec.name}: pubkeys must be base58 of 32 bytes")
            if not spec.commission_by_epoch or any(
                not 0 <= c <= 100 for c in spec.commission_by_epoch.values()
            ):
                raise ValueError(f"{spec.name}: commissions must be percents, at least one")
            if not 0 <= spec.mev_commission_bps <= 10_000:
                raise ValueError(f"{spec.name}: mev_commission_bps must be 0-10000")
            if spec.stake_account_count < 0 or spec.total_stake_lamports < 0:
                raise ValueError(f"{spec.name}: negative stake account count or stake")

    @classmethod
    def generated(
        cls,
        *,
        validators: int,
        stake_accounts_per_validator: int,
        seed: int = 7,
        first_epoch: int = 850,
        last_epoch: int = 850,
        current_epoch: int | None = None,
        operator_withdraw_authority: str | None = None,
        solanabeach_api_key: str = "demo-key",
        leader_schedule_history: int = 10,
    ) -> SimulatedSolana:
        """A large world for benchmarks, e.g. 50 validators x 2,000 stake accounts."""
        return cls(
            seed=seed,
            validators=generated_validators(
                validators=validators, stake_accounts_per_validator=stake_accounts_per_validator, seed=seed
            ),
            first_epoch=first_epoch,
            last_epoch=last_epoch,
            current_epoch=current_epoch,
            operator_withdraw_authority=operator_withdraw_authority,
            solanabeach_api_key=solanabeach_api_key,
            leader_schedule_history=leader_schedule_history,
        )

    def at_epoch(self, current_epoch: int) -> SimulatedSolana:
        """The same world seen at another moment (it shares this instance's caches)."""
        if current_epoch < 1:
            raise ValueError("current_epoch must be at least 1")
        view = copy.copy(self)
        view.current_epoch = current_epoch
        view._slots = None
        return view

    # ---- transports --------------------------------------------------------------------------

    def handler(self, provider: str) -> Callable[[httpx.Request], httpx.Response]:
        handlers: dict[str, Callable[[httpx.Request], httpx.Response]] = {
            "solana-rpc": self._solana_rpc,
            "jito": self._jito,
            "stakewiz": self._stakewiz,
            "solanabeach": self._solanabeach,
        }
        if provider not in handlers:
            raise ValueError(f"unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}")
        return handlers[provider]

    def transport(self, provider: str) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler(provider))

    # ---- ground truth ------------------------------------------------------------------------

    def _validator_index(self, vote_pubkey: str) -> int:
        index = self._world.vote_index.get(vote_pubkey)
        if index is None:
            raise ValueError(f"{vote_pubkey} is not a simulated validator's vote account")
        return index

    def validator(self, vote_pubkey: str) -> SimulatedValidator:
        return self.validators[self._validator_index(vote_pubkey)]

    def commission(self, vote_pubkey: str, epoch: int) -> int:
        return self.validator(vote_pubkey).commission(epoch)

    def stake_accounts(self, vote_pubkey: str, epoch: int) -> list[SimulatedStakeAccount]:
        """The validator's stake accounts existing during `epoch`, sorted by pubkey."""
        index = self._validator_index(vote_pubkey)
        rewards = self._world.rewards(index, epoch)
        result = []
        for j, account in enumerate(self._world.accounts(index)):
            if account.activation_epoch > epoch:
                continue
            stake = rewards.stakes[j]
            lamports = RENT_EXEMPT_RESERVE + stake + account.excess
            earning = rewards.net[j] > 0
            deactivation = account.deactivation_epoch
            result.append(
                SimulatedStakeAccount(
                    pubkey=account.pubkey,
                    staker=account.staker,
                    withdrawer=account.withdrawer,
                    stake=stake,
                    lamports=lamports,
                    activation_epoch=account.activation_epoch,
                    deactivation_epoch=deactivation
                    if deactivation is not None and deactivation <= epoch
                    else None,
                    earning=earning,
                    commission=rewards.commission,
                    reward_gross=rewards.gross[j],
                    reward_commission=rewards.voter[j],
                    reward_net=rewards.net[j],
                    post_balance=lamports + rewards.net[j] if earning else None,
                    effective_slot=self._world.stake_effective_slot(account, epoch) if earning else None,
                )
            )
        return sorted(result, key=lambda account: account.pubkey)

    def vote_reward(self, vote_pubkey: str, epoch: int) -> int:
        return self._world.rewards(self._validator_index(vote_pubkey), epoch).vote_reward

    def active_stake(self, vote_pubkey: str, epoch: int) -> int:
        return self._world.rewards(self._validator_index(vote_pubkey), epoch).active_stake

    def leader_slots(self, vote_pubkey: str, epoch: int) -> list[int]:
        return list(self._world.production(self._validator_index(vote_pubkey), epoch).leader)

    def produced_slots(self, vote_pubkey: str, epoch: int) -> list[int]:
        return list(self._world.production(self._validator_index(vote_pubkey), epoch).produced)

    def skipped_slots(self, vote_pubkey: str, epoch: int) -> list[int]:
        return list(self._world.production(self._validator_index(vote_pubkey), epoch).skipped)

    def block_fees(self, vote_pubkey: str, epoch: int) -> int:
        prefix = self._world.production(self._validator_index(vote_pubkey), epoch).fee_prefix
        return prefix[-1] if prefix else 0

    def mev_revenue(self, vote_pubkey: str, epoch: int) -> int:
        return self._world.production(self._validator_index(vote_pubkey), epoch).tips

    @property
    def finalized_slot(self) -> int:
        return self._now()[0]

    def _now(self) -> tuple[int, int, int]:
        """(finalized, confirmed, processed) slots: produced blocks past the distribution window."""
        if self._slots is None:
            nominal = first_slot(self.current_epoch) + FINALIZED_OFFSET
            self._slots = (
                self._produced_at_or_before(nominal),
                self._produced_at_or_before(nominal + CONFIRMED_LEAD),
                self._produced_at_or_before(nominal + PROCESSED_LEAD),
            )
        return self._slots

    def _produced_at_or_before(self, slot: int) -> int:
        while self._world.is_skipped(slot):
            slot -= 1
        return slot

    def _slot_for(self, config: Mapping[str, Json], *, confirmed_at_least: bool = False) -> int:
        commitment = config.get("commitment") or "finalized"
        if confirmed_at_least and commitment == "processed":
            raise _RpcError(-32602, "Method does not support commitment below `confirmed`")
        finalized, confirmed, processed = self._now()
        slot = {"finalized": finalized, "confirmed": confirmed, "processed": processed}[commitment]
        minimum = config.get("minContextSlot")
        if minimum is not None and _u64(minimum) > slot:
            raise _RpcError(-32016, "Minimum context slot has not been reached", {"contextSlot": slot})
        return slot

    # ---- Solana JSON-RPC -----------------------------------------------------------------------

    def _solana_rpc(self, request: httpx.Request) -> httpx.Response:
        if request.method != "POST":
            return _text_response(405, "Used HTTP Method is not allowed. POST or OPTIONS is required")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return _text_response(
                415, "Supplied content type is not allowed. Content-Type: application/json is required"
            )
        try:
            body = json.loads(request.content)
        except (ValueError, UnicodeDecodeError):
            return _json_response(
                400, {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None}
            )
        if isinstance(body, list):
            if not body:
                return _json_response(200, self._rpc_invalid_request(None))
            answers = [_answer_text(answer) for answer in map(self._rpc_call, body) if answer is not None]
            answers.reverse()  # JSON-RPC 2.0 does not promise order: clients must match by id
            return _raw_response(200, "[" + ",".join(answers) + "]") if answers else httpx.Response(200)
        answer = self._rpc_call(body)
        return _raw_response(200, _answer_text(answer)) if answer is not None else httpx.Response(200)

    @staticmethod
    def _rpc_invalid_request(request_id: Json) -> dict[str, Json]:
        return {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid request"}, "id": request_id}

    def _rpc_call(self, call: Json) -> dict[str, Json] | None:
        if not isinstance(call, dict):
            return self._rpc_invalid_request(None)
        request_id = call.get("id")
        valid_id = (
            request_id is None
            or isinstance(request_id, str)
            or (isinstance(request_id, int) and not isinstance(request_id, bool) and request_id >= 0)
        )
        if not valid_id:
            return self._rpc_invalid_request(None)
        method = call.get("method")
        if call.get("jsonrpc") != "2.0" or not isinstance(method, str):
            return self._rpc_invalid_request(request_id)
        if "id" not in call:
            return None  # a notification: no answer
        params = call.get("params")
        try:
            if params is None:
                params = []
            elif not isinstance(params, list):
                raise _invalid(f"invalid type: {_describe(params)}, expected a sequence")
            function = self._rpc_methods().get(method)
            if function is None:
                raise _RpcError(-32601, "Method not found")
            result = function(params)
        except _RpcError as error:
            return {"jsonrpc": "2.0", "error": error.body(), "id": request_id}
        return {"jsonrpc": "2.0", "result": result, "id": request_id}

    def _rpc_methods(self) -> dict[str, Callable[[list[Json]], Json]]:
        return {
            "getBlock": self._get_block,
            "getBlockHeight": self._get_block_height,
            "getBlockProduction": self._get_block_production,
            "getBlockTime": self._get_block_time,
            "getBlocks": self._get_blocks,
            "getBlocksWithLimit": self._get_blocks_with_limit,
            "getEpochInfo": self._get_epoch_info,
            "getEpochSchedule": self._get_epoch_schedule,
            "getFirstAvailableBlock": lambda params: 0,
            "getGenesisHash": lambda params: GENESIS_HASH,
            "getHealth": lambda params: "ok",
            "getInflationReward": self._get_inflation_reward,
            "getLeaderSchedule": self._get_leader_schedule,
            "getProgramAccounts": self._get_program_accounts,
            "getSlot": self._get_slot,
            "getVersion": lambda params: {"feature-set": FEATURE_SET, "solana-core": VERSION},
            "getVoteAccounts": self._get_vote_accounts,
        }

    # -- epochs and slots --

    def _get_epoch_schedule(self, params: list[Json]) -> Json:
        _arity(params, 0, 0)
        return {
            "firstNormalEpoch": 0,
            "firstNormalSlot": 0,
            "leaderScheduleSlotOffset": SLOTS_PER_EPOCH,
            "slotsPerEpoch": SLOTS_PER_EPOCH,
            "warmup": False,
        }

    def _get_epoch_info(self, params: list[Json]) -> Json:
        _arity(params, 0, 1)
        slot = self._slot_for(_config(params[0] if params else None))
        epoch, index = divmod(slot, SLOTS_PER_EPOCH)
        return {
            "absoluteSlot": slot,
            "blockHeight": self._world.block_height(slot),
            "epoch": epoch,
            "slotIndex": index,
            "slotsInEpoch": SLOTS_PER_EPOCH,
            "transactionCount": slot * 1_100,
        }

    def _get_slot(self, params: list[Json]) -> Json:
        _arity(params, 0, 1)
        return self._slot_for(_config(params[0] if params else None))

    def _get_block_height(self, params: list[Json]) -> Json:
        _arity(params, 0, 1)
        return self._world.block_height(self._slot_for(_config(params[0] if params else None)))

    def _get_block_time(self, params: list[Json]) -> Json:
        _arity(params, 1, 1)
        slot = _u64(params[0])
        if slot > self._now()[0]:
            raise _RpcError(-32004, f"Block not available for slot {slot}")
        if self._world.is_skipped(slot):
            raise self._skipped(slot)
        return block_time(slot)

    @staticmethod
    def _skipped(slot: int) -> _RpcError:
        return _RpcError(-32009, f"Slot {slot} was skipped, or missing in long-term storage")

    def _produced_range(self, start: int, end: int, limit: int) -> list[int]:
        found: list[int] = []
        slot = start
        while slot <= end and len(found) < limit:
            if not self._world.is_skipped(slot):
                found.append(slot)
            slot += 1
        return found

    def _get_blocks_with_limit(self, params: list[Json]) -> Json:
        _arity(params, 2, 3)
        start, limit = _u64(params[0]), _u64(params[1])
        top = self._slot_for(_config(params[2] if len(params) > 2 else None), confirmed_at_least=True)
        if limit > MAX_BLOCK_RANGE:
            raise _RpcError(-32602, f"Limit too large; max {MAX_BLOCK_RANGE}")
        return self._produced_range(start, top, limit)

    def _get_blocks(self, params: list[Json]) -> Json:
        _arity(params, 1, 3)
        start = _u64(params[0])
        end_value: Json = None
        config_value: Json = None
        if len(params) > 1:
            if isinstance(params[1], dict):
                config_value = params[1]
            else:
                end_value = params[1]
                config_value = params[2] if len(params) > 2 else None
        top = self._slot_for(_config(config_value), confirmed_at_least=True)
        end = top if end_value is None else min(_u64(end_value), top)
        if end >= start and end - start > MAX_BLOCK_RANGE:
            raise _RpcError(-32602, f"Slot range too large; max {MAX_BLOCK_RANGE}")
        return self._produced_range(start, end, MAX_BLOCK_RANGE + 1)

    # -- blocks --

    def _get_block(self, params: list[Json]) -> Json:
        _arity(params, 1, 2)
        slot = _u64(params[0])
        raw = params[1] if len(params) > 1 else None
        config = {"encoding": raw} if isinstance(raw, str) else _config(raw)
        encoding = config.get("encoding") or "json"
        if encoding not in ("json", "jsonParsed", "base58", "base64"):
            raise _invalid(
                f"unknown variant `{encoding}`, expected one of "
                "`binary`, `base64`, `base58`, `json`, `jsonParsed`"
            )
        details = config.get("transactionDetails") or "full"
        if details not in ("full", "accounts", "signatures", "none"):
            raise _invalid(
                f"unknown variant `{details}`, expected one of `full`, `signatures`, `none`, `accounts`"
            )
        rewards = config.get("rewards", True)
        if not isinstance(rewards, bool):
            raise _invalid(f"invalid type: {_describe(rewards)}, expected a boolean")
        top = self._slot_for(config, confirmed_at_least=True)
        if slot > top:
            raise _RpcError(-32004, f"Block not available for slot {slot}")
        if self._world.is_skipped(slot):
            raise self._skipped(slot)
        version = config.get("maxSupportedTransactionVersion")
        if version is None:
            raise _RpcError(
                -32015,
                "Transaction version (0) is not supported by the requesting client. Please try the request "
                'again with the following configuration parameter: "maxSupportedTransactionVersion": 0',
            )
        _u64(version)
        if details in ("full", "accounts"):
            raise _invalid(
                'the simulated cluster serves blocks with "transactionDetails": "none" or "signatures" only'
            )
        return self._block(slot, rewards=rewards, signatures=details == "signatures")

    def _block(self, slot: int, *, rewards: bool, signatures: bool) -> dict[str, Json]:
        world = self._world
        parent = world.parent_slot(slot)
        block: dict[str, Json] = {
            "blockHeight": world.block_height(slot),
            "blockTime": block_time(slot),
            "blockhash": world.blockhash(slot),
            "parentSlot": parent,
            "previousBlockhash": world.blockhash(parent),
        }
        if signatures:
            count = 1_500 + world.number("signatures", slot) % 2_001
            block["signatures"] = [
                b58encode(
                    _digest(world.seed, "signature", slot, i) + _digest(world.seed, "signature-2", slot, i)
                )
                for i in range(count)
            ]
        if rewards:
            block["rewards"] = self._block_rewards(slot)
        return block

    def _block_rewards(self, slot: int) -> list[Json]:
        world = self._world
        epoch = slot // SLOTS_PER_EPOCH
        ours, index = world.leader(slot)
        fee = world.fee(slot)
        if ours:
            production = world.production(index, epoch)
            position = bisect_left(production.produced, slot)
            node = self.validators[index].node_pubkey
            base = 40 * LAMPORTS_PER_SOL + world.number("node-balance", node, epoch) % (20 * LAMPORTS_PER_SOL)
            balance = base + production.fee_prefix[position]
        else:
            node = world.others[index].node_pubkey
            balance = 500 * LAMPORTS_PER_SOL + world.number("other-balance", slot) % (100 * LAMPORTS_PER_SOL)
        entries: list[Json] = [
            {"pubkey": node, "lamports": fee, "postBalance": balance, "rewardType": "Fee", "commission": None}
        ]
        if slot == first_slot(epoch) and epoch > 0:  # the previous epoch's vote rewards
            for validator, spec in enumerate(self.validators):
                rewards = world.rewards(validator, epoch - 1)
                if rewards.vote_reward > 0:
                    entries.append(
                        {
                            "pubkey": spec.vote_pubkey,
                            "lamports": rewards.vote_reward,
                            "postBalance": world.vote_balance(validator, epoch - 1),
                            "rewardType": "Voting",
                            "commission": rewards.commission,
                        }
                    )
        return entries

    # -- leader schedule and production --

    def _schedule_known(self, epoch: int) -> bool:
        return self.current_epoch - self.leader_schedule_history <= epoch <= self.current_epoch + 1

    def _leader_indices(self, epoch: int, identity: str | None) -> dict[str, list[int]]:
        world = self._world
        result: dict[str, list[int]] = {}
        base = first_slot(epoch)
        if identity is not None:
            ours = world.node_index.get(identity)
            if ours is not None:
                slots = world.production(ours, epoch).leader
                return {identity: [slot - base for slot in slots]} if slots else {}
            if identity not in world.other_node_index:
                return {}
        schedule = world.schedule(epoch)
        for position in range(RUNS_PER_EPOCH):
            owner = schedule.owner.get(position)
            node = (
                self.validators[owner].node_pubkey
                if owner is not None
                else world.others[world.other_leader(epoch, position)].node_pubkey
            )
            if identity is None or node == identity:
                result.setdefault(node, []).extend(
                    range(position * SLOTS_PER_RUN, (position + 1) * SLOTS_PER_RUN)
                )
        return result

    def _get_leader_schedule(self, params: list[Json]) -> Json:
        _arity(params, 0, 2)
        slot: Json = None
        config: dict[str, Json] = {}
        if params and isinstance(params[0], dict):
            config = _config(params[0])
        else:
            slot = params[0] if params else None
            config = _config(params[1] if len(params) > 1 else None)
        context = self._slot_for(config)
        epoch = (context if slot is None else _u64(slot)) // SLOTS_PER_EPOCH
        identity = config.get("identity")
        if identity is not None:
            identity = _pubkey_param(identity)
        if not self._schedule_known(epoch):
            return None
        return self._leader_indices(epoch, identity)

    def _get_block_production(self, params: list[Json]) -> Json:
        _arity(params, 0, 1)
        config = _config(params[0] if params else None)
        slot = self._slot_for(config)
        identity = config.get("identity")
        if identity is not None:
            identity = _pubkey_param(identity)
        requested = config.get("range")
        if requested is None:
            first, last = first_slot(slot // SLOTS_PER_EPOCH), slot
        else:
            if not isinstance(requested, dict) or "firstSlot" not in requested:
                raise _invalid("missing field `firstSlot`")
            first = _u64(requested["firstSlot"])
            last = _u64(requested["lastSlot"]) if requested.get("lastSlot") is not None else slot
            if last < first:
                raise _RpcError(-32602, f"lastSlot, {last}, cannot be less than firstSlot, {first}")
            if last > slot:
                raise _RpcError(-32602, f"lastSlot, {last}, cannot be greater than current slot, {slot}")
        for epoch in range(first // SLOTS_PER_EPOCH, last // SLOTS_PER_EPOCH + 1):
            if not self._schedule_known(epoch):
                raise _RpcError(
                    -32602, f"Invalid slot range: leader schedule for epoch {epoch} is unavailable"
                )
        by_identity: dict[str, list[int]] = {}
        for epoch in range(first // SLOTS_PER_EPOCH, last // SLOTS_PER_EPOCH + 1):
            base = first_slot(epoch)
            for node, indices in self._leader_indices(epoch, identity).items():
                counts = by_identity.setdefault(node, [0, 0])
                for index in indices:
                    if first <= base + index <= last:
                        counts[0] += 1
                        counts[1] += 0 if self._world.is_skipped(base + index) else 1
        return {
            "context": {"apiVersion": VERSION, "slot": slot},
            "value": {
                "byIdentity": {node: counts for node, counts in by_identity.items() if counts[0]},
                "range": {"firstSlot": first, "lastSlot": last},
            },
        }

    # -- vote accounts and rewards --

    def _epoch_credits(self, validator: int | None, other: int | None, slot: int) -> list[list[int]]:
        world = self._world
        epoch, index = divmod(slot, SLOTS_PER_EPOCH)
        entries = []
        for e in range(max(0, epoch - 4), epoch + 1):
            if validator is not None:
                previous = world.cumulative_credits(validator, e - 1)
                earned = world.cumulative_credits(validator, e) - previous
            else:
                label = world.others[other or 0].vote_pubkey
                previous = 900_000_000 + (e - 1) * (MAX_CREDITS_PER_EPOCH * 99 // 100)
                earned = MAX_CREDITS_PER_EPOCH * (970_000 + world.number("credits", label, e) % 30_001)
                earned //= 1_000_000
            if e == epoch:
                earned = earned * index // SLOTS_PER_EPOCH
            entries.append([e, previous + earned, previous])
        return entries

    def _vote_account(self, validator: int | None, other: int | None, slot: int) -> dict[str, Json]:
        world = self._world
        epoch = slot // SLOTS_PER_EPOCH
        if validator is not None:
            spec = self.validators[validator]
            vote, node = spec.vote_pubkey, spec.node_pubkey
            stake, commission = world.rewards(validator, epoch).active_stake, spec.commission(epoch)
        else:
            entry = world.others[other or 0]
            vote, node, stake, commission = (
                entry.vote_pubkey,
                entry.node_pubkey,
                entry.stake,
                entry.commission,
            )
        last_vote = slot - world.number("last-vote", vote, slot) % 3
        return {
            "activatedStake": stake,
            "commission": commission,
            "epochCredits": self._epoch_credits(validator, other, slot),
            "epochVoteAccount": stake > 0,
            "lastVote": last_vote,
            "nodePubkey": node,
            "rootSlot": last_vote - 31 - world.number("root", vote, slot) % 4,
            "votePubkey": vote,
        }

    def _get_vote_accounts(self, params: list[Json]) -> Json:
        _arity(params, 0, 1)
        config = _config(params[0] if params else None)
        slot = self._slot_for(config)
        wanted = config.get("votePubkey")
        if wanted is not None:
            wanted = _pubkey_param(wanted)
        current = []
        for validator, spec in enumerate(self.validators):
            if wanted is None or spec.vote_pubkey == wanted:
                current.append(self._vote_account(validator, None, slot))
        for other, entry in enumerate(self._world.others):
            if wanted is None or entry.vote_pubkey == wanted:
                current.append(self._vote_account(None, other, slot))
        return {"current": current, "delinquent": []}

    def _get_inflation_reward(self, params: list[Json]) -> Json:
        _arity(params, 1, 2)
        if not isinstance(params[0], list):
            raise _invalid(f"invalid type: {_describe(params[0])}, expected a sequence")
        known = self._world.stake_index
        addresses = [
            address
            if isinstance(address, str) and (address in known or address in self._world.vote_index)
            else _pubkey_param(address)
            for address in params[0]
        ]
        config = _config(params[1] if len(params) > 1 else None)
        slot = self._slot_for(config, confirmed_at_least=True)
        epoch_value = config.get("epoch")
        epoch = slot // SLOTS_PER_EPOCH - 1 if epoch_value is None else _u64(epoch_value)
        if epoch >= self.current_epoch:
            raise _RpcError(-32004, f"Block not available for slot {first_slot(epoch + 1)}")
        return [self._inflation_reward(address, epoch) for address in addresses]

    def _inflation_reward(self, address: str, epoch: int) -> Json:
        world = self._world
        validator = world.vote_index.get(address)
        if validator is not None:
            rewards = world.rewards(validator, epoch)
            if rewards.vote_reward <= 0:
                return None
            return {
                "epoch": epoch,
                "effectiveSlot": first_slot(epoch + 1),
                "amount": rewards.vote_reward,
                "postBalance": world.vote_balance(validator, epoch),
                "commission": rewards.commission,
            }
        located = world.locate_stake(address)
        if located is None:
            return None
        validator, index = located
        rewards = world.rewards(validator, epoch)
        net = rewards.net[index]
        if net <= 0:
            return None
        account = world.accounts(validator)[index]
        return {
            "epoch": epoch,
            "effectiveSlot": world.stake_effective_slot(account, epoch),
            "amount": net,
            "postBalance": RENT_EXEMPT_RESERVE + rewards.stakes[index] + account.excess + net,
            "commission": rewards.commission,
        }

    # -- stake accounts --

    def _stake_state(self, validator: int, index: int, epoch: int) -> tuple[int, int, int, int]:
        """(delegated stake, lamports, deactivation epoch or u64::MAX, creditsObserved) now."""
        world = self._world
        account = world.accounts(validator)[index]
        stake = world.rewards(validator, epoch).stakes[index]
        deactivation = account.deactivation_epoch
        shown = deactivation if deactivation is not None and deactivation <= epoch else U64_MAX
        last_earned = epoch - 1 if deactivation is None else min(epoch - 1, deactivation - 1)
        observed_epoch = (
            last_earned if last_earned > account.activation_epoch else account.activation_epoch - 1
        )
        credits = world.cumulative_credits(validator, observed_epoch)
        return stake, RENT_EXEMPT_RESERVE + stake + account.excess, shown, credits

    def _stake_data(self, validator: int, index: int, epoch: int) -> bytes:
        account = self._world.accounts(validator)[index]
        stake, _, deactivation, credits = self._stake_state(validator, index, epoch)
        return struct.pack(
            "<IQ32s32sqQ32s32sQQQdQB3x",
            2,  # StakeStateV2::Stake
            RENT_EXEMPT_RESERVE,
            account.staker_key,
            account.withdrawer_key,
            0,
            0,
            bytes(32),  # custodian: the system program
            self._world.vote_keys[validator],
            stake,
            account.activation_epoch,
            deactivation,
            WARMUP_COOLDOWN_RATE,
            credits,
            0,
        )

    def _parsed_entry(self, validator: int, index: int, epoch: int) -> dict[str, Json]:
        """One stake account in getProgramAccounts' jsonParsed shape (u64s as strings)."""
        account = self._world.accounts(validator)[index]
        vote = self.validators[validator].vote_pubkey
        stake, lamports, deactivation, credits = self._stake_state(validator, index, epoch)
        return {
            "pubkey": account.pubkey,
            "account": {
                "data": {
                    "parsed": {
                        "info": {
                            "meta": {
                                "authorized": {
                                    "staker": account.staker,
                                    "withdrawer": account.withdrawer,
                                },
                                "lockup": {
                                    "custodian": SYSTEM_PROGRAM_ID,
                                    "epoch": 0,
                                    "unixTimestamp": 0,
                                },
                                "rentExemptReserve": str(RENT_EXEMPT_RESERVE),
                            },
                            "stake": {
                                "creditsObserved": credits,
                                "delegation": {
                                    "activationEpoch": str(account.activation_epoch),
                                    "deactivationEpoch": str(deactivation),
                                    "stake": str(stake),
                                    "voter": vote,
                                    "warmupCooldownRate": WARMUP_COOLDOWN_RATE,
                                },
                            },
                        },
                        "type": "delegated",
                    },
                    "program": "stake",
                    "space": STAKE_ACCOUNT_SIZE,
                },
                "executable": False,
                "lamports": lamports,
                "owner": STAKE_PROGRAM_ID,
                "rentEpoch": U64_MAX,
                "space": STAKE_ACCOUNT_SIZE,
            },
        }

    def _parsed_text(self, validator: int, epoch: int) -> str:
        """The JSON text of all the validator's stake accounts, comma-joined (a small LRU cache)."""
        world = self._world
        key = (validator, epoch)
        with world.lock:
            found = world.parsed_text.get(key)
            if found is not None:
                world.parsed_text.move_to_end(key)
                return found
        text = ",".join(
            _json_text(self._parsed_entry(validator, index, epoch))
            for index, account in enumerate(world.accounts(validator))
            if account.activation_epoch <= epoch
        )
        with world.lock:
            world.parsed_text[key] = text
            while len(world.parsed_text) > PARSED_CACHE_SIZE:
                world.parsed_text.popitem(last=False)
        return text

    @staticmethod
    def _memcmp(filter_value: Json) -> tuple[int, bytes]:
        if not isinstance(filter_value, dict) or "offset" not in filter_value or "bytes" not in filter_value:
            raise _invalid("memcmp needs `offset` and `bytes`")
        offset = _u64(filter_value["offset"])
        encoded = filter_value["bytes"]
        encoding = filter_value.get("encoding", "base58")
        if not isinstance(encoded, str):
            raise _invalid(f"invalid type: {_describe(encoded)}, expected a string")
        try:
            if encoding == "base58":
                if len(encoded) > 175:
                    raise ValueError("too long")
                return offset, b58decode(encoded)
            if encoding == "base64":
                return offset, base64.b64decode(encoded, validate=True)
        except ValueError:
            raise _RpcError(-32602, f"Invalid param: invalid {encoding} memcmp bytes") from None
        raise _invalid(f"unknown variant `{encoding}`, expected `base58` or `base64`")

    def _get_program_accounts(self, params: list[Json]) -> Json:
        _arity(params, 1, 2)
        program = _pubkey_param(params[0])
        config = _config(params[1] if len(params) > 1 else None)
        slot = self._slot_for(config)
        epoch = slot // SLOTS_PER_EPOCH
        encoding = config.get("encoding") or "binary"
        if encoding not in ("binary", "base58", "base64", "base64+zstd", "jsonParsed"):
            raise _invalid(
                f"unknown variant `{encoding}`, expected one of `binary`, `base58`, `base64`, `jsonParsed`, "
                "`base64+zstd`"
            )
        data_slice = config.get("dataSlice")
        offset, length = 0, STAKE_ACCOUNT_SIZE
        if data_slice is not None:
            if not isinstance(data_slice, dict) or "offset" not in data_slice or "length" not in data_slice:
                raise _invalid("dataSlice needs `offset` and `length`")
            offset, length = _u64(data_slice["offset"]), _u64(data_slice["length"])
            if encoding == "jsonParsed":
                encoding = "base64"  # a slice cannot be parsed: Agave falls back to base64
        if encoding in ("binary", "base58") and min(length, max(0, STAKE_ACCOUNT_SIZE - offset)) > 128:
            raise _RpcError(
                -32600,
                "Encoded binary (base 58) data should be less than 128 bytes, please use Base64 encoding.",
            )
        filters = config.get("filters") or []
        if not isinstance(filters, list):
            raise _invalid(f"invalid type: {_describe(filters)}, expected a sequence")
        if len(filters) > 4:
            raise _RpcError(-32602, "Too many filters provided; max 4")
        sizes: list[int] = []
        memcmps: list[tuple[int, bytes]] = []
        for item in filters:
            if not isinstance(item, dict) or len(item) != 1:
                raise _invalid("unknown filter; expected `dataSize`, `memcmp` or `tokenAccountState`")
            if "dataSize" in item:
                sizes.append(_u64(item["dataSize"]))
            elif "memcmp" in item:
                memcmps.append(self._memcmp(item["memcmp"]))
            else:
                raise _invalid("unknown filter; expected `dataSize`, `memcmp` or `tokenAccountState`")
        if program != STAKE_PROGRAM_ID or any(size != STAKE_ACCOUNT_SIZE for size in sizes):
            entries: Json = []
        else:
            entries = self._matching_stake_accounts(epoch, memcmps, encoding, offset, length)
        if config.get("withContext"):
            context = {"apiVersion": VERSION, "slot": slot}
            if isinstance(entries, _RawJson):
                return _RawJson('{"context":' + _json_text(context) + ',"value":' + entries + "}")
            return {"context": context, "value": entries}
        return entries

    def _matching_stake_accounts(
        self, epoch: int, memcmps: list[tuple[int, bytes]], encoding: str, offset: int, length: int
    ) -> Json:
        world = self._world
        candidates: Sequence[int] = range(len(self.validators))
        remaining = []
        for position, wanted in memcmps:  # the usual filter by voter narrows to one validator
            if position == 124 and len(wanted) == 32:
                found = world.vote_index.get(b58encode(wanted))
                candidates = [found] if found is not None and found in candidates else []
            else:
                remaining.append((position, wanted))
        memcmps = remaining
        if encoding == "jsonParsed" and not memcmps:
            texts = [text for text in (self._parsed_text(v, epoch) for v in candidates) if text]
            return _RawJson("[" + ",".join(texts) + "]")
        result: list[Json] = []
        for validator in candidates:
            for index, account in enumerate(world.accounts(validator)):
                if account.activation_epoch > epoch:
                    continue
                data = self._stake_data(validator, index, epoch)
                if any(data[p : p + len(w)] != w for p, w in memcmps):
                    continue
                if encoding == "jsonParsed":
                    result.append(self._parsed_entry(validator, index, epoch))
                    continue
                piece = data[offset : offset + length]
                if encoding == "base64":
                    encoded: Json = [base64.b64encode(piece).decode(), "base64"]
                elif encoding == "base64+zstd":
                    encoded = [base64.b64encode(_zstd_raw_frame(piece)).decode(), "base64+zstd"]
                elif encoding == "base58":
                    encoded = [b58encode(piece), "base58"]
                else:
                    encoded = b58encode(piece)  # legacy "binary": a bare base58 string
                result.append(
                    {
                        "pubkey": account.pubkey,
                        "account": {
                            "data": encoded,
                            "executable": False,
                            "lamports": self._stake_state(validator, index, epoch)[1],
                            "owner": STAKE_PROGRAM_ID,
                            "rentEpoch": U64_MAX,
                            "space": STAKE_ACCOUNT_SIZE,
                        },
                    }
                )
        return result

    # ---- Jito Kobe -----------------------------------------------------------------------------

    def _jito(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.rstrip("/")
        try:
            if request.method not in ("GET", "POST"):
                raise _HttpError(405, {"error": "Method Not Allowed"})
            query = self._jito_query(request)
            if path == "/api/v1/validator_rewards":
                return _json_response(200, self._jito_validator_rewards(query))
            if path == "/api/v1/staker_rewards":
                return _json_response(200, self._jito_staker_rewards(query))
            if path == "/api/v1/validators":
                return _json_response(200, self._jito_validators(query))
            prefix = "/api/v1/validators/"
            if path.startswith(prefix) and "/" not in path[len(prefix) :] and request.method == "GET":
                return _json_response(200, self._jito_history(path[len(prefix) :]))
            raise _HttpError(404, {"error": "Not Found"})
        except _HttpError as error:
            return _json_response(error.status, error.body)

    @staticmethod
    def _jito_query(request: httpx.Request) -> dict[str, str]:
        query = dict(request.url.params.items())
        if request.method == "POST" and request.content:
            try:
                body = json.loads(request.content)
            except (ValueError, UnicodeDecodeError):
                raise _HttpError(400, {"error": "Invalid JSON body"}) from None
            if not isinstance(body, dict):
                raise _HttpError(400, {"error": "Invalid JSON body"})
            query.update({key: str(value) for key, value in body.items() if value is not None})
        return query

    @staticmethod
    def _int_query(query: Mapping[str, str], name: str, default: int | None) -> int | None:
        value = query.get(name)
        if value is None or value == "":
            return default
        if not value.isdigit():
            raise _HttpError(400, {"error": f"Invalid value for `{name}`: expected a non-negative integer"})
        return int(value)

    def _page(self, query: Mapping[str, str], rows: list[Json]) -> tuple[list[Json], int]:
        page = self._int_query(query, "page", 1) or 0
        limit = self._int_query(query, "limit", 100) or 0
        if page < 1 or not 1 <= limit <= JITO_MAX_LIMIT:
            raise _HttpError(400, {"error": f"page must be >= 1 and limit between 1 and {JITO_MAX_LIMIT}"})
        order = query.get("sort_order", "desc").lower()
        if order not in ("asc", "desc"):
            raise _HttpError(400, {"error": "sort_order must be asc or desc"})
        if order == "asc":
            rows = list(reversed(rows))
        return rows[(page - 1) * limit : page * limit], len(rows)

    def _completed_epochs(self, epoch: int | None) -> list[int]:
        if epoch is not None:
            return [epoch] if epoch < self.current_epoch else []
        return list(range(self.current_epoch - 1, self._world.history_start - 1, -1))

    def _jito_validator_rewards(self, query: Mapping[str, str]) -> Json:
        vote = query.get("vote_account")
        epochs = self._completed_epochs(self._int_query(query, "epoch", None))
        rows: list[Json] = []
        for epoch in epochs:  # newest first
            for validator, spec in enumerate(self.validators):
                if (vote is not None and spec.vote_pubkey != vote) or not spec.runs_jito:
                    continue
                rows.append(
                    {
                        "vote_account": spec.vote_pubkey,
                        "mev_revenue": self._world.production(validator, epoch).tips,
                        "mev_commission": spec.mev_commission_bps,
                        "priority_fee_revenue": 0,
                        "priority_fee_commission": None,
                        "num_stakers": self._world.rewards(validator, epoch).earning_count,
                        "epoch": epoch,
                        "claim_status_account": self._world.pubkey("claim-status", spec.vote_pubkey, epoch),
                    }
                )
        page, total = self._page(query, rows)
        return {"rewards": page, "total_count": total}

    def _jito_staker_rewards(self, query: Mapping[str, str]) -> Json:
        vote = query.get("validator_vote_account")
        authority = query.get("stake_authority")
        epochs = self._completed_epochs(self._int_query(query, "epoch", None))
        world = self._world
        rows: list[Json] = []
        for epoch in epochs:
            for validator, spec in enumerate(self.validators):
                if (vote is not None and spec.vote_pubkey != vote) or not spec.runs_jito:
                    continue
                revenue = world.production(validator, epoch).tips
                rewards = world.rewards(validator, epoch)
                own = revenue * spec.mev_commission_bps // 10_000
                leaves: list[tuple[int, str, str, str]] = [
                    (own, spec.vote_pubkey, SYSTEM_PROGRAM_ID, SYSTEM_PROGRAM_ID)
                ]
                for index, account in enumerate(world.accounts(validator)):
                    if rewards.net[index] > 0 and rewards.active_stake:
                        amount = (revenue - own) * rewards.stakes[index] // rewards.active_stake
                        leaves.append((amount, account.pubkey, account.staker, account.withdrawer))
                leaves.sort(key=lambda leaf: (-leaf[0], leaf[1]))
                for amount, claimant, staker, withdrawer in leaves:
                    if authority is not None and staker != authority:
                        continue
                    rows.append(
                        {
                            "claimant": claimant,
                            "stake_authority": staker,
                            "withdraw_authority": withdrawer,
                            "validator_vote_account": spec.vote_pubkey,
                            "epoch": epoch,
                            "amount": amount,
                            "claim_status_account": world.pubkey("claim-status", claimant, epoch),
                            "priority_fee_amount": None,
                            "priority_fee_claim_status_account": None,
                        }
                    )
        page, total = self._page(query, rows)
        return {"rewards": page, "total_count": total}

    def _other_mev(self, other: int, epoch: int) -> int:
        entry = self._world.others[other]
        if not entry.runs_jito or epoch >= self.current_epoch:
            return 0
        return LAMPORTS_PER_SOL + self._world.number("other-mev-rewards", entry.vote_pubkey, epoch) % (
            60 * LAMPORTS_PER_SOL
        )

    def _jito_validators(self, query: Mapping[str, str]) -> Json:
        requested = self._int_query(query, "epoch", None)
        epoch = self.current_epoch if requested is None else requested
        if epoch > self.current_epoch:
            return {"validators": []}
        rows: list[Json] = []
        for validator, spec in enumerate(self.validators):
            mev = self._world.production(validator, epoch).tips if epoch < self.current_epoch else 0
            rows.append(
                {
                    "vote_account": spec.vote_pubkey,
                    "mev_commission_bps": spec.mev_commission_bps if spec.runs_jito else None,
                    "mev_rewards": mev,
                    "priority_fee_commission_bps": 5_000 if spec.runs_jito else None,
                    "priority_fee_rewards": 0 if spec.runs_jito else None,
                    "running_jito": spec.runs_jito,
                    "running_bam": False,
                    "active_stake": self._world.rewards(validator, epoch).active_stake,
                }
            )
        for other, entry in enumerate(self._world.others):
            rows.append(
                {
                    "vote_account": entry.vote_pubkey,
                    "mev_commission_bps": entry.mev_commission_bps if entry.runs_jito else None,
                    "mev_rewards": self._other_mev(other, epoch),
                    "priority_fee_commission_bps": 5_000 if entry.runs_jito else None,
                    "priority_fee_rewards": 0 if entry.runs_jito else None,
                    "running_jito": entry.runs_jito,
                    "running_bam": other == 0,
                    "active_stake": entry.stake,
                }
            )
        return {"validators": rows}

    def _jito_history(self, vote: str) -> Json:
        world = self._world
        epochs = range(self.current_epoch, world.history_start - 1, -1)
        validator = world.vote_index.get(vote)
        if validator is not None:
            spec = self.validators[validator]
            if not spec.runs_jito:
                return []
            return [
                {
                    "epoch": epoch,
                    "mev_commission_bps": spec.mev_commission_bps,
                    "mev_rewards": world.production(validator, epoch).tips
                    if epoch < self.current_epoch
                    else 0,
                    "priority_fee_commission_bps": None,
                    "priority_fee_rewards": None,
                }
                for epoch in epochs
            ]
        other = world.other_vote_index.get(vote)
        if other is None or not world.others[other].runs_jito:
            return []
        return [
            {
                "epoch": epoch,
                "mev_commission_bps": world.others[other].mev_commission_bps,
                "mev_rewards": self._other_mev(other, epoch),
                "priority_fee_commission_bps": None,
                "priority_fee_rewards": None,
            }
            for epoch in epochs
        ]

    # ---- Stakewiz ------------------------------------------------------------------------------

    def _stakewiz(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.rstrip("/")
        if request.method != "GET":
            return _json_response(405, {"error": "Method Not Allowed"})
        if path == "/validators":
            rows = [self._stakewiz_validator(vote) for vote in self._all_votes()]
            return _json_response(200, sorted(rows, key=lambda row: row["rank"]))
        if path.startswith("/validator/") and path.count("/") == 2:
            vote = path[len("/validator/") :]
            if vote in self._world.vote_index or vote in self._world.other_vote_index:
                return _json_response(200, self._stakewiz_validator(vote))
            return _json_response(404, {"error": "Validator not found"})
        return _json_response(404, {"error": "Not Found"})

    def _all_votes(self) -> list[str]:
        return [v.vote_pubkey for v in self.validators] + [o.vote_pubkey for o in self._world.others]

    def _stake_now(self, vote: str) -> int:
        validator = self._world.vote_index.get(vote)
        if validator is not None:
            return self._world.rewards(validator, self.current_epoch).active_stake
        return self._world.others[self._world.other_vote_index[vote]].stake

    def _nominal_stake(self, vote: str) -> int:
        """The spec's stake (ranks the validators without building every stake account)."""
        validator = self._world.vote_index.get(vote)
        if validator is not None:
            return self.validators[validator].total_stake_lamports
        return self._world.others[self._world.other_vote_index[vote]].stake

    def _profile(self, vote: str) -> dict[str, Json]:
        """Descriptive metadata shared by Stakewiz and Solana Beach."""
        world = self._world
        validator = world.vote_index.get(vote)
        if validator is not None:
            spec = self.validators[validator]
            name, node, commission = spec.name, spec.node_pubkey, spec.commission(self.current_epoch)
            jito, mev_bps = spec.runs_jito, spec.mev_commission_bps
        else:
            entry = world.others[world.other_vote_index[vote]]
            name, node, commission = entry.name, entry.node_pubkey, entry.commission
            jito, mev_bps = entry.runs_jito, entry.mev_commission_bps
        slug = "-".join(name.lower().split())
        return {
            "name": name,
            "node": node,
            "commission": commission,
            "jito": jito,
            "mev_bps": mev_bps,
            "slug": slug,
            "website": f"https://{slug}.example.org",
            "icon": f"https://{slug}.example.org/icon.png",
            "details": f"{name}: a simulated validator.",
            "center": DATA_CENTERS[world.number("data-center", vote) % len(DATA_CENTERS)],
        }

    def _stakewiz_validator(self, vote: str) -> dict[str, Json]:
        world = self._world
        profile = self._profile(vote)
        finalized, _, processed = self._now()
        epoch, index = divmod(processed, SLOTS_PER_EPOCH)
        validator = world.vote_index.get(vote)
        other = world.other_vote_index.get(vote)
        account = self._vote_account(validator, other, processed)
        credits = account["epochCredits"][-1]
        stake = self._stake_now(vote)
        ranking = sorted(self._all_votes(), key=lambda v: (-self._nominal_stake(v), v))
        total_stake = sum(self._nominal_stake(v) for v in ranking)
        if validator is not None:
            leader = [s for s in world.production(validator, epoch).leader if s <= finalized]
            skipped = sum(1 for s in leader if world.is_skipped(s))
            scheduled = len(leader)
            ppm = world.credits_ppm(validator, epoch - 1)
        else:
            scheduled, skipped, ppm = 0, 0, 985_000
        skip_rate = _decimal(skipped * 100, scheduled, 2) if scheduled else 0.0
        commission = profile["commission"]
        center = profile["center"]
        return {
            "rank": ranking.index(vote) + 1,
            "identity": profile["node"],
            "vote_identity": vote,
            "last_vote": account["lastVote"],
            "root_slot": account["rootSlot"],
            "credits": credits[1],
            "epoch_credits": credits[1] - credits[2],
            "activated_stake": _sol(stake),
            "version": VERSION,
            "delinquent": False,
            "skip_rate": skip_rate,
            "updated_at": datetime.fromtimestamp(block_time(processed), tz=UTC).strftime(
                "%Y-%m-%d %H:%M:%S.000000+00"
            ),
            "first_epoch_with_stake": 300 + world.number("first-stake-epoch", vote) % 300,
            "name": profile["name"],
            "keybase": profile["slug"],
            "description": profile["details"],
            "website": profile["website"],
            "commission": commission,
            "image": profile["icon"],
            "ip_latitude": center[6],
            "ip_longitude": center[7],
            "ip_city": center[3],
            "ip_country": center[1],
            "ip_asn": f"AS{center[4]}",
            "ip_org": center[5],
            "mod": False,
            "is_jito": profile["jito"],
            "jito_commission_bps": profile["mev_bps"] if profile["jito"] else 0,
            "vote_success": _decimal(ppm, 10_000, 2),
            "uptime": 100.0,
            "stake_weight": _decimal(stake * 100, total_stake, 4),
            "above_halt_line": False,
            "wiz_score": _decimal(ppm * (100 - commission), 1_000_000, 2),
            "apy_estimate": _decimal(650 * ppm * (100 - commission), 10**10, 2),
            "epoch": epoch,
            "epoch_slot_height": index,
        }

    # ---- Solana Beach --------------------------------------------------------------------------

    def _solanabeach(self, request: httpx.Request) -> httpx.Response:
        authorization = request.headers.get("authorization", "")
        if authorization not in (f"Bearer {self.solanabeach_api_key}", self.solanabeach_api_key):
            return _json_response(401, {"err": "Unauthorized"})
        if request.method != "GET":
            return _json_response(405, {"err": "Method not allowed"})
        parts = request.url.path.rstrip("/").split("/")
        try:
            if len(parts) == 4 and parts[:3] == ["", "v1", "validator"]:
                return _json_response(200, self._beach_validator(parts[3]))
            if (
                len(parts) == 5
                and parts[:3] == ["", "v1", "validator"]
                and parts[4] == "block-rewards-history"
            ):
                return _json_response(200, self._beach_history(parts[3], request.url.params))
            raise _HttpError(404, {"err": "Not found"})
        except _HttpError as error:
            return _json_response(error.status, error.body)

    def _beach_validator(self, vote: str) -> Json:
        if vote not in self._world.vote_index and vote not in self._world.other_vote_index:
            raise _HttpError(404, {"err": "Validator not found"})
        profile = self._profile(vote)
        center = profile["center"]
        processed = self._now()[2]
        return {
            "votePubkey": vote,
            "nodePubkey": profile["node"],
            "commission": profile["commission"],
            "lastVote": processed - self._world.number("last-vote", vote, processed) % 3,
            "delinquent": False,
            "name": profile["name"],
            "iconUrl": profile["icon"],
            "website": profile["website"],
            "details": profile["details"],
            "version": VERSION,
            "continent": center[0],
            "country": center[1],
            "region": center[2],
            "city": center[3],
            "asn": center[4],
            "asnOrganization": center[5],
        }

    def _beach_history(self, node: str, params: httpx.QueryParams) -> Json:
        world = self._world
        validator = world.node_index.get(node)
        if validator is None and node not in world.other_node_index:
            raise _HttpError(404, {"err": "Validator not found"})
        try:
            offset = int(params.get("offset", "0"))
            limit = int(params.get("limit", "10"))
        except ValueError:
            raise _HttpError(400, {"err": "offset and limit must be integers"}) from None
        if offset < 0 or not 1 <= limit <= BEACH_MAX_LIMIT:
            raise _HttpError(400, {"err": f"limit must be between 1 and {BEACH_MAX_LIMIT}"})
        epochs = list(range(self.current_epoch - 1, world.history_start - 1, -1))
        if validator is None:
            epochs = []  # other validators' block history is not simulated
        history = []
        for epoch in epochs[offset : offset + limit]:
            production = world.production(validator or 0, epoch)
            history.append(
                {
                    "epoch": epoch,
                    "blocks": len(production.produced),
                    "fees": production.fee_prefix[-1] if production.fee_prefix else 0,
                }
            )
        return {"history": history, "pagination": {"total": len(epochs), "offset": offset, "limit": limit}}
