"""Normalization throughput: 1,000,000 stake-account reward rows from synthetic staged payloads.

Setup (not measured): two final periods of solana-mainnet are staged directly in the bench
database, shaped exactly like solana-rpc's staged REWARDS payloads (a jsonParsed
`getProgramAccounts` listing per validator, and `getInflationReward` batches of 10 calls x 100
addresses), with mutually consistent amounts (Agave's floored commission split, compounded
stake). Period 900 has 125 validators x 2,000 stake accounts (250,000 rows), period 901 has
500 x 2,000 (1,000,000 rows). Only the REWARDS mapping is active, so the runs are reward work.

Measured, each in a fresh process (so its peak RSS is its own):
1. normalize period 900 (250k rows): wall time, rows/s, peak RSS;
2. normalize period 901 (1M rows): wall time, rows/s (target >= 50,000), peak RSS, which must
   stay within 1.3x of the 250k run's (memory flat in the number of rows);
3. normalize period 901 again, unchanged: rows written (must be 0) and the speed-up over 2
   (target >= 5x).

    python -m bench normalization            # scratch database, as `make bench`
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bench._support import CHAIN, django_setup, mib, say, table

ACCOUNTS = 2_000
PERIODS = {900: 125, 901: 500}  # period -> validators
if os.environ.get("AURORA_BENCH_SMALL"):  # a quick look at the same code on a tenth of the data
    PERIODS = {900: 12, 901: 50}
ADDRESSES_PER_CALL = 100
CALLS_PER_BATCH = 10
U64_MAX = 2**64 - 1
STAKE_PROGRAM = "Stake11111111111111111111111111111111111111"
RESULT_PREFIX = "RESULT "
TARGET_ROWS_PER_SECOND = 50_000
TARGET_RERUN_SPEEDUP = 5.0
MAX_MEMORY_GROWTH = 1.3
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def pubkey(*parts: object) -> str:
    number = int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest(), "big")
    digits = []
    while number:
        number, digit = divmod(number, 58)
        digits.append(B58[digit])
    return "".join(reversed(digits)).rjust(32, "1")[:44]


def _number(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "big")


# ---- setup: synthetic staged payloads ----------------------------------------------------------


def validator_payloads(epoch: int, index: int) -> tuple[str, list[tuple[str, Any, Any]]]:
    """(vote account, [(request key, request, body)]) for one validator's REWARDS item."""
    vote = pubkey("vote", index)
    commission = (5, 7, 8, 10)[index % 4]
    listing, nets = [], {}
    vote_reward = 0
    for j in range(ACCOUNTS):
        address = pubkey("stake", index, j)
        withdrawer = pubkey("client", _number("client", index, j) % 300_000)
        stake = 1_000_000_000 + _number("stake", index, j) % 50_000_000_000_000
        gross = stake * 65 // 1000 // 182
        voter, net = gross * commission // 100, gross * (100 - commission) // 100
        vote_reward += voter
        nets[address] = net
        listing.append(
            {
                "pubkey": address,
                "account": {
                    "data": {
                        "space": 200,
                        "parsed": {
                            "info": {
                                "meta": {
                                    "lockup": {"epoch": 0, "custodian": "1" * 32, "unixTimestamp": 0},
                                    "authorized": {"staker": withdrawer, "withdrawer": withdrawer},
                                    "rentExemptReserve": "2282880",
                                },
                                "stake": {
                                    "delegation": {
                                        "stake": str(stake + net),  # compounded when the reward was paid
                                        "voter": vote,
                                        "activationEpoch": "400",
                                        "deactivationEpoch": str(U64_MAX),
                                        "warmupCooldownRate": 0.25,
                                    },
                                    "creditsObserved": 1_300_000_000,
                                },
                            },
                            "type": "delegated",
                        },
                        "program": "stake",
                    },
                    "owner": STAKE_PROGRAM,
                    "space": 200,
                    "lamports": stake + net + 2_282_880,
                    "rentEpoch": U64_MAX,
                    "executable": False,
                },
            }
        )
    filters = [{"dataSize": 200}, {"memcmp": {"bytes": vote, "offset": 124}}]
    listing_request = {
        "url": "https://api.mainnet-beta.solana.com/",
        "method": "POST",
        "body": {
            "id": 1,
            "jsonrpc": "2.0",
            "method": "getProgramAccounts",
            "params": [
                STAKE_PROGRAM,
                {"filters": filters, "encoding": "jsonParsed", "commitment": "finalized"},
            ],
        },
    }
    payloads: list[tuple[str, Any, Any]] = [
        ("stake-accounts", listing_request, {"id": 1, "jsonrpc": "2.0", "result": listing})
    ]
    addresses = [vote, *sorted(nets)]
    calls = [addresses[i : i + ADDRESSES_PER_CALL] for i in range(0, len(addresses), ADDRESSES_PER_CALL)]
    slot = (epoch + 1) * 432_000
    for batch, start in enumerate(range(0, len(calls), CALLS_PER_BATCH)):
        chunk = calls[start : start + CALLS_PER_BATCH]
        body = [
            {
                "jsonrpc": "2.0",
                "id": call_id,
                "method": "getInflationReward",
                "params": [group, {"epoch": epoch, "commitment": "finalized"}],
            }
            for call_id, group in enumerate(chunk)
        ]
        answers = [
            {
                "jsonrpc": "2.0",
                "id": call_id,
                "result": [
                    {
                        "epoch": epoch,
                        "amount": vote_reward if address == vote else nets[address],
                        "commission": commission,
                        "postBalance": 10**12,
                        "effectiveSlot": slot + 1,
                    }
                    for address in group
                ],
            }
            for call_id, group in enumerate(chunk)
        ]
        request = {"url": "https://api.mainnet-beta.solana.com/", "method": "POST", "body": body}
        payloads.append((f"inflation-rewards#{batch:04d}", request, answers))
    return vote, payloads


