"""One validator of a period: every data type from its providers, best first, into canonical row
values, with what reconciliation notices on the way (unusable payloads, disagreeing providers)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from canonical.models import FindingKind, ReconciliationFinding, Severity
from canonical.normalization.context import RunContext
from canonical.normalization.families import family_rows
from canonical.normalization.inputs import Inputs
from canonical.normalization.plan import NormalizationError
from canonical.rows import (
    FEES,
    META,
    MEV,
    MetaSources,
    RowValues,
    StakeFacts,
    TableSpec,
    mev_share,
    plain,
)
from canonical.writing import SaveFields
from chains.models import Provider, ValidatorIdentity
from ingestion.models import DataType
from ingestion.providers.base import Exchange, ValidatorMeta, ValidatorMev, ValidatorRef
from ingestion.providers.errors import ProviderError


@dataclass(frozen=True)
class Parsed:
    provider: Provider
    value: Any
    payloads: Mapping[str, UUID]  # request key -> payload id
    sources: Mapping[str, str]  # row part -> request key (adapter's row_sources)
    default_request_key: str

    def payload_for(self, request_key: str) -> UUID:
        return self.payloads.get(request_key) or self.payloads[self.default_request_key]


@dataclass
class TableRows:
    spec: TableSpec
    rows: list[RowValues]
    parsed: Parsed


@dataclass
class ValidatorWork:
    identity: ValidatorIdentity
    tables: list[TableRows] = field(default_factory=list)
    findings: list[ReconciliationFinding] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    payloads_read: int = 0


def _parse_all(
    ctx: RunContext,
    work: ValidatorWork,
    inputs: Inputs,
    loaded: Mapping[UUID, Exchange],
    data_type: DataType,
    *,
    first_only: bool,
) -> list[Parsed]:
    """Every mapped provider's value for the data type, best first; unusable payloads are findings."""
    validator = ValidatorRef(work.identity.validator_key, work.identity.node_pubkey)
    parsed: list[Parsed] = []
    for provider in ctx.plan.providers.get(data_type, []):
        refs = inputs.get(str(data_type), {}).get(provider.pk)
        if not refs:
            continue
        parser = ctx.plan.parsers[provider.provider_name]
        exchanges = [loaded[ref.id] for ref in refs]
        work.payloads_read += len(exchanges)
        try:
            with ctx.timed("parse"):
                value = parser.parse(data_type, exchanges, ctx.info, validator)
                sources = parser.row_sources(data_type, exchanges)
        except ProviderError as error:
            failure = {
                "validator": validator.key,
                "data_type": str(data_type),
                **error.as_dict(),
            }
            work.failures.append(failure)
            work.findings.append(
                ctx.finding(
                    kind=FindingKind.UNUSABLE_PAYLOAD,
                    severity=Severity.ERROR,
                    validator_key=validator.key,
                    data_type=str(data_type),
                    providers=provider.provider_name,
                    message=f"staged {data_type} payloads of {provider.provider_name} cannot be used: "
                    f"{error.endpoint}: {error.reason}",
                    details=failure,
                )
            )
            continue
        payloads = {ref.request_key: ref.id for ref in refs}
        parsed.append(Parsed(provider, value, payloads, sources, min(payloads)))
        if first_only:
            break
    return parsed


def normalize_validator(
    ctx: RunContext, identity: ValidatorIdentity, inputs: Inputs, loaded: Mapping[UUID, Exchange]
) -> ValidatorWork:
    """The canonical rows of one validator for the period, and what reconciliation saw on the way.
    `loaded` holds the validator's staged payloads (see `load_payloads`)."""
    work = ValidatorWork(identity)
    key = identity.validator_key
    fees = _parse_all(ctx, work, inputs, loaded, DataType.FEES, first_only=False)
    mev = _parse_all(ctx, work, inputs, loaded, DataType.MEV, first_only=False)
    rewards = _parse_all(ctx, work, inputs, loaded, DataType.REWARDS, first_only=True)
    metas = _parse_all(ctx, work, inputs, loaded, DataType.META, first_only=False)
    family = family_rows(ctx.plan.family)
    chain = ctx.plan.chain

    if fees:
        best = fees[0]
        work.tables.append(TableRows(FEES, family.fee_rows(best.value, best.default_request_key), best))
        _compare_providers(
            ctx, work, DataType.FEES, fees, "total_fees_native", lambda v: Decimal(v.total_fees)
        )
    if mev:
        best = mev[0]
        work.tables.append(TableRows(MEV, family.mev_rows(best.value, best.default_request_key), best))
        _compare_providers(ctx, work, DataType.MEV, mev, "total_mev_native", mev_share)
    stake_facts: StakeFacts | None = None
    if rewards:
        best = rewards[0]
        try:
            spec, rows, stake_facts = family.stake(
                best.value, chain=chain, sources=best.sources, default_source=best.default_request_key
            )
        except ValueError as error:  # terms of the chain that cannot be applied (chains.yaml)
            raise NormalizationError(f"chains.yaml {chain.pk}: {error}") from error
        work.tables.append(TableRows(spec, rows, best))
    if metas:
        sources = MetaSources(
            by_provider=[(p.provider.provider_name, p.value, p.default_request_key) for p in metas],
            mev=(mev[0].provider.provider_name, mev[0].value) if mev else None,
            fees=(fees[0].provider.provider_name, fees[0].value) if fees else None,
            stake=(rewards[0].provider.provider_name, stake_facts) if rewards and stake_facts else None,
        )
        try:
            meta = family.meta_rows(key, sources, chain=chain)
        except ValueError as error:
            raise NormalizationError(f"chains.yaml {chain.pk}: {error}") from error
        work.tables.append(TableRows(META, meta, metas[0]))
        _compare_meta(ctx, work, metas, mev)
        _check_identity(ctx, work, metas[0])
    return work


