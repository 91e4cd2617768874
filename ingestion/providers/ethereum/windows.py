"""Beacon-chain time and the windows Ethereum periods are made of.

A period is a window of `period_length_epochs` consecutive beacon epochs, aligned on genesis:
window w covers epochs w x L .. w x L + L - 1 and is named by its first epoch, so period
identifiers step by L (with the configured L = 225, one window a day starting 12:00:23 UTC).
A range `--from-period A --to-period B` names windows: A and B must both be window starts, and the
range holds A, A + L, ..., B.

Slot s starts at `genesis_time + s x seconds_per_slot`; a window runs from its first slot's start
to the start of the next window's first slot.

A window is final when the beacon chain's finalized epoch is past the window's last epoch plus
`finality_lag` whole windows: attestations for an epoch are included during the next one, so the
rewards of the window's last epoch settle only after it, and the lag keeps a margin for the
providers' own processing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ingestion.providers.base import PeriodInfo

MAINNET_GENESIS_TIME = 1_606_824_023
EPOCHS_PER_SYNC_COMMITTEE_PERIOD = 256


class PeriodRangeError(ValueError):
    """A period identifier that is not the first epoch of a window."""


@dataclass(frozen=True)
class BeaconTime:
    genesis_time: int = MAINNET_GENESIS_TIME
    seconds_per_slot: int = 12
    slots_per_epoch: int = 32
    epochs_per_sync_committee_period: int = EPOCHS_PER_SYNC_COMMITTEE_PERIOD

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any]) -> BeaconTime:
        return cls(
            genesis_time=int(parameters.get("genesis_time", MAINNET_GENESIS_TIME)),
            seconds_per_slot=int(parameters.get("seconds_per_slot", 12)),
            slots_per_epoch=int(parameters.get("slots_per_epoch", 32)),
            epochs_per_sync_committee_period=int(
                parameters.get("epochs_per_sync_committee_period", EPOCHS_PER_SYNC_COMMITTEE_PERIOD)
            ),
        )

    def first_slot(self, epoch: int) -> int:
        return epoch * self.slots_per_epoch

    def last_slot(self, epoch: int) -> int:
        return (epoch + 1) * self.slots_per_epoch - 1

    def epoch_of(self, slot: int) -> int:
        return slot // self.slots_per_epoch

    def slot_start(self, slot: int) -> datetime:
        return datetime.fromtimestamp(self.genesis_time + slot * self.seconds_per_slot, tz=UTC)

    def sync_committee_period(self, epoch: int) -> int:
        return epoch // self.epochs_per_sync_committee_period


@dataclass(frozen=True)
class Windows:
    """Windows of `length` epochs, final `finality_lag` windows after the finalized epoch passes them."""

    length: int
    finality_lag: int
    time: BeaconTime

    def __post_init__(self) -> None:
        if self.length < 1:
            raise ValueError("period_length_epochs must be at least 1")

    def start_of(self, epoch: int) -> int:
        """The first epoch of the window holding `epoch`."""
        return epoch - epoch % self.length

    def check(self, identifier: int) -> None:
        if identifier < 0 or identifier % self.length:
            start = self.start_of(max(identifier, 0))
            raise PeriodRangeError(
                f"{identifier} is not an Ethereum period: periods are windows of {self.length} epochs "
                f"named by their first epoch (a multiple of {self.length}); {identifier} lies in the "
                f"window {start} (epochs {start}-{start + self.length - 1}), the next one is "
                f"{start + self.length}"
            )

    def identifiers(self, first: int, last: int) -> list[int]:
        """The windows first, first + L, ..., last (both must be window starts)."""
        self.check(first)
        self.check(last)
        if first > last:
            raise PeriodRangeError(f"empty range: {first} > {last}")
        return list(range(first, last + 1, self.length))

    def last_epoch(self, first: int) -> int:
        return first + self.length - 1

    def latest_final(self, finalized_epoch: int) -> int | None:
        """The newest final window: its last epoch + lag x L is before the finalized epoch."""
        window = finalized_epoch // self.length - 1 - self.finality_lag
        return window * self.length if window >= 0 else None

    def is_final(self, first: int, finalized_epoch: int) -> bool:
        return finalized_epoch > self.last_epoch(first) + self.finality_lag * self.length

    def info(self, first: int, finalized_epoch: int | None) -> PeriodInfo:
        """first_index / last_index are the window's epochs (slots follow: epoch x slots_per_epoch)."""
        last = self.last_epoch(first)
        return PeriodInfo(
            identifier=str(first),
            first_index=first,
            last_index=last,
            start=self.time.slot_start(self.time.first_slot(first)),
            end=self.time.slot_start(self.time.first_slot(last + 1)),
            is_final=finalized_epoch is not None and self.is_final(first, finalized_epoch),
        )


def period_epochs(period: PeriodInfo) -> range:
    """The beacon epochs of a period (its first_index .. last_index)."""
    return range(period.first_index, period.last_index + 1)
