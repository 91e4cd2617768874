"""Canonical history: compare a validator's new row values with its current rows, and prepare the
writes (supersede what changed, insert what is new) plus the findings that report the change."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from aurora.common.bulk import column, copy_text, insert_lines
from aurora.common.ids import uuid7
from canonical.models import CanonicalRecord, FindingKind, ReconciliationFinding, Severity
from canonical.normalization.context import RunContext, WriteCounts
from canonical.normalization.validator import Parsed, TableRows
from canonical.rows import RowValues, TableSpec, plain
from canonical.writing import COMMON_COLUMNS, supersede_rows

MAX_CHANGED_EXAMPLES = 20


@dataclass(frozen=True)
class TableWrite:
    """One validator's writes to one canonical table: rows to supersede, then COPY lines of the new
    rows. Plain data, so a parsing process can prepare it and the period's writer apply it."""

    model: type[CanonicalRecord]
    replaced: Sequence[tuple[UUID, UUID | None]]
    at: datetime
    columns: Sequence[str]
    lines: Sequence[str]

    def __call__(self) -> None:
        supersede_rows(self.model, self.replaced, self.at)
        insert_lines(self.model, self.columns, self.lines)


def _current_rows(ctx: RunContext, spec: TableSpec, validator_key: str) -> dict[Any, dict[str, Any]]:
    fields = ["id", "source_provider_id", *spec.value_fields]
    if spec.per_staker:
        fields.append("staker_address")
    rows = spec.model._default_manager.filter(
        chain_id=ctx.plan.chain.pk, period=ctx.period, validator_key=validator_key, superseded_at__isnull=True
    ).values(*fields)
    return {(validator_key, row.get("staker_address")): row for row in rows}


def prepare_table(ctx: RunContext, table: TableRows, counts: WriteCounts) -> list[ReconciliationFinding]:
    """Compare with the current rows and hand the writer what changed: rows to supersede and COPY
    lines for the new ones (built here, so the writer only sends them). Returns the change findings."""
    spec, parsed = table.spec, table.parsed
    validator_key = parsed.value.validator_key
    current = _current_rows(ctx, spec, validator_key)
    provider_id = parsed.provider.pk
    inserts: list[tuple[RowValues, UUID]] = []
    replaced: list[tuple[UUID, UUID | None]] = []
    changes: list[tuple[RowValues, dict[str, Any]]] = []
    for row in table.rows:
        existing = current.pop(row.key, None) if current else None
        if (
            existing is not None
            and existing["source_provider_id"] == provider_id
            and row.same_values(existing)
        ):
            counts.unchanged += 1
            continue
        new_id = uuid7()
        inserts.append((row, new_id))
        if existing is not None:
            replaced.append((existing["id"], new_id))
            changes.append((row, existing))
    withdrawn = list(current.values()) if spec.per_staker else []
    replaced.extend((row["id"], None) for row in withdrawn)
    columns, lines = _copy_lines(ctx, spec, parsed, validator_key, inserts)
    counts.superseded += len(replaced)
    counts.inserted += len(lines)
    ctx.writer.submit(TableWrite(spec.model, replaced, ctx.now, columns, lines))
    return _change_findings(ctx, spec, validator_key, parsed, changes, withdrawn)


def _copy_lines(
    ctx: RunContext,
    spec: TableSpec,
    parsed: Parsed,
    validator_key: str,
    inserts: list[tuple[RowValues, UUID]],
) -> tuple[list[str], list[str]]:
    """The COPY columns and one text line per new row. The columns every row of the validator
    shares are formatted once per source payload."""
    value_fields = ("staker_address", *spec.value_fields) if spec.per_staker else spec.value_fields
    columns = [
        str(spec.model._meta.pk.column),
        *COMMON_COLUMNS,
        *(column(spec.model, name) for name in value_fields),
    ]
    now = ctx.now.isoformat()
    shared = [ctx.plan.chain.pk, str(ctx.period.pk), validator_key, str(parsed.provider.pk)]
    prefixes: dict[str, str] = {}
    lines = []
    for row, new_id in inserts:
        prefix = prefixes.get(row.request_key)
        if prefix is None:
            payload = str(parsed.payload_for(row.request_key))
            prefix = prefixes[row.request_key] = "\t".join([*map(copy_text, shared), payload, now, now, now])
        values = row.values
        tail = [copy_text(values[name]) for name in spec.value_fields]
        if spec.per_staker:
            tail.insert(0, copy_text(row.key[1]))
        lines.append(f"{new_id}\t{prefix}\t" + "\t".join(tail) + "\n")
    return columns, lines


def _text(value: Any) -> Any:
    return plain(value) if isinstance(value, Decimal) else value


def _change_findings(
    ctx: RunContext,
    spec: TableSpec,
    validator_key: str,
    parsed: Parsed,
    changes: list[tuple[RowValues, dict[str, Any]]],
    withdrawn: list[dict[str, Any]],
) -> list[ReconciliationFinding]:
    if not changes and not withdrawn:
        return []
    provider = parsed.provider.provider_name
    described: list[dict[str, Any]] = []
    for row, old in changes:
        fields = row.changed_fields(old)
        if old["source_provider_id"] != parsed.provider.pk:
            fields.append("source_provider")
        described.append(
            {
                "staker_address": row.key[1],
                "changed": {
                    name: [_text(old.get(name)), _text(row.values.get(name))]
                    for name in fields
                    if name != "source_provider"
                },
                "source_changed": "source_provider" in fields,
            }
        )
    amount = spec.amount_field
    if not spec.per_staker and changes:
        row, old = changes[0]
        before, after = old.get(amount), row.values.get(amount)
        delta = None
        if before is not None and after is not None and before != 0:
            delta = (Decimal(after) - Decimal(before)) * 100 / Decimal(before)
        summary = ", ".join(
            f"{name} {old_new[0]} -> {old_new[1]}" for name, old_new in described[0]["changed"].items()
        )
        if described[0]["source_changed"]:
            summary = (summary + "; " if summary else "") + f"now from {provider}"
        return [
            ctx.finding(
                kind=FindingKind.VALUE_CHANGED,
                severity=Severity.WARNING,
                validator_key=validator_key,
                data_type=str(spec.data_type),
                field=amount,
                providers=provider,
                expected_value=before,
                observed_value=after,
                delta_pct=None if delta is None else round(delta, 4),
                message=f"{spec.data_type} changed since the last normalization: {summary}",
                details={"changes": described},
            )
        ]
    before_total = sum((Decimal(old.get(amount) or 0) for _, old in changes), Decimal(0))
    before_total += sum((Decimal(row.get(amount) or 0) for row in withdrawn), Decimal(0))
    after_total = sum((Decimal(row.values.get(amount) or 0) for row, _ in changes), Decimal(0))
    parts = []
    if changes:
        parts.append(f"{len(changes)} row(s) changed")
    if withdrawn:
        parts.append(f"{len(withdrawn)} row(s) no longer reported")
    return [
        ctx.finding(
            kind=FindingKind.VALUE_CHANGED,
            severity=Severity.WARNING,
            validator_key=validator_key,
            data_type=str(spec.data_type),
            field=amount,
            providers=provider,
            expected_value=before_total,
            observed_value=after_total,
            message=f"{spec.data_type} changed since the last normalization: {', '.join(parts)}",
            details={
                "changes": described[:MAX_CHANGED_EXAMPLES],
                "withdrawn": [row.get("staker_address") for row in withdrawn[:MAX_CHANGED_EXAMPLES]],
                "changed_count": len(changes),
                "withdrawn_count": len(withdrawn),
            },
        )
    ]
