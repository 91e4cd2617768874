"""Recompute throughput: a synthetic month of commissions.

Setup (not measured): 10 final periods of solana-mainnet, each with 50 validators and 200,000
stake accounts (4,000 per validator, two per withdraw authority), written straight into the
canonical tables; 500 partners with 100 client withdraw authorities each (some joining
mid-month); 2,000 active agreements with 3 rules each (FIXED_SHARE, STAKE_WEIGHT and
CLIENT_REVENUE on different components, some per validator, some tiered, floors and caps).

Measured, each in a fresh process:
1. a full recompute of the 10 periods (P&L, 60,000 lines, snapshots, draft statements);
2. the same recompute with nothing changed: target <= 1 s;
3. a what-if preview of one agreement over the month: target <= 2 s;
4. a plain SQL aggregate of the same component sums (per period, partner and validator: the
   clients' stake, rewards and commission, and each validator's components), the floor a
   recompute can approach: target full recompute <= 3x it, measured in the same run;
5. the full recompute again from nothing, spread over Celery workers (one task per period) with
   one worker process, then with two: target speed-up >= 1.6x, and every period's fingerprint
   the same as the serial run's.

    python -m bench recompute            # scratch database, as `make bench`
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._support import CHAIN, django_setup, mib, say, table

PERIODS = 10
VALIDATORS = 50
ACCOUNTS_PER_VALIDATOR = 4_000
PARTNERS = 500
CLIENTS_PER_PARTNER = 100
AGREEMENTS_PER_PARTNER = 4
FIRST_PERIOD = 1_000
MONTH_START = datetime(2026, 10, 1, tzinfo=UTC)
if os.environ.get("AURORA_BENCH_SMALL"):  # the same shape at a tenth of the size
    VALIDATORS, ACCOUNTS_PER_VALIDATOR, PARTNERS = 10, 2_000, 50
TARGET_RATIO, TARGET_UNCHANGED, TARGET_PREVIEW, TARGET_SPEEDUP = 3.0, 1.0, 2.0, 1.6
RESULT_PREFIX = "RESULT "


def _copy(cursor: Any, table_name: str, columns: list[str], rows: Any) -> None:
    with cursor.copy(f"COPY {table_name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def setup() -> None:
    from django.conf import settings
    from django.db import connection

    from chains.models import Chain, Period, Provider
    from chains.services import registry_sync
    from ingestion.models import IngestionRun
    from ingestion.services import register_validators

    registry_sync(chains_file=settings.AURORA_CHAINS_FILE, providers_file=settings.AURORA_PROVIDERS_FILE)
    chain = Chain.objects.get(pk=CHAIN)
    chain.parameters = {**chain.parameters, "operator_withdraw_authorities": ["Operator"]}
    chain.save(update_fields=["parameters"])
    provider = Provider.objects.get(provider_name="solana-rpc")
    validators = [f"Vote{v:040d}" for v in range(VALIDATORS)]
    register_validators(chain_id=CHAIN, validators=[{"validator_key": key} for key in validators])
    now = datetime.now(UTC)
    raw = connection.connection
    started = time.perf_counter()
    for index in range(PERIODS):
        end = MONTH_START + timedelta(days=3 * index + 2)
        period = Period.objects.create(
            chain=chain,
            period_identifier=str(FIRST_PERIOD + index),
            period_start=end - timedelta(days=2),
            period_end=end,
            is_finalized=True,
            finalized_at=now,
        )
        run = IngestionRun.objects.create(chain=chain, period=period, status="SUCCESS")
        payloads: dict[tuple[str, str], uuid.UUID] = {}
        with raw.cursor() as cursor:
            rows = []
            for key in validators:
                for data_type in ("FEES", "MEV", "REWARDS"):
                    payload_id = uuid.uuid4()
                    payloads[(key, data_type)] = payload_id
                    rows.append(
                        (
                            payload_id,
                            run.pk,
                            CHAIN,
                            period.pk,
                            key,
                            provider.pk,
                            "solana.rpc",
                            data_type,
                            "bench",
                            "{}",
                            now,
                            payload_id.hex * 2,
                            "{}",
                            now,
                        )
                    )
            _copy(
                cursor,
                "staging_payloads",
                [
                    "payload_id",
                    "run_id",
                    "chain_id",
                    "period_id",
                    "validator_key",
                    "provider_id",
                    "provider_version",
                    "data_type",
                    "request_key",
                    "request",
                    "fetch_timestamp",
                    "response_hash",
                    "raw_payload",
                    "created_at",
                ],
                rows,
            )
            common = [
                "chain_id",
                "period_id",
                "validator_key",
                "source_provider_id",
                "source_payload_id",
                "normalized_at",
                "created_at",
                "updated_at",
            ]
            _copy(
                cursor,
                "canonical_validator_fees",
                [*common, "total_fees_native", "fee_count"],
                (
                    (
                        CHAIN,
                        period.pk,
                        k,
                        provider.pk,
                        payloads[(k, "FEES")],
                        now,
                        now,
                        now,
                        10_000_000_000 + 7_919 * v + 131 * index,
                        1_000,
                    )
                    for v, k in enumerate(validators)
                ),
            )
            _copy(
                cursor,
                "canonical_validator_mev",
                [*common, "total_mev_native", "tip_count"],
                (
                    (
                        CHAIN,
                        period.pk,
                        k,
                        provider.pk,
                        payloads[(k, "MEV")],
                        now,
                        now,
                        now,
                        2_000_000_000 + 3_001 * v + 17 * index,
                        0,
                    )
                    for v, k in enumerate(validators)
                ),
            )
            columns = [
                *common,
                "reward_id",
                "staker_address",
                "withdraw_authority",
                "active_stake_native",
                "rewards_native",
                "commission_native",
                "commission_rate_bps",
            ]

            def stake_rows(period: Any = period, payloads: dict[Any, Any] = payloads) -> Any:
                for v, key in enumerate(validators):
                    base = (CHAIN, period.pk, key, provider.pk, payloads[(key, "REWARDS")], now, now, now)
                    total_stake = total_commission = 0
                    for i in range(ACCOUNTS_PER_VALIDATOR):
                        stake = 1_000_000_000_000 + (v * 7_919 + i * 104_729) % 50_000_000_000_000
                        rewards = stake * 65 // 1000 // 182
                        commission = rewards * 5 // 100
                        total_stake += stake
                        total_commission += commission
                        authority = (
                            "Operator" if i == 0 else f"Authority{(v * ACCOUNTS_PER_VALIDATOR + i) // 2:035d}"
                        )
                        yield (
                            *base,
                            uuid.uuid4(),
                            f"Stake{v:03d}{i:036d}",
                            authority,
                            stake,
                            rewards,
                            commission,
                            500,
                        )
                    yield (
                        *base,
                        uuid.uuid4(),
                        None,
                        None,
                        total_stake,
                        total_commission * 20,
                        total_commission,
                        500,
                    )

            _copy(cursor, "canonical_stake_rewards", columns, stake_rows())
        say(
            f"  period {FIRST_PERIOD + index}: {VALIDATORS * ACCOUNTS_PER_VALIDATOR:,} stake accounts "
            f"({time.perf_counter() - started:.0f} s)"
        )
    _partners_and_agreements(chain, validators)
    from aurora.common.dbroles import as_schema_owner

    with as_schema_owner(), connection.cursor() as cursor:  # ANALYZE skips tables the app role does not own
        cursor.execute("ANALYZE")


def _partners_and_agreements(chain: Any, validators: list[str]) -> None:
    from commissions.models import (
        Agreement,
        AgreementRule,
        AgreementStatus,
        AgreementStatusEvent,
        AgreementVersion,
    )
    from partners.models import ClientKind, Partner, PartnerClient

    partners = Partner.objects.bulk_create(
        Partner(partner_name=f"Partner {p:03d}", contact_email=f"p{p}@example.com") for p in range(PARTNERS)
    )
    authorities = VALIDATORS * ACCOUNTS_PER_VALIDATOR // 2
    clients = []
    for p, partner in enumerate(partners):
        for c in range(CLIENTS_PER_PARTNER):
            number = (p * CLIENTS_PER_PARTNER + c) * 2 % authorities
            since = MONTH_START + timedelta(days=14) if c % 10 == 0 else MONTH_START  # a tenth join mid-month
            clients.append(
                PartnerClient(
                    partner=partner,
                    chain=chain,
                    address=f"Authority{number:035d}",
                    kind=ClientKind.WITHDRAW_AUTHORITY,
                    effective_from=since,
                )
            )
    PartnerClient.objects.bulk_create(clients, batch_size=5_000)
    tiers = {
        "basis": "introduced_stake",
        "mode": "marginal",
        "tiers": [{"from": "0", "rate_bps": 1_000}, {"from": "50000000000000", "rate_bps": 1_500}],
    }
    agreements, versions, rules, events = [], [], [], []
    for p, partner in enumerate(partners):
        for a in range(AGREEMENTS_PER_PARTNER):
            agreement = Agreement(
                partner=partner,
                agreement_name=f"Agreement {p:03d}-{a}",
                status=AgreementStatus.ACTIVE,
                effective_from=MONTH_START - timedelta(days=30),
            )
            agreements.append(agreement)
            versions.append(
                AgreementVersion(
                    agreement=agreement,
                    version_number=1,
                    effective_from=agreement.effective_from,
                    terms_snapshot={"rules": []},
                    change_reason="bench",
                )
            )
            events.append(
                AgreementStatusEvent(
                    agreement=agreement,
                    from_status="DRAFT",
                    to_status="ACTIVE",
                    effective_at=agreement.effective_from,
                    reason="bench",
                )
            )
            validator = validators[(p + a) % len(validators)] if a % 2 else None
            rules += [
                AgreementRule(
                    agreement=agreement,
                    version_number=1,
                    rule_order=1,
                    chain=chain,
                    validator_key=validator,
                    revenue_component="MEV_TIPS",
                    attribution_method="FIXED_SHARE",
                    commission_rate_bps=50 + a,
                ),
                AgreementRule(
                    agreement=agreement,
                    version_number=1,
                    rule_order=2,
                    chain=chain,
                    revenue_component="EXEC_FEES",
                    attribution_method="STAKE_WEIGHT",
                    commission_rate_bps=1_000,
                    tier_config=tiers if a == 3 else None,
                ),
                AgreementRule(
                    agreement=agreement,
                    version_number=1,
                    rule_order=3,
                    chain=chain,
                    revenue_component="COMMISSION",
                    attribution_method="CLIENT_REVENUE",
                    commission_rate_bps=2_000,
                    floor_amount_native=1_000 if a == 2 else None,
                    cap_amount_native=10**12 if a == 2 else None,
                ),
            ]
    Agreement.objects.bulk_create(agreements, batch_size=2_000)
    AgreementVersion.objects.bulk_create(versions, batch_size=2_000)
    AgreementStatusEvent.objects.bulk_create(events, batch_size=2_000)
    AgreementRule.objects.bulk_create(rules, batch_size=2_000)


def child(mode: str) -> dict[str, Any]:
    django_setup()
    from django.db import connection

    from commissions.services.recompute import recompute_range

    started, cpu = time.perf_counter(), time.process_time()
    if mode == "sql":
        from aurora.common.planner import hash_joins_only

        # The same planner setting as the recompute: without it, row-level security on
        # partner_clients can make PostgreSQL pick a nested loop, and the floor would be unfairly high.
        with hash_joins_only(), connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT p.period_id, c.partner_id, r.validator_key, SUM(r.active_stake_native),
                       SUM(r.rewards_native), SUM(r.commission_native), COUNT(*)
                FROM canonical_periods p
                JOIN canonical_stake_rewards r ON r.period_id = p.period_id AND r.superseded_at IS NULL
                     AND r.staker_address IS NOT NULL
                JOIN partner_clients c ON c.chain_id = r.chain_id AND c.address = r.withdraw_authority
                     AND c.effective_from <= p.period_end
                     AND (c.effective_until IS NULL OR c.effective_until > p.period_end)
                WHERE p.chain_id = %s
                GROUP BY 1, 2, 3
                """,
                [CHAIN],
            )
            groups = len(cursor.fetchall())
            cursor.execute(
                """
                SELECT f.period_id, f.validator_key, f.total_fees_native, m.total_mev_native,
                       a.commission_native
                FROM canonical_validator_fees f
                JOIN canonical_validator_mev m USING (period_id, validator_key)
                JOIN canonical_stake_rewards a
                  ON a.period_id = f.period_id AND a.validator_key = f.validator_key
                     AND a.staker_address IS NULL AND a.superseded_at IS NULL
                WHERE f.superseded_at IS NULL AND m.superseded_at IS NULL
                """
            )
            groups += len(cursor.fetchall())
        return {
            "wall": time.perf_counter() - started,
            "cpu": time.process_time() - cpu,
            "groups": groups,
            "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        }
    if mode == "preview":
        from commissions.models import Agreement
        from commissions.services.agreements import RuleSpec
        from commissions.services.preview import preview_terms

        agreement = Agreement.objects.order_by("agreement_name").first()
        if agreement is None:
            raise SystemExit("the bench month has no agreement: run the setup first")
        from commissions.models import AgreementRule

        rules = AgreementRule.objects.filter(agreement=agreement, is_active=True).order_by("rule_order")
        current = [RuleSpec.from_rule(rule) for rule in rules]
        proposed = [
            RuleSpec(**{**vars(rule), "commission_rate_bps": rule.commission_rate_bps + 10})
            for rule in current
        ]
        started, cpu = time.perf_counter(), time.process_time()
        preview = preview_terms(
            partner_id=agreement.partner_id,
            agreement_id=agreement.pk,
            proposed=proposed,
            current=current,
            chain_id=CHAIN,
            first=FIRST_PERIOD,
            last=FIRST_PERIOD + PERIODS - 1,
        )
        return {
            "wall": time.perf_counter() - started,
            "cpu": time.process_time() - cpu,
            "periods": len(preview.rows),
            "matches_stored": preview.current_total == preview.stored_total,
        }
    if mode == "workers":
        from aurora.common.dbroles import as_schema_owner
        from commissions.tasks import recompute_range_on_workers

        with as_schema_owner(), connection.cursor() as cursor:  # back to nothing computed
            cursor.execute(
                "TRUNCATE partner_commission_lines, partner_commission_statements, computation_runs, "
                "validator_pnl, client_stake_snapshots CASCADE"
            )
        started, cpu = time.perf_counter(), time.process_time()
        runs = recompute_range_on_workers(
            chain_id=CHAIN, first=FIRST_PERIOD, last=FIRST_PERIOD + PERIODS - 1, triggered_by="bench"
        )
    else:
        runs = recompute_range(
            chain_id=CHAIN, first=FIRST_PERIOD, last=FIRST_PERIOD + PERIODS - 1, triggered_by="bench"
        )
    return {
        "wall": time.perf_counter() - started,
        "cpu": time.process_time() - cpu,
        "statuses": sorted({r.status for r in runs}),
        "errors": [r.error_message for r in runs if r.error_message],
        "lines_written": sum(r.lines_inserted + r.lines_updated for r in runs),
        "lines_unchanged": sum(r.lines_unchanged for r in runs),
        "per_period": [float(r.duration_seconds or 0) for r in runs],
        "fingerprints": [r.fingerprint for r in runs],
        "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


class CeleryWorker:
    """`celery worker` with `concurrency` processes on the bench database and a broker key prefix of
    this run, started before the measurement and stopped after it (its start-up is not measured)."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> CeleryWorker:
        celery = str(Path(sys.executable).with_name("celery"))
        self.process = subprocess.Popen(  # noqa: S603
            [
                celery,
                "-A",
                "aurora",
                "worker",
                "--pool=prefork",
                f"--concurrency={self.concurrency}",
                "--loglevel=INFO",
                f"--hostname=bench-{uuid.uuid4().hex[:8]}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            env={**os.environ, "AURORA_CHECK_PROVIDERS_AT_WORKER_START": "false", "LOG_FORMAT": "plain"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        if self.process.stdout is None:
            raise SystemExit("no output from the Celery worker")
        deadline = time.monotonic() + 60
        for line in self.process.stdout:
            if " ready." in line:
                threading.Thread(target=self.process.stdout.read, daemon=True).start()  # keep draining
                return self
            if time.monotonic() > deadline:
                break
        self.__exit__()
        raise SystemExit("the Celery worker did not start")

    def __exit__(self, *_: object) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def measure(mode: str) -> dict[str, Any]:
    output = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench.recompute", "--child", mode],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in output.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return dict(json.loads(line[len(RESULT_PREFIX) :]))
    raise SystemExit(f"measurement {mode} failed:\n{output.stdout}\n{output.stderr}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.recompute", description=__doc__)
    parser.add_argument("--child", choices=["recompute", "sql", "preview", "workers"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        sys.stdout.write(RESULT_PREFIX + json.dumps(child(args.child)) + "\n")
        return 0
    django_setup()
    say(
        f"synthetic month (setup): {PERIODS} periods x {VALIDATORS} validators x "
        f"{VALIDATORS * ACCOUNTS_PER_VALIDATOR:,} stake accounts, {PARTNERS} partners, "
        f"{PARTNERS * AGREEMENTS_PER_PARTNER:,} agreements x 3 rules"
    )
    setup()
    say("full recompute ...")
    full = measure("recompute")
    say(f"  {full['wall']:.1f} s, {full['lines_written']:,} lines written, peak RSS {mib(full['peak_kib'])}")
    say("recompute with nothing changed ...")
    again = measure("recompute")
    say(f"  {again['wall']:.1f} s, {again['lines_written']} lines written")
    say("what-if preview of one agreement over the month ...")
    preview = measure("preview")
    say(f"  {preview['wall']:.2f} s, {preview['periods']} periods")
    say("plain SQL aggregate of the same sums ...")
    sql = measure("sql")
    say(f"  {sql['wall']:.2f} s, {sql['groups']:,} groups")
    # The workers' tasks travel under a key prefix of this run: other runs on the same Redis
    # never see them.
    os.environ["CELERY_BROKER_KEY_PREFIX"] = f"aurora-bench-{os.getpid()}:"
    on_workers = {}
    for concurrency in (1, 2):
        say(f"full recompute from nothing on Celery, {concurrency} worker process(es) ...")
        with CeleryWorker(concurrency):
            on_workers[concurrency] = measure("workers")
        say(f"  {on_workers[concurrency]['wall']:.1f} s")
    speedup = on_workers[1]["wall"] / on_workers[2]["wall"]
    same = all(run["fingerprints"] == full["fingerprints"] for run in on_workers.values())
    expected_lines = PERIODS * PARTNERS * AGREEMENTS_PER_PARTNER * 3
    ratio = full["wall"] / sql["wall"]
    table(
        [
            ("lines", f"{full['lines_written']:,} (expected {expected_lines:,})"),
            (
                "full recompute",
                f"{full['wall']:.1f} s (Python CPU {full['cpu']:.1f} s)",
            ),
            ("per period", ", ".join(f"{s:.1f}" for s in full["per_period"]) + " s"),
            (
                "nothing changed",
                f"{again['wall']:.1f} s, {again['lines_written']} written "
                f"(target <= {TARGET_UNCHANGED:.1f} s)",
            ),
            (
                "plain SQL aggregate",
                f"{sql['wall']:.2f} s: full recompute is {ratio:.1f}x it (target <= {TARGET_RATIO:.0f}x)",
            ),
            (
                "what-if preview",
                f"{preview['wall']:.2f} s for one agreement over {preview['periods']} periods "
                f"(target <= {TARGET_PREVIEW:.0f} s)",
            ),
            (
                "on Celery workers",
                f"1 process {on_workers[1]['wall']:.1f} s, 2 processes {on_workers[2]['wall']:.1f} s: "
                f"speed-up {speedup:.2f}x (target >= {TARGET_SPEEDUP:.1f}x); fingerprints "
                + ("identical to the serial run" if same else "DIFFER from the serial run"),
            ),
            ("peak RSS", mib(full["peak_kib"])),
        ],
        "recompute",
    )
    failures = []
    if full["statuses"] != ["SUCCESS"] or full["errors"]:
        failures.append(f"runs failed: {full['errors'][:1]}")
    if full["lines_written"] != expected_lines:
        failures.append("unexpected number of lines")
    if ratio > TARGET_RATIO:
        failures.append(
            f"full recompute {full['wall']:.1f} s is {ratio:.1f}x the SQL aggregate (> {TARGET_RATIO:.0f}x)"
        )
    if again["wall"] > TARGET_UNCHANGED or again["lines_written"]:
        failures.append(f"unchanged recompute {again['wall']:.1f} s, {again['lines_written']} lines written")
    if preview["wall"] > TARGET_PREVIEW or not preview["matches_stored"]:
        failures.append(
            f"what-if preview {preview['wall']:.2f} s (current terms match the stored lines: "
            f"{preview['matches_stored']})"
        )
    for concurrency, run in on_workers.items():
        if run["statuses"] != ["SUCCESS"] or run["lines_written"] != expected_lines:
            failures.append(f"on {concurrency} worker process(es): {run['statuses']}, {run['errors'][:1]}")
    if not same:
        failures.append("a recompute on workers gave other fingerprints than the serial run")
    if speedup < TARGET_SPEEDUP:
        failures.append(f"2 worker processes are {speedup:.2f}x 1 (< {TARGET_SPEEDUP:.1f}x)")
    for failure in failures:
        say(f"FAIL: {failure}")
    if not failures:
        say(f"\nPASS: full {full['wall']:.1f} s ({ratio:.1f}x SQL), unchanged {again['wall']:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
