"""msgspec shapes of the two largest Solana RPC bodies: the jsonParsed `getProgramAccounts` stake
listing (about 800 bytes per account, thousands per validator) and the `getInflationReward` results.

They mirror the pydantic rules of `ingestion.providers.parsing` exactly: u64 strings are 1 to 20
ASCII digits, pubkeys 32 to 44 base58 characters, ints are strict (no bools, floats or strings),
unknown fields are ignored. Patterns end in `\\Z`, not `$`: Python's `$` also matches before a final
newline, which pydantic's regex engine does not. msgspec integer bounds must fit in an int64, so the
`<= U64_MAX` bound of JSON-number u64 fields is checked after conversion (`parsing.u64_overflow`).
Bodies are converted with `ingestion.providers.parsing.convert`.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

STAKE_PROGRAM_ID = "Stake11111111111111111111111111111111111111"

U64 = Annotated[int, msgspec.Meta(ge=0)]  # and <= U64_MAX, see `u64_overflow`
U64Text = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,20}\Z")]  # jsonParsed spells u64 as text
Percent = Annotated[int, msgspec.Meta(ge=0, le=100)]
Pubkey = Annotated[str, msgspec.Meta(min_length=32, max_length=44, pattern=r"^[1-9A-HJ-NP-Za-km-z]+\Z")]


# Built from decoded JSON only (no cycles possible), so the garbage collector need not track them.
class Authorized(msgspec.Struct, frozen=True, gc=False):
    staker: Pubkey
    withdrawer: Pubkey


class StakeMeta(msgspec.Struct, frozen=True, gc=False):
    rentExemptReserve: U64Text
    authorized: Authorized


class Delegation(msgspec.Struct, frozen=True, gc=False):
    voter: Pubkey
    stake: U64Text
    activationEpoch: U64Text
    deactivationEpoch: U64Text


class StakeState(msgspec.Struct, frozen=True, gc=False):
    delegation: Delegation


class StakeInfo(msgspec.Struct, frozen=True, gc=False):
    meta: StakeMeta
    stake: StakeState | None = None  # absent or null while the account is initialized, not delegated


class ParsedStake(msgspec.Struct, frozen=True, gc=False):
    type: Literal["delegated", "initialized"]
    info: StakeInfo


class StakeData(msgspec.Struct, frozen=True, gc=False):
    program: Literal["stake"]
    parsed: ParsedStake


class StakeAccount(msgspec.Struct, frozen=True, gc=False):
    lamports: U64
    owner: Literal["Stake11111111111111111111111111111111111111"]
    data: StakeData


class ProgramAccount(msgspec.Struct, frozen=True, gc=False):
    pubkey: Pubkey
    account: StakeAccount


class InflationReward(msgspec.Struct, frozen=True, gc=False):
    epoch: U64
    effectiveSlot: U64
    amount: U64
    postBalance: U64
    commission: Percent | None = None


REWARD_U64_FIELDS = ("epoch", "effectiveSlot", "amount", "postBalance")
