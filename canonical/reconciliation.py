"""Reconciliation checks that read the current canonical rows of a period.

Normalization itself reports what it sees while parsing (values that changed, providers that
disagree, payloads it cannot use). The checks here look at the result: period-over-period deltas
beyond the chain's threshold, expected data that is missing, and internal inconsistencies of the
staking rewards. They return unsaved findings; the caller files them in the run's report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection

from canonical.models import FindingKind, ReconciliationFinding, Severity
from canonical.rows import FEES, META, MEV, STAKE_REWARDS, TABLES, TableSpec, plain
from chains.models import Chain, Period, ValidatorIdentity


class ReconciliationSettingsError(ValueError):
    """The chain's `parameters.reconciliation` in chains.yaml is not valid."""


@dataclass(frozen=True)
class Settings:
    """Per chain, from `parameters: reconciliation:` in chains.yaml (all optional)."""

    delta_threshold_pct: Decimal = Decimal(10)  # period-over-period change that gets a warning
    disagreement_tolerance_pct: Decimal = Decimal(1)  # stake snapshots of two providers may differ
    stake_rate_tolerance_pct: Decimal = Decimal(1)  # a stake account's reward vs stake x rate
    stake_rate_tolerance_native: Decimal = Decimal(100)  # ... in base units, for tiny accounts

    @classmethod
    def for_chain(cls, chain: Chain) -> Settings:
        configured = (chain.parameters or {}).get("reconciliation") or {}
        if not isinstance(configured, dict):
            raise ReconciliationSettingsError(f"{chain.pk}: parameters.reconciliation must be a mapping")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(configured) - known)
        if unknown:
            raise ReconciliationSettingsError(
                f"{chain.pk}: parameters.reconciliation: unknown setting(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})"
            )
        values = {}
        for name, raw in configured.items():
            try:
                value = Decimal(str(raw))
            except InvalidOperation:
                value = Decimal(-1)
            if isinstance(raw, bool) or not value.is_finite() or value < 0:
                raise ReconciliationSettingsError(
                    f"{chain.pk}: parameters.reconciliation.{name}: expected a number >= 0, got {raw!r}"
                )
            values[name] = value
        return cls(**values)


def _finding(chain: Chain, period: Period, **values: Any) -> ReconciliationFinding:
    return ReconciliationFinding(chain=chain, period=period, **values)


def check_period(
    chain: Chain, period: Period, validators: Sequence[ValidatorIdentity], settings: Settings
) -> list[ReconciliationFinding]:
    keys = [v.validator_key for v in validators]
    return [
        *missing_data(chain, period, keys),
        *period_deltas(chain, period, keys, settings),
        *commission_totals(chain, period, keys),
        *stake_rate_outliers(chain, period, keys, settings),
    ]


# ---- (c) missing data ---------------------------------------------------------------------------