def setup() -> None:
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from aurora.common.hashing import canonical_json
    from chains.models import Chain, ChainProviderMapping, Period, Provider
    from chains.services import registry_sync
    from ingestion.models import IngestionRun, IngestionStatus
    from ingestion.services import register_validators

    registry_sync(chains_file=settings.AURORA_CHAINS_FILE, providers_file=settings.AURORA_PROVIDERS_FILE)
    ChainProviderMapping.objects.filter(chain_id=CHAIN).exclude(provider_role__in=["REWARDS", "RPC"]).update(
        is_active=False
    )
    chain = Chain.objects.get(pk=CHAIN)
    provider = Provider.objects.get(provider_name="solana-rpc")
    register_validators(
        chain_id=CHAIN,
        validators=[{"validator_key": pubkey("vote", i)} for i in range(max(PERIODS.values()))],
    )
    now = timezone.now()
    columns = (
        "payload_id, run_id, chain_id, period_id, validator_key, provider_id, provider_version, data_type, "
        "request_key, request, fetch_timestamp, response_hash, raw_payload, created_at"
    )
    for epoch, validators in PERIODS.items():
        started = time.perf_counter()
        start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=2 * (epoch - 900))
        period = Period.objects.create(
            chain=chain,
            period_identifier=str(epoch),
            period_start=start,
            period_end=start + timedelta(days=2),
            first_index=epoch * 432_000,
            last_index=(epoch + 1) * 432_000 - 1,
            is_finalized=True,
            finalized_at=now,
        )
        run = IngestionRun.objects.create(chain=chain, period=period, status=IngestionStatus.SUCCESS)
        with connection.cursor() as cursor:
            for index in range(validators):
                vote, payloads = validator_payloads(epoch, index)
                rows = []
                for request_key, request, body in payloads:
                    text = canonical_json(body)
                    rows.append(
                        (
                            uuid.uuid4(),
                            run.pk,
                            CHAIN,
                            period.pk,
                            vote,
                            provider.pk,
                            "solana.rpc",
                            "REWARDS",
                            request_key,
                            canonical_json(request),
                            now,
                            hashlib.sha256(text.encode()).hexdigest(),
                            text,
                            now,
                        )
                    )
                with cursor.cursor.copy(f"COPY staging_payloads ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        seconds = time.perf_counter() - started
        say(f"  staged period {epoch}: {validators} validators x {ACCOUNTS} accounts in {seconds:.0f} s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE staging_payloads")


# ---- one measurement (child process) ------------------------------------------------------------


def child(epoch: int) -> dict[str, Any]:
    django_setup()
    from canonical.services import normalize_range

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started, cpu = time.perf_counter(), time.process_time()
    (run,) = normalize_range(chain_id=CHAIN, first=epoch, last=epoch, triggered_by="bench")
    wall = time.perf_counter() - started
    return {
        "status": run.status,
        "wall": wall,
        "cpu": time.process_time() - cpu,
        "rows": run.rows_inserted,
        "superseded": run.rows_superseded,
        "unchanged_validators": run.validators_unchanged,
        "payloads": run.payloads_read,
        "timings": run.timings,
        "baseline_kib": baseline,
        "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "error": run.error_message,
    }


def measure(epoch: int) -> dict[str, Any]:
    output = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench.normalization", "--child", str(epoch)],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ,
    )
    for line in output.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return dict(json.loads(line[len(RESULT_PREFIX) :]))
    raise SystemExit(f"measurement of period {epoch} failed:\n{output.stdout}\n{output.stderr}")


