"""What differs between chain families when typed values become canonical rows: one set of row
builders per family (`ChainPlan.family`, from the adapters' `chain_family`). Fees, MEV and
metadata have shared builders a family may replace; stake rewards are always the family's own."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from canonical.normalization import ethereum
from canonical.normalization.plan import NormalizationError
from canonical.rows import (
    STAKE_REWARDS,
    MetaSources,
    RowValues,
    StakeFacts,
    TableSpec,
    fee_rows,
    meta_rows,
    mev_rows,
    solana_stake_rows,
)
from chains.models import Chain

StakeRows = tuple[TableSpec, list[RowValues], StakeFacts]


def _shared_meta(validator_key: str, sources: MetaSources, *, chain: Chain) -> list[RowValues]:
    return meta_rows(validator_key, sources)


def _solana_stake(value: Any, *, chain: Chain, sources: Mapping[str, str], default_source: str) -> StakeRows:
    rows, facts = solana_stake_rows(value, sources=sources, default_source=default_source)
    return STAKE_REWARDS, rows, facts


@dataclass(frozen=True)
class FamilyRows:
    family: str
    stake_rows: Callable[..., StakeRows] | None = None
    fee_rows: Callable[[Any, str], list[RowValues]] = fee_rows
    mev_rows: Callable[[Any, str], list[RowValues]] = mev_rows
    meta_rows: Callable[..., list[RowValues]] = _shared_meta

    def stake(
        self, value: Any, *, chain: Chain, sources: Mapping[str, str], default_source: str
    ) -> StakeRows:
        if self.stake_rows is None:
            raise NormalizationError(f"no stake-reward normalizer for chain family {self.family!r}")
        return self.stake_rows(value, chain=chain, sources=sources, default_source=default_source)


FAMILIES: dict[str, FamilyRows] = {
    "solana": FamilyRows("solana", stake_rows=_solana_stake),
    "ethereum": FamilyRows(
        "ethereum",
        stake_rows=ethereum.stake_rows,
        meta_rows=ethereum.ethereum_meta_rows,
    ),
}


def family_rows(family: str) -> FamilyRows:
    """The family's row builders; an unknown family gets the shared ones and no stake rewards."""
    return FAMILIES.get(family) or FamilyRows(family)
