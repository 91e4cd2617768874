"""Is the stored data whole? Read-only checks an operator runs (`manage.py check_integrity`).

- **Canonical completeness**: every active validator has current canonical fees, MEV, staking
  rewards (the validator-level row) and metadata for every final period that was ingested, unless
  the gap has an explicit reason on record: the period's latest ingestion run lists the item as
  failed (and nothing was staged for it), or its latest normalization run found the staged
  payloads unusable or failed.
- **Staged, never normalized**: payloads staged for a final period and validator with no current
  canonical row of their data type (and no recorded reason), e.g. ingested after the last
  normalization.
- **Commission lines without sources**: a line whose agreement version does not exist, whose rule
  belongs to another agreement, version or order, or whose period is of another chain or not final.
- **Statement totals**: a statement whose stored total or line count differs from its lines.

Each check is a few set-based queries per chain, whatever the number of rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import Count, DecimalField, Exists, F, Max, OuterRef, Q, Sum, Value
from django.db.models.functions import Coalesce

from canonical.models import (
    CanonicalStakeReward,
    CanonicalValidatorFees,
    CanonicalValidatorMeta,
    CanonicalValidatorMev,
    NormalizationRun,
    NormalizationStatus,
)
from chains.models import Chain, Period, ValidatorIdentity
from commissions.models import AgreementVersion, CommissionLine, Statement
from ingestion.models import DataType, IngestionRun, IngestionStatus, StagingPayload


class IntegrityError(ValueError):
    """The check cannot run as asked (an unknown chain)."""


class FindingKind(StrEnum):
    MISSING_CANONICAL = "canonical rows missing"
    STAGED_NOT_NORMALIZED = "staged payloads without canonical rows"
    LINE_WITHOUT_SOURCE = "commission lines without sources"
    STATEMENT_TOTALS = "statement totals differ from their lines"


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    chain_id: str
    subject: str  # what it is about: "period 851, validator Vote…, FEES", "line <id>", "statement <id>"
    message: str


@dataclass(frozen=True)
class ExplainedGap:
    """Canonical rows missing for a reason on record: not a finding, but worth showing."""

    chain_id: str
    period: str
    validator_key: str
    data_type: str
    reason: str


@dataclass
class IntegrityReport:
    chains: list[str]
    findings: list[Finding] = field(default_factory=list)
    explained: list[ExplainedGap] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def clean(self) -> bool:
        return not self.findings

    def by_kind(self) -> dict[FindingKind, list[Finding]]:
        grouped: dict[FindingKind, list[Finding]] = {kind: [] for kind in FindingKind}
        for finding in self.findings:
            grouped[finding.kind].append(finding)
        return {kind: findings for kind, findings in grouped.items() if findings}


# Which table holds each data type's current value (stake rewards: the validator-level row).
CANONICAL: dict[str, tuple[type[Any], Q]] = {
    DataType.FEES: (CanonicalValidatorFees, Q()),
    DataType.MEV: (CanonicalValidatorMev, Q()),
    DataType.REWARDS: (CanonicalStakeReward, Q(staker_address__isnull=True)),
    DataType.META: (CanonicalValidatorMeta, Q()),
}
FINISHED_INGESTION = (IngestionStatus.SUCCESS, IngestionStatus.PARTIAL, IngestionStatus.FAILED)
FINISHED_NORMALIZATION = (
    NormalizationStatus.SUCCESS,
    NormalizationStatus.PARTIAL,
    NormalizationStatus.FAILED,
)

Key = tuple[Any, str, str]  # (period id, validator key, data type)


def _chains(chain_ids: Sequence[str]) -> tuple[list[Chain], list[Chain]]:
    """(chains whose completeness is checked, chains whose lines and statements are checked)."""
    if not chain_ids:
        chains = list(Chain.objects.order_by("pk"))
        return [chain for chain in chains if chain.is_active], chains
    found = {chain.pk: chain for chain in Chain.objects.filter(pk__in=chain_ids)}
    unknown = [chain_id for chain_id in chain_ids if chain_id not in found]
    if unknown:
        raise IntegrityError(f"unknown chain {unknown[0]!r}")
    chains = [found[chain_id] for chain_id in dict.fromkeys(chain_ids)]
    return chains, chains


def check_integrity(*, chain_ids: Sequence[str] = ()) -> IntegrityReport:
    """Every check over the chains (default: completeness on the active chains, lines and statements
    on all)."""
    complete_on, books_on = _chains(chain_ids)
    report = IntegrityReport(chains=[chain.pk for chain in books_on])
    for chain in complete_on:
        _canonical(chain, report)
    _lines(books_on, report)
    _statements(books_on, report)
    return report


# ---- canonical completeness and staged payloads -------------------------------------------------


def _ingested_final_periods(chain: Chain) -> list[Period]:
    ingested = IngestionRun.objects.filter(period=OuterRef("pk"), status__in=FINISHED_INGESTION)
    staged = StagingPayload.objects.filter(period=OuterRef("pk"))
    periods = Period.objects.filter(chain=chain, is_finalized=True).filter(
        Q(Exists(ingested)) | Q(Exists(staged))
    )
    return sorted(periods, key=lambda p: (p.period_start, p.period_identifier))


def _latest_per_period(model: type[Any], chain: Chain, statuses: Iterable[str]) -> dict[Any, Any]:
    """The newest finished run of each period (PostgreSQL DISTINCT ON)."""
    runs = (
        model.objects.filter(chain=chain, status__in=list(statuses))
        .order_by("period_id", "-started_at")
        .distinct("period_id")
    )
    return {run.period_id: run for run in runs}


def _failure_text(failure: dict[str, Any]) -> str:
    where = " ".join(part for part in (failure.get("provider"), failure.get("endpoint")) if part)
    return f"{where}: {failure.get('reason', 'failed')}" if where else str(failure.get("reason", "failed"))


def _ingestion_reasons(chain: Chain) -> tuple[dict[Key, str], dict[Any, str]]:
    """From each period's latest ingestion run: failed items, and a failure of the whole run."""
    items: dict[Key, str] = {}
    whole: dict[Any, str] = {}
    for period_id, run in _latest_per_period(IngestionRun, chain, FINISHED_INGESTION).items():
        item_failures = [f for f in run.failures or [] if f.get("validator") and f.get("data_type")]
        for failure in item_failures:
            key = (period_id, failure["validator"], failure["data_type"])
            items.setdefault(key, f"ingestion failed ({_failure_text(failure)})")
        if run.status == IngestionStatus.FAILED and not item_failures:
            whole[period_id] = f"ingestion of the period failed ({run.error_message or 'no message'})"
    return items, whole


