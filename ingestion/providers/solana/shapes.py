"""msgspec shapes of the two largest Solana RPC bodies: the jsonParsed `getProgramAccounts` stake
listing (about 800 bytes per account, thousands per validator) and the `getInflationReward` results.

They mirror the pydantic rules of `ingestion.providers.parsing` exactly: u64 strings are 1 to 20
ASCII digits, pubkeys 32 to 44 base58 characters, ints are strict (no bools, floats or strings),
unknown fields are ignored. Patterns end in `\\Z`, not `$`: Python's `$` also matches before a final
newline, which pydantic's regex engine does not. msgspec integer bounds must fit in an int64, so the
`<= U64_MAX` bound of JSON-number u64 fields is checked by `u64_overflow` after conversion.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec

from ingestion.providers.errors import ProviderBadResponse
from ingestion.providers.parsing import U64_MAX

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

_MISSING = re.compile(r"^Object missing required field `([^`]*)`")
_INDEX = re.compile(r"\[(\d+)\]")
# msgspec's messages in the words pydantic uses for the other bodies, so reasons read alike.
_WORDING = [
    (re.compile(r"^Expected `(?:int|int \| null)`, got `.*`\Z"), "Input should be a valid integer"),
    (re.compile(r"^Expected `str`, got `.*`\Z"), "Input should be a valid string"),
    (re.compile(r"^Expected `array`, got `.*`\Z"), "Input should be a valid list"),
    (re.compile(r"^Expected `(?:object|object \| null)`, got `.*`\Z"), "Input should be a valid dictionary"),
    (re.compile(r"^Expected `str` matching regex (.*)\Z", re.S), r"String should match pattern \1"),
    (re.compile(r"^Expected `str` of length >= (\d+)\Z"), r"String should have at least \1 characters"),
    (re.compile(r"^Expected `str` of length <= (\d+)\Z"), r"String should have at most \1 characters"),
    (re.compile(r"^Expected `int` >= (\d+)\Z"), r"Input should be greater than or equal to \1"),
    (re.compile(r"^Expected `int` <= (\d+)\Z"), r"Input should be less than or equal to \1"),
    (
        re.compile(r"^Invalid enum value (.*)\Z", re.S),
        r"Input should be one of the documented values, not \1",
    ),
    (re.compile(r"^Object missing required field `.*`\Z"), "Field required"),
]


def _where(path: str) -> str:
    """msgspec's `$[3].account.owner` spelled as pydantic locations are elsewhere: `3.account.owner`."""
    return _INDEX.sub(r".\1", path.removeprefix("$")).lstrip(".")


def _worded(message: str) -> str:
    for pattern, wording in _WORDING:
        if pattern.match(message):
            return pattern.sub(wording, message)
    return message


def describe(error: msgspec.ValidationError) -> str:
    """The reason for a refused body: the path of the first bad field, then what is wrong with it."""
    message, _, at = str(error).partition(" - at `")
    path = at.removesuffix("`")
    if "` in `" in path:  # a bad key: "`key` in `$[0].account`"
        path = path.split("` in `", 1)[1]
    where = _where(path)
    missing = _MISSING.match(message)
    if missing:
        where = f"{where}.{missing.group(1)}".lstrip(".")
    return f"unexpected response shape at {where or 'body'}: {_worded(message)}"


def convert(shape: Any, data: Any, *, provider: str, endpoint: str) -> Any:
    """`data` (decoded JSON) as `shape`, or ProviderBadResponse naming the first bad field."""
    try:
        return msgspec.convert(data, type=shape)
    except msgspec.ValidationError as error:
        raise ProviderBadResponse(provider=provider, endpoint=endpoint, reason=describe(error)) from None


def u64_overflow(where: str, *, provider: str, endpoint: str) -> ProviderBadResponse:
    return ProviderBadResponse(
        provider=provider,
        endpoint=endpoint,
        reason=f"unexpected response shape at {where}: Input should be less than or equal to {U64_MAX}",
    )
