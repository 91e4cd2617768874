"""A deterministic, simulated Ethereum network that answers like the real providers (no network).

`SimulatedEthereum.handler()` answers, by host, a consensus client's Beacon API, an execution
client's JSON-RPC and the Data API of the seven MEV-Boost relays of `config/providers.yaml`, so
one `httpx.MockTransport` serves every Ethereum provider. Every answer is a pure function of the
seed, the epoch range and the request (sha256 of labelled strings, never `random`).

The world, in short (`providers.md` sections 4-6 describe the real semantics imitated):

* Mainnet time: genesis 1606824023, 32 slots of 12 s per epoch; the data covers epochs
  `first_epoch .. last_epoch` (default 395000-395007, 2025-09-22). "Now" is the head at epoch
  `last_epoch + 7` with the finalized epoch two behind it.
* Four operator validators (`demo_validators`): Alpha and Beta with 0x01 withdrawal credentials
  (two different addresses), Gamma with 0x02 (compounding, 64 ETH effective balance), Delta with
  0x00 (BLS, no withdrawal address yet). Every other slot is proposed by unrelated validators.
* The scripted events (`Scenario`, offsets from `first_epoch`): Alpha builds a block locally in
  epoch +0 and has one delivered by a bloXroute relay in epoch +4; Beta's block in epoch +1 is
  delivered by Flashbots and Ultrasound (the same block hash) while Titan reports another payload
  for that slot that was never included, and Beta builds locally in epoch +5; Gamma misses its
  slot in epoch +2 (Aestus still reports a payload for it) and misses its attestation in epoch +1
  (negative target and source rewards); Delta sits in the sync committee throughout and fails to
  sign two blocks (negative rewards). Another validator misses a slot in epoch +6.
* Unrelated proposers' blocks are mostly relay-built (1-3 relays each).
* Consensus amounts are Gwei: attestation rewards near 2890/5361/2878 (head/target/source) per
  32 ETH of effective balance, block rewards of 30-45 million, sync-committee rewards near 21,744
  per block. Execution amounts are wei; a block's priority fees are exactly
  sum(gasUsed x (effectiveGasPrice - baseFeePerGas)) over its receipts.
* Simplifications: balances move by the rewards as they are earned (the chain credits
  attestations one epoch later and sweeps withdrawals); there are no deposits, exits, slashings
  or withdrawals of operator validators; blocks carry few transactions, attestations and
  withdrawals; hashes are sha256, not keccak; signatures are random bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, Final, Literal

import httpx

GENESIS_TIME: Final = 1_606_824_023
SECONDS_PER_SLOT: Final = 12
SLOTS_PER_EPOCH: Final = 32
EPOCHS_PER_SYNC_COMMITTEE_PERIOD: Final = 256
SYNC_COMMITTEE_SIZE: Final = 512
FAR_FUTURE_EPOCH: Final = 2**64 - 1
GWEI: Final = 10**9
BASE_BLOCK_NUMBER: Final = 23_412_345  # the execution block of `first_epoch`'s first slot
GAS_LIMIT: Final = 36_000_000
BEACON_HOST: Final = "127.0.0.1:5052"
EXECUTION_HOST: Final = "127.0.0.1:8545"
FLASHBOTS: Final = "boost-relay.flashbots.net"
BLOXROUTE_MAX_PROFIT: Final = "bloxroute.max-profit.blxrbdn.com"
BLOXROUTE_REGULATED: Final = "bloxroute.regulated.blxrbdn.com"
ULTRASOUND: Final = "relay.ultrasound.money"
AESTUS: Final = "aestus.live"
AGNOSTIC: Final = "agnostic-relay.net"
TITAN: Final = "titanrelay.xyz"
RELAYS: Final = (FLASHBOTS, BLOXROUTE_MAX_PROFIT, BLOXROUTE_REGULATED, ULTRASOUND, AESTUS, AGNOSTIC, TITAN)
PAYLOADS_PATH: Final = "/relay/v1/data/bidtraces/proposer_payload_delivered"
ACTIVE: Final = "active_ongoing"

Json = Any
BlockKind = Literal["local", "relay", "missed"]


# ---- deterministic helpers ---------------------------------------------------------------------


def _digest(seed: int, *parts: object) -> bytes:
    return hashlib.sha256(":".join([str(seed), *map(str, parts)]).encode()).digest()


def _number(seed: int, *parts: object) -> int:
    return int.from_bytes(_digest(seed, *parts)[:8], "big")


def _hex(seed: int, size: int, *parts: object) -> str:
    """0x and `size` bytes of hex, derived from the labelled parts."""
    data = b""
    counter = 0
    while len(data) < size:
        data += _digest(seed, *parts, counter)
        counter += 1
    return "0x" + data[:size].hex()


def _json_response(status: int, body: Json) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body, separators=(",", ":")).encode(),
        headers={"content-type": "application/json"},
    )


def _beacon_error(status: int, message: str) -> httpx.Response:
    return _json_response(status, {"code": status, "message": message})


def _q(value: int) -> str:
    """An execution JSON-RPC quantity."""
    return hex(value)


def slot_time(slot: int) -> int:
    return GENESIS_TIME + slot * SECONDS_PER_SLOT


# ---- the world's cast ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulatedEthValidator:
    name: str
    index: int
    pubkey: str
    withdrawal_credentials: str
    fee_recipient: str
    balance_gwei: int  # before `first_epoch`
    effective_balance_gwei: int
    activation_epoch: int

    @property
    def withdrawal_address(self) -> str | None:
        return (
            "0x" + self.withdrawal_credentials[-40:]
            if self.withdrawal_credentials[2:4] in ("01", "02")
            else None
        )


def demo_validators(*, seed: int = 7) -> tuple[SimulatedEthValidator, ...]:
    def credentials(prefix: str, label: str) -> str:
        if prefix == "00":
            return "0x00" + _hex(seed, 31, "bls-withdrawal", label)[2:]
        return "0x" + prefix + "00" * 11 + _hex(seed, 20, "withdrawal-address", label)[2:]

    specs = (
        ("Aurora ETH Alpha", 1_204_311, "01", 32_012_345_678, 32),
        ("Aurora ETH Beta", 1_204_312, "01", 32_004_120_551, 32),
        ("Aurora ETH Gamma", 1_388_007, "02", 64_210_004_312, 64),
        ("Aurora ETH Delta", 905_116, "00", 32_001_873_220, 32),
    )
    return tuple(
        SimulatedEthValidator(
            name=name,
            index=index,
            pubkey=_hex(seed, 48, "validator-pubkey", index),
            withdrawal_credentials=credentials(prefix, name),
            fee_recipient=_hex(seed, 20, "fee-recipient", name),
            balance_gwei=balance,
            effective_balance_gwei=effective * GWEI,
            activation_epoch=150_400 + index % 97_000,
        )
        for name, index, prefix, balance, effective in specs
    )


@dataclass(frozen=True)
class ScriptedBlock:
    """A proposer duty of an operator validator: `epoch_offset` from first_epoch, slot in the epoch."""

    validator: str  # name
    epoch_offset: int
    slot_in_epoch: int
    kind: BlockKind
    relays: tuple[str, ...] = ()
    value: int = 0  # wei, relay-delivered blocks
    transactions: int = 6


@dataclass(frozen=True)
class Orphan:
    """A payload a relay reports as delivered that the chain never included."""

    relay: str
    epoch_offset: int
    slot_in_epoch: int
    value: int


@dataclass(frozen=True)
class Scenario:
    blocks: tuple[ScriptedBlock, ...] = (
        ScriptedBlock("Aurora ETH Alpha", 0, 5, "local", transactions=6),
        ScriptedBlock("Aurora ETH Beta", 1, 8, "relay", (FLASHBOTS, ULTRASOUND), 48_213_907_461_253_381),
        ScriptedBlock("Aurora ETH Gamma", 2, 6, "missed"),
        ScriptedBlock("Aurora ETH Alpha", 4, 17, "relay", (BLOXROUTE_MAX_PROFIT,), 31_337_123_456_789_012),
        ScriptedBlock("Aurora ETH Beta", 5, 3, "local", transactions=5),
    )
    orphans: tuple[Orphan, ...] = (
        Orphan(TITAN, 1, 8, 47_000_000_000_000_000),
        Orphan(AESTUS, 2, 6, 12_345_678_901_234_567),
    )
    other_missed: tuple[tuple[int, int], ...] = ((6, 2),)
    missed_attestations: tuple[tuple[str, int], ...] = (("Aurora ETH Gamma", 1),)
    sync_committee: tuple[str, ...] = ("Aurora ETH Delta",)
    sync_misses: tuple[tuple[str, int, int], ...] = (("Aurora ETH Delta", 1, 20), ("Aurora ETH Delta", 6, 11))


@dataclass(frozen=True)
class _Block:
    slot: int
    proposer: int
    kind: BlockKind  # "local": built by its proposer; "relay": delivered by relays
    relays: tuple[str, ...]
    value: int
    transactions: int


# ---- the world -------------------------------------------------------------------------------------


class SimulatedEthereum:
    """The simulated network (see the module doc)."""

    def __init__(
        self,
        *,
        seed: int = 7,
        first_epoch: int = 395_000,
        last_epoch: int = 395_007,
        head_epoch: int | None = None,
        validators: Sequence[SimulatedEthValidator] | None = None,
        scenario: Scenario | None = None,
        block_receipts: bool = True,
    ) -> None:
        if not 0 < first_epoch <= last_epoch:
            raise ValueError("need 0 < first_epoch <= last_epoch")
        self.seed = seed
        self.first_epoch = first_epoch
        self.last_epoch = last_epoch
        self.head_epoch = last_epoch + 7 if head_epoch is None else head_epoch
        self.finalized_epoch = self.head_epoch - 2
        self.validators = tuple(validators) if validators is not None else demo_validators(seed=seed)
        self.scenario = scenario or Scenario()
        self.block_receipts = block_receipts
        self.by_name = {v.name: v for v in self.validators}
        self.by_index = {v.index: v for v in self.validators}
        self.by_pubkey = {v.pubkey: v for v in self.validators}
        self.first_slot = first_epoch * SLOTS_PER_EPOCH
        self.head_slot = self.head_epoch * SLOTS_PER_EPOCH + 5
        self._transaction_slots: dict[str, tuple[int, int]] = {}
        self._relay_cache: dict[str, list[dict[str, Json]]] = {}

    # ---- the schedule --------------------------------------------------------------------------

    def _slot(self, epoch_offset: int, slot_in_epoch: int) -> int:
        return (self.first_epoch + epoch_offset) * SLOTS_PER_EPOCH + slot_in_epoch

    @cached_property
    def _scripted(self) -> dict[int, _Block]:
        blocks = {}
        for spec in self.scenario.blocks:
            slot = self._slot(spec.epoch_offset, spec.slot_in_epoch)
            validator = self.by_name[spec.validator]
            blocks[slot] = _Block(
                slot, validator.index, spec.kind, spec.relays, spec.value, spec.transactions
            )
        return blocks

    @cached_property
    def missed_slots(self) -> frozenset[int]:
        missed = {slot for slot, block in self._scripted.items() if block.kind == "missed"}
        missed |= {self._slot(offset, position) for offset, position in self.scenario.other_missed}
        return frozenset(missed)

    @cached_property
    def _sorted_missed(self) -> tuple[int, ...]:
        return tuple(sorted(self.missed_slots))

    def proposer(self, slot: int) -> int:
        block = self._scripted.get(slot)
        if block is not None:
            return block.proposer
        index = 100_000 + _number(self.seed, "proposer", slot) % 1_300_000
        while index in self.by_index:
            index += 1
        return index

    def pubkey_of(self, index: int) -> str:
        validator = self.by_index.get(index)
        return validator.pubkey if validator else _hex(self.seed, 48, "validator-pubkey", index)

    def produced(self, slot: int) -> bool:
        return 0 <= slot <= self.head_slot and slot not in self.missed_slots

    def block(self, slot: int) -> _Block:
        scripted = self._scripted.get(slot)
        if scripted is not None:
            return scripted
        relays: tuple[str, ...] = ()
        value = 0
        if _number(self.seed, "relay-built", slot) % 100 < 85:
            count = 1 + _number(self.seed, "relay-count", slot) % 3
            start = _number(self.seed, "relay-pick", slot) % len(RELAYS)
            relays = tuple(sorted(RELAYS[(start + i * 2) % len(RELAYS)] for i in range(count)))
            value = 10**16 + _number(self.seed, "relay-value", slot) % (19 * 10**16)
        return _Block(
            slot,
            self.proposer(slot),
            "relay" if relays else "local",
            relays,
            value,
            4 + _number(self.seed, "tx-count", slot) % 5,
        )

    def block_number(self, slot: int) -> int:
        missed_before = sum(1 for missed in self._sorted_missed if self.first_slot <= missed < slot)
        return BASE_BLOCK_NUMBER + (slot - self.first_slot) - missed_before

    def slot_of_block(self, number: int) -> int | None:
        slot = self.first_slot + (number - BASE_BLOCK_NUMBER)
        for missed in self._sorted_missed:
            if self.first_slot <= missed <= slot:
                slot += 1
        while slot in self.missed_slots:
            slot += 1
        return slot if self.produced(slot) else None

    def block_root(self, slot: int) -> str:
        return _hex(self.seed, 32, "block-root", slot)

    def block_hash(self, slot: int) -> str:
        return _hex(self.seed, 32, "block-hash", slot)

    def _previous_produced(self, slot: int) -> int:
        slot -= 1
        while slot in self.missed_slots:
            slot -= 1
        return slot

    def builder_pubkey(self, slot: int) -> str:
        return _hex(self.seed, 48, "builder", _number(self.seed, "builder-pick", slot) % 6)

    def fee_recipient(self, slot: int) -> str:
        block = self.block(slot)
        operator = self.by_index.get(block.proposer)
        if block.kind == "local":
            return (
                operator.fee_recipient if operator else _hex(self.seed, 20, "fee-recipient", block.proposer)
            )
        return _hex(self.seed, 20, "builder-coinbase", _number(self.seed, "builder-pick", slot) % 6)

    def proposer_fee_recipient(self, slot: int) -> str:
        operator = self.by_index.get(self.proposer(slot))
        return (
            operator.fee_recipient if operator else _hex(self.seed, 20, "fee-recipient", self.proposer(slot))
        )

    def base_fee(self, slot: int) -> int:
        return 400_000_000 + _number(self.seed, "base-fee", slot) % 2_100_000_000

    # ---- execution transactions ----------------------------------------------------------------

    @lru_cache(maxsize=4096)  # noqa: B019 (the world lives as long as its caches should)
    def transactions(self, slot: int) -> tuple[dict[str, Json], ...]:
        """The block's transactions as the execution layer describes them, with their receipts'
        figures (`_gas_used`, `_effective`) kept alongside."""
        base = self.base_fee(slot)
        txs = []
        for i in range(self.block(slot).transactions):
            kind = (0x2, 0x2, 0x0, 0x3, 0x2, 0x2, 0x2, 0x2)[i % 8]
            n = _number(self.seed, "tx", slot, i)
            gas_used = 21_000 if n % 3 == 0 else 45_000 + n % 255_000
            priority = (1_000_000, 50_000_000, 1_000_000_000, 2_500_000_000, 30_000_000_000)[n % 5]
            if i == 1:  # a fee cap below base + tip: the effective price is the cap
                max_fee = base + priority // 2
                effective = max_fee
            else:
                max_fee = 2 * base + priority
                effective = base + priority
            tx: dict[str, Json] = {
                "hash": _hex(self.seed, 32, "tx-hash", slot, i),
                "from": _hex(self.seed, 20, "sender", slot, i),
                "to": _hex(self.seed, 20, "recipient", n % 50),
                "nonce": _q(n % 5000),
                "value": _q(n % 10**18),
                "gas": _q(gas_used + 10_000),
                "input": "0x"
                if gas_used == 21_000
                else "0xa9059cbb" + "00" * 24 + _hex(self.seed, 20, "arg", n)[2:],
                "type": _q(kind),
                "chainId": "0x1",
                "_gas_used": gas_used,
                "_effective": effective,
            }
            if kind == 0x0:
                tx["gasPrice"] = _q(effective)
            else:
                tx |= {
                    "gasPrice": _q(effective),
                    "maxFeePerGas": _q(max_fee),
                    "maxPriorityFeePerGas": _q(priority),
                    "accessList": [],
                }
            if kind == 0x3:
                tx |= {
                    "maxFeePerBlobGas": _q(1_000_000_000),
                    "blobVersionedHashes": ["0x01" + _hex(self.seed, 31, "blob", slot, i)[2:]],
                }
            txs.append(tx)
            self._transaction_slots[tx["hash"]] = (slot, i)
        return tuple(txs)

    def priority_fees(self, slot: int) -> int:
        """Ground truth: the priority fees of the slot's block (wei)."""
        base = self.base_fee(slot)
        return sum(tx["_gas_used"] * (tx["_effective"] - base) for tx in self.transactions(slot))

    def gas_used(self, slot: int) -> int:
        return sum(tx["_gas_used"] for tx in self.transactions(slot))

    def raw_transaction(self, slot: int, index: int) -> str:
        tx = self.transactions(slot)[index]
        return "0x" + f"{int(tx['type'], 16):02x}" + _hex(self.seed, 110, "raw", slot, index)[2:]

    # ---- consensus amounts (Gwei) ----------------------------------------------------------------

    def effective_balance(self, index: int) -> int:
        validator = self.by_index.get(index)
        return validator.effective_balance_gwei if validator else 32 * GWEI

    def ideal_attestation(self, effective_balance: int, epoch: int) -> tuple[int, int, int]:
        scale = effective_balance // GWEI
        wobble = _number(self.seed, "ideal", epoch) % 60
        return (2890 + wobble) * scale // 32, (5361 + wobble) * scale // 32, (2878 + wobble) * scale // 32

    def attestation(self, index: int, epoch: int) -> tuple[int, int, int]:
        """(head, target, source) in Gwei; a missed attestation loses target and source."""
        head, target, source = self.ideal_attestation(self.effective_balance(index), epoch)
        validator = self.by_index.get(index)
        missed = validator is not None and (validator.name, epoch - self.first_epoch) in set(
            self.scenario.missed_attestations
        )
        return (0, -target, -source) if missed else (head, target, source)

    def block_reward(self, slot: int) -> tuple[int, int]:
        """(attestations, sync_aggregate) Gwei earned by the slot's proposer."""
        return (
            30_000_000 + _number(self.seed, "att-reward", slot) % 15_000_000,
            1_500_000 + _number(self.seed, "sync-aggregate", slot) % 500_000,
        )

    @cached_property
    def sync_committee(self) -> tuple[int, ...]:
        members = [self.by_name[name].index for name in self.scenario.sync_committee]
        counter = 0
        while len(members) < SYNC_COMMITTEE_SIZE:
            index = 50_000 + _number(self.seed, "sync-member", counter) % 1_400_000
            counter += 1
            if index not in members and index not in self.by_index:
                members.append(index)
        order = sorted(range(len(members)), key=lambda i: _number(self.seed, "sync-position", i))
        return tuple(members[i] for i in order)

    def in_sync_committee(self, index: int, epoch: int) -> bool:
        first_period = self.first_epoch // EPOCHS_PER_SYNC_COMMITTEE_PERIOD
        last_period = self.head_epoch // EPOCHS_PER_SYNC_COMMITTEE_PERIOD
        in_range = first_period <= epoch // EPOCHS_PER_SYNC_COMMITTEE_PERIOD <= last_period
        return in_range and index in self.sync_committee

    def sync_reward(self, index: int, slot: int) -> int:
        """Gwei; negative when the member did not sign."""
        reward = 21_500 + _number(self.seed, "sync-reward", slot) % 500
        validator = self.by_index.get(index)
        epoch_offset, position = divmod(slot - self.first_slot, SLOTS_PER_EPOCH)
        if validator and (validator.name, epoch_offset, position) in set(self.scenario.sync_misses):
            return -reward
        return reward

    def consensus_income(self, index: int, through_slot: int) -> int:
        """Gwei earned by `index` from first_epoch to `through_slot` inclusive (attestations at each
        epoch's last slot, block and sync rewards at the block's slot)."""
        total = 0
        for slot in range(self.first_slot, min(through_slot, self.head_slot) + 1):
            epoch, position = divmod(slot, SLOTS_PER_EPOCH)
            if position == SLOTS_PER_EPOCH - 1:
                total += sum(self.attestation(index, epoch))
            if not self.produced(slot):
                continue
            if self.proposer(slot) == index:
                total += sum(self.block_reward(slot))
            if self.in_sync_committee(index, epoch):
                total += self.sync_reward(index, slot)
        return total

    def balance(self, index: int, slot: int) -> int:
        validator = self.by_index.get(index)
        base = (
            validator.balance_gwei if validator else 32 * GWEI + _number(self.seed, "balance", index) % GWEI
        )
        return base + (self.consensus_income(index, slot) if validator else 0)

    # ---- ground truth for tests ------------------------------------------------------------------

    def scripted_slot(self, name: str, kind: BlockKind) -> list[int]:
        return sorted(
            slot
            for slot, block in self._scripted.items()
            if self.by_index[block.proposer].name == name and block.kind == kind
        )

    def duty_slots(self, index: int, first_epoch: int, last_epoch: int) -> list[int]:
        first, last = first_epoch * SLOTS_PER_EPOCH, (last_epoch + 1) * SLOTS_PER_EPOCH
        return [slot for slot in range(first, last) if self.proposer(slot) == index]

    # ---- transport ---------------------------------------------------------------------------------

    def handler(self) -> Callable[[httpx.Request], httpx.Response]:
        return self._handle

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host + (f":{request.url.port}" if request.url.port else "")
        if host == BEACON_HOST:
            return self._beacon(request)
        if host == EXECUTION_HOST:
            return self._execution(request)
        if request.url.host in RELAYS:
            return self._relay(request.url.host, request)
        raise httpx.ConnectError(f"no simulated service at {host}", request=request)

    # ---- Beacon API --------------------------------------------------------------------------------

    def _slot_id(self, block_id: str) -> int | None:
        if block_id == "head":
            return self.head_slot
        if block_id == "finalized":
            return self.finalized_epoch * SLOTS_PER_EPOCH
        if block_id == "genesis":
            return 0
        return int(block_id) if block_id.isdigit() else None

    def _header(self, slot: int) -> dict[str, Json]:
        return {
            "root": self.block_root(slot),
            "canonical": True,
            "header": {
                "message": {
                    "slot": str(slot),
                    "proposer_index": str(self.proposer(slot)),
                    "parent_root": self.block_root(self._previous_produced(slot)),
                    "state_root": _hex(self.seed, 32, "state-root", slot),
                    "body_root": _hex(self.seed, 32, "body-root", slot),
                },
                "signature": _hex(self.seed, 96, "signature", slot),
            },
        }

    def _finalized(self, slot: int) -> bool:
        return slot <= self.finalized_epoch * SLOTS_PER_EPOCH

    def _beacon(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.strip("/").split("/")
        body = json.loads(request.content) if request.content else None
        routes: list[tuple[str, tuple[str, ...], Callable[..., httpx.Response]]] = [
            ("GET", ("eth", "v1", "beacon", "headers"), self._headers),
            ("GET", ("eth", "v1", "beacon", "headers", "*"), self._header_by_id),
            ("GET", ("eth", "v1", "beacon", "states", "*", "finality_checkpoints"), self._finality),
            ("GET", ("eth", "v1", "beacon", "states", "*", "validators"), self._validators),
            ("GET", ("eth", "v1", "beacon", "states", "*", "sync_committees"), self._sync_committees),
            ("GET", ("eth", "v1", "validator", "duties", "proposer", "*"), self._duties),
            ("GET", ("eth", "v2", "beacon", "blocks", "*"), self._block),
            ("GET", ("eth", "v1", "beacon", "rewards", "blocks", "*"), self._block_rewards),
            ("POST", ("eth", "v1", "beacon", "rewards", "attestations", "*"), self._attestation_rewards),
            ("POST", ("eth", "v1", "beacon", "rewards", "sync_committee", "*"), self._sync_rewards),
        ]
        for method, pattern, route in routes:
            if method == request.method and len(pattern) == len(parts):
                wildcards = [part for part, want in zip(parts, pattern, strict=True) if want == "*"]
                if all(want in ("*", part) for part, want in zip(parts, pattern, strict=True)):
                    return route(request, body, *wildcards)
        return _beacon_error(404, f"NOT_FOUND: {request.method} {request.url.path}")

    def _envelope(self, data: Json, slot: int) -> dict[str, Json]:
        return {"execution_optimistic": False, "finalized": self._finalized(slot), "data": data}

    def _headers(self, request: httpx.Request, body: Json) -> httpx.Response:
        slot_text = request.url.params.get("slot")
        if slot_text is None or not slot_text.isdigit():
            return _beacon_error(400, "BAD_REQUEST: this simulation needs ?slot=")
        slot = int(slot_text)
        data = [self._header(slot)] if self.produced(slot) else []
        return _json_response(200, self._envelope(data, slot))

    def _header_by_id(self, request: httpx.Request, body: Json, block_id: str) -> httpx.Response:
        slot = self._slot_id(block_id)
        if slot is None or not self.produced(slot):
            return _beacon_error(404, f"NOT_FOUND: beacon block with id {block_id}")
        return _json_response(200, self._envelope(self._header(slot), slot))

    def _finality(self, request: httpx.Request, body: Json, state_id: str) -> httpx.Response:
        if state_id != "head":
            return _beacon_error(400, "BAD_REQUEST: this simulation serves the head's checkpoints")

        def checkpoint(epoch: int) -> dict[str, str]:
            return {"epoch": str(epoch), "root": self.block_root(epoch * SLOTS_PER_EPOCH)}

        data = {
            "previous_justified": checkpoint(self.finalized_epoch),
            "current_justified": checkpoint(self.finalized_epoch + 1),
            "finalized": checkpoint(self.finalized_epoch),
        }
        return _json_response(200, {"execution_optimistic": False, "finalized": False, "data": data})

    def _validator_entry(self, index: int, slot: int) -> dict[str, Json]:
        validator = self.by_index.get(index)
        credentials = (
            validator.withdrawal_credentials
            if validator
            else "0x010000000000000000000000" + _hex(self.seed, 20, "withdrawal-address", index)[2:]
        )
        activation = validator.activation_epoch if validator else 100_000 + index % 200_000
        return {
            "index": str(index),
            "balance": str(self.balance(index, slot)),
            "status": ACTIVE,
            "validator": {
                "pubkey": self.pubkey_of(index),
                "withdrawal_credentials": credentials,
                "effective_balance": str(self.effective_balance(index)),
                "slashed": False,
                "activation_eligibility_epoch": str(activation - 80),
                "activation_epoch": str(activation),
                "exit_epoch": str(FAR_FUTURE_EPOCH),
                "withdrawable_epoch": str(FAR_FUTURE_EPOCH),
            },
        }

    def _index_of(self, identifier: str) -> int | None:
        if identifier.isdigit():
            return int(identifier)
        validator = self.by_pubkey.get(identifier.lower())
        return validator.index if validator else None

    def _validators(self, request: httpx.Request, body: Json, state_id: str) -> httpx.Response:
        slot = self._slot_id(state_id)
        if slot is None or slot > self.head_slot:
            return _beacon_error(404, f"NOT_FOUND: state {state_id}")
        ids = request.url.params.get_list("id")
        if not ids or len(ids) > 64:
            return _beacon_error(400, "BAD_REQUEST: give 1 to 64 ids in this simulation")
        indices = [self._index_of(i) for i in ids]
        data = [self._validator_entry(index, slot) for index in indices if index is not None]
        return _json_response(200, self._envelope(data, slot))

    def _sync_committees(self, request: httpx.Request, body: Json, state_id: str) -> httpx.Response:
        slot = self._slot_id(state_id)
        epoch_text = request.url.params.get("epoch")
        if slot is None or slot > self.head_slot:
            return _beacon_error(404, f"NOT_FOUND: state {state_id}")
        epoch = int(epoch_text) if epoch_text and epoch_text.isdigit() else slot // SLOTS_PER_EPOCH
        state_period = slot // SLOTS_PER_EPOCH // EPOCHS_PER_SYNC_COMMITTEE_PERIOD
        if epoch // EPOCHS_PER_SYNC_COMMITTEE_PERIOD not in (state_period, state_period + 1):
            return _beacon_error(400, f"BAD_REQUEST: epoch {epoch} is not in the state's sync periods")
        members = [str(index) for index in self.sync_committee]
        data = {
            "validators": members,
            "validator_aggregates": [members[i : i + 128] for i in range(0, 512, 128)],
        }
        return _json_response(200, self._envelope(data, slot))

    def _duties(self, request: httpx.Request, body: Json, epoch_text: str) -> httpx.Response:
        if not epoch_text.isdigit():
            return _beacon_error(400, f"BAD_REQUEST: invalid epoch {epoch_text}")
        epoch = int(epoch_text)
        if epoch > self.head_epoch + 1:
            return _beacon_error(400, f"BAD_REQUEST: epoch {epoch} is too far in the future")
        first = epoch * SLOTS_PER_EPOCH
        data = [
            {
                "pubkey": self.pubkey_of(self.proposer(slot)),
                "validator_index": str(self.proposer(slot)),
                "slot": str(slot),
            }
            for slot in range(first, first + SLOTS_PER_EPOCH)
        ]
        return _json_response(
            200,
            {
                "dependent_root": self.block_root(self._previous_produced(first)),
                "execution_optimistic": False,
                "data": data,
            },
        )

    def _execution_payload(self, slot: int) -> dict[str, Json]:
        return {
            "parent_hash": self.block_hash(self._previous_produced(slot)),
            "fee_recipient": self.fee_recipient(slot),
            "state_root": _hex(self.seed, 32, "el-state-root", slot),
            "receipts_root": _hex(self.seed, 32, "receipts-root", slot),
            "logs_bloom": "0x" + "00" * 256,
            "prev_randao": _hex(self.seed, 32, "randao", slot),
            "block_number": str(self.block_number(slot)),
            "gas_limit": str(GAS_LIMIT),
            "gas_used": str(self.gas_used(slot)),
            "timestamp": str(slot_time(slot)),
            "extra_data": "0x" + b"aurora-sim".hex(),
            "base_fee_per_gas": str(self.base_fee(slot)),
            "block_hash": self.block_hash(slot),
            "transactions": [self.raw_transaction(slot, i) for i in range(len(self.transactions(slot)))],
            "withdrawals": [
                {
                    "index": str(90_000_000 + slot * 2 + i),
                    "validator_index": str(300_000 + _number(self.seed, "withdrawal", slot, i) % 900_000),
                    "address": _hex(self.seed, 20, "withdrawal-to", slot, i),
                    "amount": str(15_000_000 + _number(self.seed, "withdrawal-amount", slot, i) % 5_000_000),
                }
                for i in range(2)
            ],
            "blob_gas_used": str(131_072 * sum(1 for tx in self.transactions(slot) if tx["type"] == "0x3")),
            "excess_blob_gas": "0",
        }

    def _block(self, request: httpx.Request, body: Json, block_id: str) -> httpx.Response:
        slot = self._slot_id(block_id)
        if slot is None or not self.produced(slot):
            return _beacon_error(404, f"NOT_FOUND: beacon block at slot {block_id}")
        header = self._header(slot)["header"]["message"]
        message = {
            "slot": header["slot"],
            "proposer_index": header["proposer_index"],
            "parent_root": header["parent_root"],
            "state_root": header["state_root"],
            "body": {
                "randao_reveal": _hex(self.seed, 96, "randao-reveal", slot),
                "eth1_data": {
                    "deposit_root": _hex(self.seed, 32, "deposit-root"),
                    "deposit_count": "2015473",
                    "block_hash": _hex(self.seed, 32, "eth1-block"),
                },
                "graffiti": "0x" + b"aurora simulated network".ljust(32, b"\0").hex(),
                "proposer_slashings": [],
                "attester_slashings": [],
                "attestations": [],
                "deposits": [],
                "voluntary_exits": [],
                "sync_aggregate": {
                    "sync_committee_bits": "0x" + "ff" * 64,
                    "sync_committee_signature": _hex(self.seed, 96, "sync-signature", slot),
                },
                "execution_payload": self._execution_payload(slot),
                "bls_to_execution_changes": [],
                "blob_kzg_commitments": [
                    _hex(self.seed, 48, "kzg", slot, i)
                    for i, tx in enumerate(self.transactions(slot))
                    if tx["type"] == "0x3"
                ],
                "execution_requests": {"deposits": [], "withdrawals": [], "consolidations": []},
            },
        }
        signed = {"message": message, "signature": _hex(self.seed, 96, "signature", slot)}
        return _json_response(200, {"version": "electra", **self._envelope(signed, slot)})

    def _block_rewards(self, request: httpx.Request, body: Json, block_id: str) -> httpx.Response:
        slot = self._slot_id(block_id)
        if slot is None or not self.produced(slot):
            return _beacon_error(404, f"NOT_FOUND: beacon block at slot {block_id}")
        attestations, sync = self.block_reward(slot)
        data = {
            "proposer_index": str(self.proposer(slot)),
            "total": str(attestations + sync),
            "attestations": str(attestations),
            "sync_aggregate": str(sync),
            "proposer_slashings": "0",
            "attester_slashings": "0",
        }
        return _json_response(200, self._envelope(data, slot))

    def _requested_indices(self, body: Json) -> list[int] | None:
        if body is None:
            return None
        if not isinstance(body, list) or not all(isinstance(item, str) for item in body):
            raise ValueError("the body must be a JSON array of validator indices or pubkeys as strings")
        indices = []
        for item in body:
            index = self._index_of(item)
            if index is None:
                raise ValueError(f"unknown validator {item}")
            indices.append(index)
        return indices

    def _attestation_rewards(self, request: httpx.Request, body: Json, epoch_text: str) -> httpx.Response:
        if not epoch_text.isdigit():
            return _beacon_error(400, f"BAD_REQUEST: invalid epoch {epoch_text}")
        epoch = int(epoch_text)
        if epoch + 1 > self.head_epoch:
            return _beacon_error(404, f"NOT_FOUND: rewards of epoch {epoch} are not available yet")
        try:
            indices = self._requested_indices(body)
        except ValueError as error:
            return _beacon_error(400, f"BAD_REQUEST: {error}")
        if indices is None:
            return _beacon_error(400, "BAD_REQUEST: this simulation needs the validators in the body")
        balances = sorted({self.effective_balance(index) for index in indices})
        ideal = []
        for balance in balances:
            head, target, source = self.ideal_attestation(balance, epoch)
            ideal.append(
                {
                    "effective_balance": str(balance),
                    "head": str(head),
                    "target": str(target),
                    "source": str(source),
                    "inactivity": "0",
                }
            )
        totals = []
        for index in indices:
            head, target, source = self.attestation(index, epoch)
            totals.append(
                {
                    "validator_index": str(index),
                    "head": str(head),
                    "target": str(target),
                    "source": str(source),
                    "inactivity": "0",
                }
            )
        data = {"ideal_rewards": ideal, "total_rewards": totals}
        last_slot = (epoch + 2) * SLOTS_PER_EPOCH - 1
        return _json_response(200, self._envelope(data, last_slot))

    def _sync_rewards(self, request: httpx.Request, body: Json, block_id: str) -> httpx.Response:
        slot = self._slot_id(block_id)
        if slot is None or not self.produced(slot):
            return _beacon_error(404, f"NOT_FOUND: beacon block at slot {block_id}")
        try:
            indices = self._requested_indices(body)
        except ValueError as error:
            return _beacon_error(400, f"BAD_REQUEST: {error}")
        epoch = slot // SLOTS_PER_EPOCH
        members = [index for index in self.sync_committee if self.in_sync_committee(index, epoch)]
        wanted = members if indices is None else [index for index in indices if index in set(members)]
        data = [
            {"validator_index": str(index), "reward": str(self.sync_reward(index, slot))} for index in wanted
        ]
        return _json_response(200, self._envelope(data, slot))

    # ---- execution JSON-RPC ------------------------------------------------------------------------

    def _execution(self, request: httpx.Request) -> httpx.Response:
        try:
            body = json.loads(request.content)
        except ValueError:
            return _json_response(
                200, {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}
            )
        if isinstance(body, list):
            return _json_response(200, [self._rpc_call(call) for call in body])
        return _json_response(200, self._rpc_call(body))

    def _rpc_call(self, call: Json) -> dict[str, Json]:
        request_id = call.get("id") if isinstance(call, dict) else None
        if (
            not isinstance(call, dict)
            or call.get("jsonrpc") != "2.0"
            or not isinstance(call.get("method"), str)
        ):
            return {
                "jsonrpc": "2.0",
                "id": request_id,
                "error": {"code": -32600, "message": "invalid request"},
            }
        methods: dict[str, Callable[[list[Json]], Json]] = {
            "eth_blockNumber": lambda params: _q(self.block_number(self.head_slot)),
            "eth_chainId": lambda params: "0x1",
            "eth_getBlockByNumber": self._rpc_block,
            "eth_getTransactionReceipt": self._rpc_receipt,
        }
        if self.block_receipts:
            methods["eth_getBlockReceipts"] = self._rpc_block_receipts
        method = methods.get(call["method"])
        if method is None:
            message = f"the method {call['method']} does not exist/is not available"
            return {"jsonrpc": "2.0", "id": request_id, "error": {"code": -32601, "message": message}}
        try:
            result = method(list(call.get("params") or []))
        except (ValueError, TypeError, IndexError) as error:
            return {
                "jsonrpc": "2.0",
                "id": request_id,
                "error": {"code": -32602, "message": f"invalid params: {error}"},
            }
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    def _block_slot(self, tag: Json) -> int | None:
        if tag in ("latest", "safe", "finalized"):
            slot = {
                "latest": self.head_slot,
                "safe": self.head_slot - 32,
                "finalized": self.finalized_epoch * 32,
            }[tag]
            while not self.produced(slot):
                slot -= 1
            return slot
        if not isinstance(tag, str) or not tag.startswith("0x"):
            raise ValueError(f"bad block number {tag!r}")
        return self.slot_of_block(int(tag, 16))

    def _receipt(self, slot: int, i: int) -> dict[str, Json]:
        txs = self.transactions(slot)
        tx = txs[i]
        cumulative = sum(t["_gas_used"] for t in txs[: i + 1])
        receipt: dict[str, Json] = {
            "blockHash": self.block_hash(slot),
            "blockNumber": _q(self.block_number(slot)),
            "contractAddress": None,
            "cumulativeGasUsed": _q(cumulative),
            "effectiveGasPrice": _q(tx["_effective"]),
            "from": tx["from"],
            "gasUsed": _q(tx["_gas_used"]),
            "logs": [],
            "logsBloom": "0x" + "00" * 256,
            "status": "0x1",
            "to": tx["to"],
            "transactionHash": tx["hash"],
            "transactionIndex": _q(i),
            "type": tx["type"],
        }
        if tx["gas"] and tx["input"] != "0x":
            receipt["logs"] = [
                {
                    "address": tx["to"],
                    "topics": [
                        "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
                        "0x" + "00" * 12 + tx["from"][2:],
                    ],
                    "data": _hex(self.seed, 32, "log-data", slot, i),
                    "blockNumber": _q(self.block_number(slot)),
                    "transactionHash": tx["hash"],
                    "transactionIndex": _q(i),
                    "blockHash": self.block_hash(slot),
                    "logIndex": _q(i),
                    "removed": False,
                }
            ]
        if tx["type"] == "0x3":
            receipt |= {"blobGasUsed": _q(131_072), "blobGasPrice": _q(1)}
        return receipt

    def _rpc_block(self, params: list[Json]) -> Json:
        if len(params) != 2 or not isinstance(params[1], bool):
            raise ValueError("expected [block, hydrated]")
        slot = self._block_slot(params[0])
        if slot is None:
            return None
        number = self.block_number(slot)
        txs = self.transactions(slot)
        block_hash = self.block_hash(slot)
        transactions: list[Json] = [
            {
                **{k: v for k, v in tx.items() if not k.startswith("_")},
                "blockHash": block_hash,
                "blockNumber": _q(number),
                "transactionIndex": _q(i),
                "v": "0x1",
                "r": _hex(self.seed, 32, "r", slot, i),
                "s": _hex(self.seed, 32, "s", slot, i),
                "yParity": "0x1",
            }
            if params[1]
            else tx["hash"]
            for i, tx in enumerate(txs)
        ]
        return {
            "baseFeePerGas": _q(self.base_fee(slot)),
            "blobGasUsed": _q(131_072 * sum(1 for tx in txs if tx["type"] == "0x3")),
            "difficulty": "0x0",
            "excessBlobGas": "0x0",
            "extraData": "0x" + b"aurora-sim".hex(),
            "gasLimit": _q(GAS_LIMIT),
            "gasUsed": _q(self.gas_used(slot)),
            "hash": block_hash,
            "logsBloom": "0x" + "00" * 256,
            "miner": self.fee_recipient(slot),
            "mixHash": _hex(self.seed, 32, "randao", slot),
            "nonce": "0x0000000000000000",
            "number": _q(number),
            "parentBeaconBlockRoot": self.block_root(self._previous_produced(slot)),
            "parentHash": self.block_hash(self._previous_produced(slot)),
            "receiptsRoot": _hex(self.seed, 32, "receipts-root", slot),
            "requestsHash": _hex(self.seed, 32, "requests-hash", slot),
            "sha3Uncles": "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347",
            "size": _q(1_200 + 180 * len(txs)),
            "stateRoot": _hex(self.seed, 32, "el-state-root", slot),
            "timestamp": _q(slot_time(slot)),
            "transactions": transactions,
            "transactionsRoot": _hex(self.seed, 32, "transactions-root", slot),
            "uncles": [],
            "withdrawals": [
                {
                    "index": _q(90_000_000 + slot * 2 + i),
                    "validatorIndex": _q(300_000 + _number(self.seed, "withdrawal", slot, i) % 900_000),
                    "address": _hex(self.seed, 20, "withdrawal-to", slot, i),
                    "amount": _q(15_000_000 + _number(self.seed, "withdrawal-amount", slot, i) % 5_000_000),
                }
                for i in range(2)
            ],
            "withdrawalsRoot": _hex(self.seed, 32, "withdrawals-root", slot),
        }

    def _rpc_block_receipts(self, params: list[Json]) -> Json:
        if len(params) != 1:
            raise ValueError("expected [block]")
        slot = self._block_slot(params[0])
        if slot is None:
            return None
        return [self._receipt(slot, i) for i in range(len(self.transactions(slot)))]

    def _rpc_receipt(self, params: list[Json]) -> Json:
        if len(params) != 1 or not isinstance(params[0], str):
            raise ValueError("expected [transaction hash]")
        found = self._transaction_slots.get(params[0].lower())  # transactions of blocks already served
        return self._receipt(*found) if found else None

    # ---- relays ------------------------------------------------------------------------------------

    def _relay_rows(self, relay: str) -> list[dict[str, Json]]:
        """Every payload the relay delivered in the data range, newest first."""
        cached = self._relay_cache.get(relay)
        if cached is not None:
            return cached
        rows = []
        for slot in range(
            self.first_slot, min(self.head_slot, (self.last_epoch + 1) * SLOTS_PER_EPOCH - 1) + 1
        ):
            if self.produced(slot):
                block = self.block(slot)
                if relay in block.relays:
                    rows.append(self._bid_trace(slot, self.block_hash(slot), block.value))
        for orphan in self.scenario.orphans:
            if orphan.relay == relay:
                slot = self._slot(orphan.epoch_offset, orphan.slot_in_epoch)
                rows.append(self._bid_trace(slot, _hex(self.seed, 32, "orphan", relay, slot), orphan.value))
        rows.sort(key=lambda row: int(row["slot"]), reverse=True)
        self._relay_cache[relay] = rows
        return rows

    def _bid_trace(self, slot: int, block_hash: str, value: int) -> dict[str, Json]:
        return {
            "slot": str(slot),
            "parent_hash": self.block_hash(self._previous_produced(slot)),
            "block_hash": block_hash,
            "builder_pubkey": self.builder_pubkey(slot),
            "proposer_pubkey": self.pubkey_of(self.proposer(slot)),
            "proposer_fee_recipient": self.proposer_fee_recipient(slot),
            "gas_limit": str(GAS_LIMIT),
            "gas_used": str(self.gas_used(slot)),
            "value": str(value),
            "num_tx": str(len(self.transactions(slot))),
            "block_number": str(self.block_number(slot)),
        }

    def _relay(self, relay: str, request: httpx.Request) -> httpx.Response:
        if request.method != "GET" or request.url.path != PAYLOADS_PATH:
            return _beacon_error(404, "not found")
        params = request.url.params
        maximum = 100 if "bloxroute" in relay else 200
        if "slot" in params and "cursor" in params:
            return _beacon_error(400, "cannot specify both slot and cursor")
        try:
            limit = int(params.get("limit", maximum))
            numbers = {
                name: int(params[name]) for name in ("slot", "cursor", "block_number") if name in params
            }
        except ValueError:
            return _beacon_error(400, "invalid number in the query")
        if limit > maximum:
            return _beacon_error(400, f"maximum limit is {maximum}")
        rows = self._relay_rows(relay)
        if "slot" in numbers:
            rows = [row for row in rows if int(row["slot"]) == numbers["slot"]]
        if "cursor" in numbers:
            rows = [row for row in rows if int(row["slot"]) <= numbers["cursor"]]
        if "block_number" in numbers:
            rows = [row for row in rows if int(row["block_number"]) == numbers["block_number"]]
        for name in ("proposer_pubkey", "builder_pubkey", "block_hash"):
            if name in params:
                rows = [row for row in rows if row[name] == params[name].lower()]
        return _json_response(200, rows[:limit])

    # ---- the operator's view -----------------------------------------------------------------------

    def manifest(self) -> list[dict[str, Json]]:
        """validators.json of a recording: what `register_validators` reads, plus the index, fee
        recipient and withdrawal address for people."""
        return [
            {
                "validator_key": validator.pubkey,
                "display_name": validator.name,
                "validator_index": validator.index,
                "fee_recipient": validator.fee_recipient,
                "withdrawal_address": validator.withdrawal_address,
            }
            for validator in self.validators
        ]