def _headline(spec: TableSpec, period: Period, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The current validator-level row of each validator: {validator: {column: value}}."""
    columns = [c for c in (spec.amount_field, "commission_native") if c in spec.value_fields]
    rows = spec.model._default_manager.filter(
        period=period, validator_key__in=keys, superseded_at__isnull=True
    ).values("validator_key", *columns)
    if spec.per_staker:
        rows = rows.filter(staker_address__isnull=True)
    return {row["validator_key"]: row for row in rows}


def missing_data(chain: Chain, period: Period, keys: Sequence[str]) -> Iterable[ReconciliationFinding]:
    for spec in TABLES:
        present = _headline(spec, period, keys)
        for key in keys:
            if key not in present:
                yield _finding(
                    chain,
                    period,
                    kind=FindingKind.MISSING_DATA,
                    severity=Severity.ERROR,
                    validator_key=key,
                    data_type=str(spec.data_type),
                    message=f"no {spec.data_type} for final period {period.period_identifier}: "
                    "nothing usable was staged by any mapped provider",
                )


# ---- (b) period-over-period deltas --------------------------------------------------------------


DELTA_COLUMNS: tuple[tuple[TableSpec, str], ...] = (
    (FEES, "total_fees_native"),
    (MEV, "total_mev_native"),
    (STAKE_REWARDS, "rewards_native"),
    (STAKE_REWARDS, "commission_native"),
    (META, "total_stake_native"),
)


def previous_period(period: Period) -> Period | None:
    return (
        Period.objects.filter(chain_id=period.chain_id, period_start__lt=period.period_start)
        .order_by("-period_start")
        .first()
    )


def period_deltas(
    chain: Chain, period: Period, keys: Sequence[str], settings: Settings
) -> Iterable[ReconciliationFinding]:
    before = previous_period(period)
    if before is None:
        return
    for spec in {spec for spec, _ in DELTA_COLUMNS}:
        now, then = _headline(spec, period, keys), _headline(spec, before, keys)
        for column in (c for s, c in DELTA_COLUMNS if s is spec):
            for key in keys:
                if key not in now or key not in then:
                    continue
                current, previous = Decimal(now[key][column]), Decimal(then[key][column])
                if current == previous:
                    continue
                pct = (current - previous) * 100 / previous if previous else None
                if pct is not None and abs(pct) <= settings.delta_threshold_pct:
                    continue
                change = f"{pct:+.2f} %" if pct is not None else "from 0"
                yield _finding(
                    chain,
                    period,
                    kind=FindingKind.PERIOD_DELTA,
                    severity=Severity.WARNING,
                    validator_key=key,
                    data_type=str(spec.data_type),
                    field=column,
                    expected_value=previous,
                    observed_value=current,
                    delta_pct=None if pct is None else round(pct, 4),
                    message=f"{column} {change} against period {before.period_identifier} "
                    f"({plain(previous)} -> {plain(current)}; threshold {settings.delta_threshold_pct} %)",
                    details={"previous_period": before.period_identifier},
                )


# ---- (e) internal consistency of staking rewards ------------------------------------------------


def commission_totals(chain: Chain, period: Period, keys: Sequence[str]) -> Iterable[ReconciliationFinding]:
    """The per-stake-account commissions must add up to the vote account's own reward, the exact
    commission of the period, within the lamport each floored split may lose per account."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT validator_key, "
            "COUNT(*) FILTER (WHERE staker_address IS NOT NULL), "
            "COALESCE(SUM(commission_native) FILTER (WHERE staker_address IS NOT NULL), 0), "
            "MAX(commission_native) FILTER (WHERE staker_address IS NULL), "
            "MAX(commission_rate_bps) FILTER (WHERE staker_address IS NULL) "
            "FROM canonical_stake_rewards WHERE period_id = %s AND superseded_at IS NULL "
            "AND validator_key = ANY(%s) GROUP BY validator_key",
            [period.pk, list(keys)],
        )
        rows = cursor.fetchall()
    for key, accounts, stakers_total, vote_commission, rate_bps in rows:
        if vote_commission is None:
            continue
        pct = Decimal(rate_bps or 0) / 100
        per_account = max(Decimal(1), pct / (100 - pct)) if pct < 100 else Decimal(0)
        allowed = per_account * max(accounts, 1)
        difference = stakers_total - vote_commission
        if abs(difference) <= allowed:
            continue
        yield _finding(
            chain,
            period,
            kind=FindingKind.INCONSISTENCY,
            severity=Severity.ERROR,
            validator_key=key,
            data_type="REWARDS",
            field="commission_native",
            expected_value=vote_commission,
            observed_value=stakers_total,
            delta_pct=round(difference * 100 / vote_commission, 4) if vote_commission else None,
            message=f"the {accounts} stake accounts' commissions add up to {plain(stakers_total)}, the vote "
            f"account earned {plain(vote_commission)} (difference {plain(difference)}, rounding allows "
            f"{plain(allowed)}): "
            "stake accounts may be missing from the listing",
        )


def stake_rate_outliers(
    chain: Chain, period: Period, keys: Sequence[str], settings: Settings
) -> Iterable[ReconciliationFinding]:
    """Every stake account of a validator earns the same rate in a period: a reward far from
    stake x (the validator's rate) means a wrong stake, a partial activation, or a wrong reward."""
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH accounts AS ("
            "  SELECT validator_key, staker_address, active_stake_native AS stake, rewards_native AS reward "
            "  FROM canonical_stake_rewards WHERE period_id = %s AND superseded_at IS NULL "
            "  AND staker_address IS NOT NULL AND validator_key = ANY(%s) AND active_stake_native > 0), "
            "rates AS (SELECT validator_key, SUM(reward) / SUM(stake) AS rate, COUNT(*) AS n "
            "  FROM accounts GROUP BY validator_key) "
            "SELECT a.validator_key, r.rate, r.n, a.staker_address, a.stake, a.reward, a.stake * r.rate "
            "FROM accounts a JOIN rates r USING (validator_key) "
            "WHERE abs(a.reward - a.stake * r.rate) > "
            "  greatest(a.stake * r.rate * %s / 100, %s) "
            "ORDER BY a.validator_key, abs(a.reward - a.stake * r.rate) DESC",
            [
                period.pk,
                list(keys),
                settings.stake_rate_tolerance_pct,
                settings.stake_rate_tolerance_native,
            ],
        )
        rows = cursor.fetchall()
    by_validator: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_validator.setdefault(row[0], []).append(row)
    for key, outliers in by_validator.items():
        _, rate, accounts, _, _, _, _ = outliers[0]
        yield _finding(
            chain,
            period,
            kind=FindingKind.INCONSISTENCY,
            severity=Severity.WARNING,
            validator_key=key,
            data_type="REWARDS",
            field="rewards_native",
            message=f"{len(outliers)} of {accounts} stake accounts earned off the validator's rate "
            f"{rate:.12f} per base unit of stake by more than {settings.stake_rate_tolerance_pct} %",
            details={
                "rate": str(rate),
                "examples": [
                    {
                        "stake_account": staker,
                        "stake": str(stake),
                        "reward": str(reward),
                        "expected": str(expected),
                    }
                    for _, _, _, staker, stake, reward, expected in outliers[:10]
                ],
            },
        )


def summarize(findings: Sequence[ReconciliationFinding]) -> str:
    if not findings:
        return "no findings"
    severities = Counter(f.severity for f in findings)
    kinds = Counter(f.kind for f in findings)
    head = ", ".join(f"{severities[s]} {s.lower()}" for s in Severity.values[::-1] if severities[s])
    detail = ", ".join(f"{count} {FindingKind(kind).label.lower()}" for kind, count in kinds.most_common())
    return f"{head}: {detail}"