def _normalization_state(chain: Chain) -> tuple[dict[Key, str], dict[Any, NormalizationRun]]:
    """Unusable payloads per item from each period's latest normalization run, and those runs."""
    latest = _latest_per_period(NormalizationRun, chain, FINISHED_NORMALIZATION)
    items: dict[Key, str] = {}
    for period_id, run in latest.items():
        for failure in run.failures or []:
            if failure.get("validator") and failure.get("data_type"):
                key = (period_id, failure["validator"], failure["data_type"])
                items.setdefault(key, f"staged payloads unusable ({_failure_text(failure)})")
    return items, latest


def _canonical(chain: Chain, report: IntegrityReport) -> None:
    periods = _ingested_final_periods(chain)
    if not periods:
        return
    by_id = {period.pk: period for period in periods}
    active = set(
        ValidatorIdentity.objects.filter(chain=chain, is_active=True).values_list("validator_key", flat=True)
    )
    present: set[Key] = set()
    for data_type, (model, condition) in CANONICAL.items():
        rows = (
            model.objects.filter(condition, chain=chain, period__in=periods, superseded_at__isnull=True)
            .values_list("period_id", "validator_key")
            .distinct()
        )
        present.update((period_id, key, str(data_type)) for period_id, key in rows)
    staged: dict[Key, dict[str, Any]] = {
        (row["period_id"], row["validator_key"], row["data_type"]): row
        for row in StagingPayload.objects.filter(chain=chain, period__in=periods)
        .values("period_id", "validator_key", "data_type")
        .annotate(
            payloads=Count("id"),
            providers=ArrayAgg("provider__provider_name", distinct=True),
            last=Max("created_at"),
        )
    }
    ingestion_items, ingestion_whole = _ingestion_reasons(chain)
    normalization_items, normalized = _normalization_state(chain)

    expected = {
        (period.pk, key, str(data_type)) for period in periods for key in active for data_type in CANONICAL
    }
    report.checked["final periods"] += len(periods)
    report.checked["validator-periods"] += len(periods) * len(active)
    for key in sorted(expected | set(staged), key=lambda k: (by_id[k[0]].period_start, k[1], k[2])):
        if key in present:
            continue
        period_id, validator_key, data_type = key
        period = by_id[period_id]
        subject = f"period {period.period_identifier}, validator {validator_key}, {data_type}"
        run = normalized.get(period_id)
        reason = _reason(key, staged, ingestion_items, ingestion_whole, normalization_items, run)
        if reason is not None:
            report.explained.append(
                ExplainedGap(chain.pk, period.period_identifier, validator_key, data_type, reason)
            )
        elif key in staged:
            report.findings.append(
                Finding(
                    FindingKind.STAGED_NOT_NORMALIZED, chain.pk, subject, _staged_message(staged[key], run)
                )
            )
        else:
            report.findings.append(
                Finding(
                    FindingKind.MISSING_CANONICAL,
                    chain.pk,
                    subject,
                    "no current canonical row, nothing staged and no failure on record: ingest the period",
                )
            )