def _differs(a: Decimal, b: Decimal, tolerance_pct: Decimal) -> bool:
    if a == b:
        return False
    base = max(abs(a), abs(b))
    return base == 0 or abs(a - b) * 100 / base > tolerance_pct


def _disagreement(
    ctx: RunContext,
    work: ValidatorWork,
    data_type: DataType,
    column: str,
    best: tuple[str, Decimal],
    other: tuple[str, Decimal],
) -> None:
    (best_name, best_value), (other_name, other_value) = best, other
    delta = (other_value - best_value) * 100 / best_value if best_value else None
    work.findings.append(
        ctx.finding(
            kind=FindingKind.PROVIDER_DISAGREEMENT,
            severity=Severity.WARNING,
            validator_key=work.identity.validator_key,
            data_type=str(data_type),
            field=column,
            providers=f"{best_name} vs {other_name}",
            expected_value=best_value,
            observed_value=other_value,
            delta_pct=None if delta is None else round(delta, 4),
            message=f"{column}: {best_name} says {plain(best_value)}, "
            f"{other_name} says {plain(other_value)}; {best_name} (higher priority) is used",
        )
    )


def _compare_providers(
    ctx: RunContext,
    work: ValidatorWork,
    data_type: DataType,
    parsed: list[Parsed],
    column: str,
    number: Any,
) -> None:
    best = parsed[0]
    for other in parsed[1:]:
        a, b = Decimal(number(best.value)), Decimal(number(other.value))
        if _differs(a, b, Decimal(0)):  # amounts of the same period: they should agree exactly
            _disagreement(
                ctx,
                work,
                data_type,
                column,
                (best.provider.provider_name, a),
                (other.provider.provider_name, b),
            )


def _compare_meta(ctx: RunContext, work: ValidatorWork, metas: list[Parsed], mev: list[Parsed]) -> None:
    best = metas[0]
    best_meta: ValidatorMeta = best.value
    name = best.provider.provider_name
    tolerance = ctx.plan.settings.disagreement_tolerance_pct
    for other in metas[1:]:
        meta: ValidatorMeta = other.value
        pairs = [
            ("commission_rate_bps", best_meta.commission_bps, meta.commission_bps, Decimal(0)),
            ("total_stake_native", best_meta.active_stake, meta.active_stake, tolerance),
            ("mev_commission_bps", best_meta.mev_commission_bps, meta.mev_commission_bps, Decimal(0)),
        ]
        for column, a, b, allowed in pairs:
            if a is not None and b is not None and _differs(Decimal(a), Decimal(b), allowed):
                _disagreement(
                    ctx,
                    work,
                    DataType.META,
                    column,
                    (name, Decimal(a)),
                    (other.provider.provider_name, Decimal(b)),
                )
    if mev:
        mev_value: ValidatorMev = mev[0].value
        claimed = next((p for p in metas if p.value.mev_commission_bps is not None), None)
        if claimed is not None and mev_value.running_mev_client:
            a, b = Decimal(claimed.value.mev_commission_bps), Decimal(mev_value.commission_bps)
            if a != b:
                _disagreement(
                    ctx,
                    work,
                    DataType.META,
                    "mev_commission_bps",
                    (mev[0].provider.provider_name, b),
                    (claimed.provider.provider_name, a),
                )


def _check_identity(ctx: RunContext, work: ValidatorWork, best: Parsed) -> None:
    """Fill the identity's node key and name when unknown; report a node key that differs."""
    identity, meta = work.identity, best.value
    changed = []
    if meta.node_pubkey and not identity.node_pubkey:
        identity.node_pubkey = meta.node_pubkey
        changed.append("node_pubkey")
    elif meta.node_pubkey and identity.node_pubkey != meta.node_pubkey:
        work.findings.append(
            ctx.finding(
                kind=FindingKind.INCONSISTENCY,
                severity=Severity.WARNING,
                validator_key=identity.validator_key,
                data_type=str(DataType.META),
                field="node_pubkey",
                providers=best.provider.provider_name,
                message=f"{best.provider.provider_name} reports node identity {meta.node_pubkey}; "
                f"the registered one is {identity.node_pubkey}",
            )
        )
    if meta.display_name and not identity.display_name:
        identity.display_name = meta.display_name
        changed.append("display_name")
    if changed:
        fields = [*changed, "updated_at"]
        ctx.writer.submit(SaveFields(identity, fields))
