"""Epoch and slot arithmetic from `getEpochSchedule` (warm-up epochs included)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ingestion.providers.parsing import ProviderModel, StrictU64

MINIMUM_SLOTS_PER_EPOCH = 32


class EpochScheduleBody(ProviderModel):
    slotsPerEpoch: StrictU64
    leaderScheduleSlotOffset: StrictU64
    warmup: bool
    firstNormalEpoch: StrictU64
    firstNormalSlot: StrictU64


@dataclass(frozen=True)
class EpochSchedule:
    slots_per_epoch: int
    first_normal_epoch: int = 0
    first_normal_slot: int = 0
    warmup: bool = False

    @classmethod
    def from_body(cls, body: EpochScheduleBody) -> EpochSchedule:
        return cls(
            slots_per_epoch=body.slotsPerEpoch,
            first_normal_epoch=body.firstNormalEpoch,
            first_normal_slot=body.firstNormalSlot,
            warmup=body.warmup,
        )

    @classmethod
    def from_parameters(cls, parameters: dict[str, Any]) -> EpochSchedule:
        return cls(slots_per_epoch=int(parameters.get("slots_per_epoch", 432_000)))

    def slots_in(self, epoch: int) -> int:
        if self.warmup and epoch < self.first_normal_epoch:
            return MINIMUM_SLOTS_PER_EPOCH << epoch
        return self.slots_per_epoch

    def first_slot(self, epoch: int) -> int:
        if self.warmup and epoch < self.first_normal_epoch:
            return MINIMUM_SLOTS_PER_EPOCH * ((1 << epoch) - 1)
        return self.first_normal_slot + (epoch - self.first_normal_epoch) * self.slots_per_epoch

    def last_slot(self, epoch: int) -> int:
        return self.first_slot(epoch + 1) - 1

    def epoch_of(self, slot: int) -> int:
        if slot >= self.first_normal_slot:
            return self.first_normal_epoch + (slot - self.first_normal_slot) // self.slots_per_epoch
        epoch = 0
        while self.first_slot(epoch + 1) <= slot:
            epoch += 1
        return epoch