def _reason(
    key: Key,
    staged: dict[Key, dict[str, Any]],
    ingestion_items: dict[Key, str],
    ingestion_whole: dict[Any, str],
    normalization_items: dict[Key, str],
    run: NormalizationRun | None,
) -> str | None:
    if key not in staged:  # nothing to normalize: only a recorded ingestion failure explains it
        return ingestion_items.get(key) or ingestion_whole.get(key[0])
    if run is None or run.started_at < staged[key]["last"]:
        return None  # staged after the last normalization: it has simply not been normalized yet
    if key in normalization_items:
        return normalization_items[key]
    if run.status == NormalizationStatus.FAILED:
        return f"normalization of the period failed ({run.error_message or 'no message'})"
    return None


def _staged_message(staged: dict[str, Any], run: NormalizationRun | None) -> str:
    what = f"{staged['payloads']} payload(s) from {', '.join(sorted(staged['providers']))}"
    if run is None:
        return f"{what}, and the period was never normalized: normalize it"
    if run.started_at < staged["last"]:
        return f"{what}, staged after the last normalization ({_when(run.started_at)}): normalize again"
    return f"{what}, but the last normalization ({_when(run.started_at)}) wrote no row and recorded no reason"


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


# ---- commission lines and statements ------------------------------------------------------------


def _lines(chains: Sequence[Chain], report: IntegrityReport) -> None:
    lines = CommissionLine.objects.filter(chain__in=chains)
    report.checked["commission lines"] += lines.count()
    version = AgreementVersion.objects.filter(
        agreement_id=OuterRef("agreement_id"), version_number=OuterRef("agreement_version")
    )
    rule_mismatch = (
        ~Q(rule__agreement_id=F("agreement_id"))
        | ~Q(rule__version_number=F("agreement_version"))
        | ~Q(rule__rule_order=F("rule_order"))
    )
    period_mismatch = ~Q(period__chain_id=F("chain_id")) | Q(period__is_finalized=False)
    suspicious = (
        lines.annotate(has_version=Exists(version))
        .filter(Q(has_version=False) | rule_mismatch | period_mismatch)
        .select_related("rule", "period", "agreement")
        .order_by("chain_id", "period__period_start", "agreement_id", "rule_order")
    )
    for line in suspicious:
        problems = []
        if not line.has_version:
            problems.append(f"agreement version {line.agreement_version} does not exist")
        rule = line.rule
        if (rule.agreement_id, rule.version_number, rule.rule_order) != (
            line.agreement_id,
            line.agreement_version,
            line.rule_order,
        ):
            problems.append(
                f"its rule is rule {rule.rule_order} of version {rule.version_number}"
                + ("" if rule.agreement_id == line.agreement_id else " of another agreement")
                + f", not rule {line.rule_order} of version {line.agreement_version}"
            )
        if line.period.chain_id != line.chain_id:
            problems.append(f"its period {line.period} is of chain {line.period.chain_id}")
        elif not line.period.is_finalized:
            problems.append(f"its period {line.period.period_identifier} is not final")
        subject = f"line {line.pk} ({line.agreement.agreement_name}, period {line.period.period_identifier})"
        report.findings.append(
            Finding(FindingKind.LINE_WITHOUT_SOURCE, line.chain_id, subject, "; ".join(problems))
        )


def _statements(chains: Sequence[Chain], report: IntegrityReport) -> None:
    zero = Value(Decimal(0), output_field=DecimalField(max_digits=48, decimal_places=18))
    statements = (
        Statement.objects.filter(chain__in=chains)
        .annotate(
            lines_total=Coalesce(Sum("lines__final_amount_native"), zero),
            lines_count=Count("lines"),
        )
        .select_related("partner")
        .order_by("chain_id", "month", "partner__partner_name")
    )
    for statement in statements:
        report.checked["statements"] += 1
        total, count = statement.lines_total, statement.lines_count
        if statement.total_commission_native == total and statement.line_count == count:
            continue
        report.findings.append(
            Finding(
                FindingKind.STATEMENT_TOTALS,
                statement.chain_id,
                f"statement {statement.pk} "
                f"({statement.partner.partner_name}, {statement.month}, {statement.status})",
                f"stored total {_plain(statement.total_commission_native)} over "
                f"{statement.line_count} line(s); its lines sum to {_plain(total)} over {count} line(s)",
            )
        )


def _plain(value: Decimal) -> str:
    return f"{Decimal(value).normalize():f}"


def render_report(report: IntegrityReport, *, show_explained: bool = True) -> str:
    """The findings grouped by kind, the explained gaps, and what was checked."""
    out: list[str] = []
    for kind, findings in report.by_kind().items():
        out.append(f"{kind} ({len(findings)})")
        out.extend(f"  [{f.chain_id}] {f.subject}: {f.message}" for f in findings)
        out.append("")
    if report.explained and show_explained:
        out.append(f"gaps with a recorded reason, not counted as findings ({len(report.explained)})")
        out.extend(
            f"  [{g.chain_id}] period {g.period}, validator {g.validator_key}, {g.data_type}: {g.reason}"
            for g in report.explained
        )
        out.append("")
    checked = ", ".join(f"{count} {what}" for what, count in report.checked.items())
    out.append(f"checked: {checked or 'nothing'} ({', '.join(report.chains) or 'no chain'})")
    return "\n".join(out)
