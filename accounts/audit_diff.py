"""What an audit entry changed: its before and after snapshots compared key by key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

ABSENT = object()


@dataclass(frozen=True)
class KeyChange:
    key: str
    old: Any  # ABSENT when the key was added
    new: Any  # ABSENT when the key was removed

    @property
    def kind(self) -> str:
        if self.old is ABSENT:
            return "added"
        if self.new is ABSENT:
            return "removed"
        return "changed"


@dataclass(frozen=True)
class SnapshotDiff:
    changed: list[KeyChange]
    unchanged: list[tuple[str, Any]]


def _as_mapping(snapshot: Any) -> dict[str, Any]:
    if snapshot is None:
        return {}
    if isinstance(snapshot, dict):
        return {str(key): value for key, value in snapshot.items()}
    return {"value": snapshot}  # a snapshot that is not an object is compared as one value


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def snapshot_diff(before: Any, after: Any) -> SnapshotDiff:
    """The top-level keys whose values differ (added, removed or changed) and those that do not,
    each in key order."""
    old, new = _as_mapping(before), _as_mapping(after)
    changed, unchanged = [], []
    for key in sorted(old.keys() | new.keys()):
        was, now = old.get(key, ABSENT), new.get(key, ABSENT)
        if was is not ABSENT and now is not ABSENT and _canonical(was) == _canonical(now):
            unchanged.append((key, now))
        else:
            changed.append(KeyChange(key, was, now))
    return SnapshotDiff(changed=changed, unchanged=unchanged)


def display_value(value: Any) -> str:
    """A snapshot value as text: strings as they are, anything else as JSON."""
    if value is ABSENT:
        return "(absent)"
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