def describe(result: dict[str, Any]) -> str:
    rate = result["rows"] / result["wall"] if result["wall"] else 0
    return (
        f"{result['wall']:.1f} s (Python CPU {result['cpu']:.1f} s), {result['rows']:,} rows written "
        f"({rate:,.0f} rows/s), peak RSS {mib(result['peak_kib'])}, phases {result['timings']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.normalization", description=__doc__)
    parser.add_argument("--child", type=int, metavar="PERIOD", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        sys.stdout.write(RESULT_PREFIX + json.dumps(child(args.child)) + "\n")
        return 0

    django_setup()
    total = sum(PERIODS.values()) * ACCOUNTS
    say(f"staging {total:,} synthetic stake-account rewards (setup) ...")
    setup()

    say("normalizing period 900 (250,000 rows) in a fresh process ...")
    small = measure(900)
    say(f"  {describe(small)}")
    say("normalizing period 901 (1,000,000 rows) in a fresh process ...")
    large = measure(901)
    say(f"  {describe(large)}")
    say("normalizing period 901 again, unchanged ...")
    again = measure(901)
    say(f"  {describe(again)}")

    rate = large["rows"] / large["wall"]
    growth = large["peak_kib"] / small["peak_kib"]
    speedup = large["wall"] / again["wall"] if again["wall"] else float("inf")
    table(
        [
            ("rows, period 901", f"{large['rows']:,} (expected {PERIODS[901] * (ACCOUNTS + 1):,})"),
            (
                "normalize 1M rows",
                f"{large['wall']:.1f} s -> {rate:,.0f} rows/s (target >= {TARGET_ROWS_PER_SECOND:,})",
            ),
            (
                "peak RSS 250k / 1M rows",
                f"{mib(small['peak_kib'])} / {mib(large['peak_kib'])}: {growth:.2f}x",
            ),
            ("unchanged re-run", f"{again['wall']:.2f} s, {again['rows']} rows, {speedup:.0f}x faster"),
        ],
        "normalization",
    )
    failures = []
    if large["status"] != "SUCCESS" or small["status"] != "SUCCESS":
        failures.append(f"runs did not succeed: {large['status']} {small['status']} {large['error']}")
    if large["rows"] != PERIODS[901] * (ACCOUNTS + 1):
        failures.append("unexpected row count")
    if rate < TARGET_ROWS_PER_SECOND:
        failures.append(f"{rate:,.0f} rows/s < {TARGET_ROWS_PER_SECOND:,}")
    if growth > MAX_MEMORY_GROWTH:
        failures.append(f"peak memory grew {growth:.2f}x from 250k to 1M rows")
    if again["rows"] or again["superseded"]:
        failures.append(f"the unchanged re-run wrote {again['rows']} rows")
    if speedup < TARGET_RERUN_SPEEDUP:
        failures.append(f"the unchanged re-run is only {speedup:.1f}x faster")
    for failure in failures:
        say(f"FAIL: {failure}")
    if not failures:
        say(f"\nPASS: {rate:,.0f} rows/s, memory {growth:.2f}x, re-run {speedup:.0f}x faster, 0 rows")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
