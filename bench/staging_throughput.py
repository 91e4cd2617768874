"""Staging throughput: stake-account rewards stored per second, end to end through replay.

World: 50 validators x 1,999 stake accounts, one epoch. With `inflation_reward_addresses: 100`
and `archival_batch_size: 1`, a validator's REWARDS item asks getInflationReward for 2,000
addresses (its vote account and its 1,999 stake accounts) in 20 requests of 100, so the period
stages exactly 1,000 getInflationReward payloads holding 100,000 rewards, next to the 50
getProgramAccounts listings those addresses come from.

Only REWARDS is ingested: the run is restricted to `solana-rpc`, and that provider's FEES and
META mappings are switched off in the bench database. The measurement is one `ingest_range`
call (replayed HTTP, JSON-RPC matching, pydantic validation, hashing, bulk insert); recording
the world is setup. Each item is also timed from the `on_item` callbacks.

    python -m bench staging_throughput            # scratch database, as `make bench`
    python -m bench staging_throughput --profile  # and a cProfile of one more run
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench._support import (
    CHAIN,
    FIRST_EPOCH,
    Recorded,
    World,
    django_setup,
    prepare_registry,
    record,
    reset_staging,
    say,
    table,
)

VALIDATORS = 50
STAKE_ACCOUNTS = 1_999  # + the vote account = 2,000 addresses = 20 requests of 100
ADDRESSES_PER_CALL = 100
TARGET_REWARDS_PER_SECOND = 10_000


@dataclass(frozen=True)
class Measurement:
    seconds: float  # the whole ingest_range call
    cpu_seconds: float  # CPU time of this process meanwhile (the rest: waiting, mostly on PostgreSQL)
    item_seconds: list[float]  # one per REWARDS item, from the on_item callbacks
    items_staged: int
    items_failed: int
    payloads: int  # every REWARDS payload (listings and reward batches)
    reward_payloads: int  # getInflationReward batches
    rewards: int  # addresses answered in them (vote + stake accounts)
    stake_account_rewards: int
    non_null_rewards: int

    @property
    def steady_seconds(self) -> float:
        """Items 2..n: without the first item's warm-up (period discovery, lazy imports, caches)."""
        return sum(self.item_seconds[1:])


def ingest_once(
    recordings: Path, *, profile: cProfile.Profile | None = None
) -> tuple[float, float, list[float]]:
    """(wall seconds, this process's CPU seconds, per-item seconds) of one ingest_range call."""
    from ingestion.providers.registry import TransportMode
    from ingestion.services import IngestOptions, ItemOutcome, ingest_range

    marks: list[float] = []
    statuses: list[str] = []

    def on_item(outcome: ItemOutcome) -> None:
        marks.append(time.perf_counter())
        statuses.append(outcome.status)

    options = IngestOptions(
        mode=TransportMode.REPLAY, recordings=recordings, sleep=lambda _s: None, on_item=on_item
    )
    reset_staging()
    started, cpu = time.perf_counter(), time.process_time()
    if profile is not None:
        profile.enable()
    ingest_range(
        chain_id=CHAIN, first=FIRST_EPOCH, last=FIRST_EPOCH, provider_names=["solana-rpc"], options=options
    )
    if profile is not None:
        profile.disable()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    items = [b - a for a, b in zip([started, *marks], marks, strict=False)]
    if set(statuses) != {"staged"}:
        say(f"warning: item outcomes {sorted(set(statuses))} (expected all staged)")
    return seconds, cpu, items


def count_staged() -> dict[str, int]:
    from ingestion.models import DataType, IngestionRun, StagingPayload

    rows = StagingPayload.objects.filter(data_type=DataType.REWARDS)
    counts = {"payloads": rows.count(), "reward_payloads": 0, "rewards": 0, "stake": 0, "non_null": 0}
    validators = set(rows.values_list("validator_key", flat=True))
    for request, body in rows.filter(request_key__startswith="inflation-rewards").values_list(
        "request", "raw_payload"
    ):
        counts["reward_payloads"] += 1
        for call, answer in zip(request["body"], body, strict=True):
            addresses = call["params"][0]
            counts["rewards"] += len(addresses)
            counts["stake"] += sum(1 for address in addresses if address not in validators)
            counts["non_null"] += sum(1 for value in answer["result"] if value is not None)
    runs = IngestionRun.objects.all()
    counts["items_staged"] = sum(run.items_succeeded for run in runs)
    counts["items_failed"] = sum(run.items_failed for run in runs)
    return counts


def measure(recordings: Path) -> Measurement:
    seconds, cpu, items = ingest_once(recordings)
    counts = count_staged()
    return Measurement(
        seconds=seconds,
        cpu_seconds=cpu,
        item_seconds=items,
        items_staged=counts["items_staged"],
        items_failed=counts["items_failed"],
        payloads=counts["payloads"],
        reward_payloads=counts["reward_payloads"],
        rewards=counts["rewards"],
        stake_account_rewards=counts["stake"],
        non_null_rewards=counts["non_null"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="measured runs (the median is reported)")
    parser.add_argument("--profile", action="store_true", help="then print a cProfile of one more run")
    parser.add_argument("--profile-top", type=int, default=15)
    parser.add_argument(
        "--recordings",
        type=Path,
        help="keep the recording here and reuse it on the next run (default: a temporary directory)",
    )
    args = parser.parse_args(argv)
    django_setup()
    from ingestion.providers.http import reset_provider_state

    world = World(
        validators=VALIDATORS,
        stake_accounts=STAKE_ACCOUNTS,
        first=FIRST_EPOCH,
        last=FIRST_EPOCH,
        providers=frozenset({"solana-rpc"}),
        data_types=frozenset({"REWARDS"}),
    )
    with tempfile.TemporaryDirectory(prefix="aurora-bench-") as tmp:
        recorded = recorded_world(world, args.recordings or Path(tmp))
        prepare_registry(
            recorded.manifest,
            options={
                "solana-rpc": {"archival_batch_size": 1, "inflation_reward_addresses": ADDRESSES_PER_CALL}
            },
            inactive_roles=[("solana-rpc", "FEES"), ("solana-rpc", "META")],
        )
        runs = []
        for number in range(1, max(1, args.repeat) + 1):
            reset_provider_state()
            result = measure(recorded.root)
            runs.append(result)
            say(
                f"  run {number}: {result.seconds:.2f} s (Python CPU {result.cpu_seconds:.2f} s), "
                f"{result.rewards / result.seconds:,.0f} rewards/s, "
                f"{result.items_staged} items staged, {result.items_failed} failed"
            )
        profile_text = ""
        if args.profile:
            reset_provider_state()
            profile = cProfile.Profile()
            ingest_once(recorded.root, profile=profile)
            out = io.StringIO()
            stats = pstats.Stats(profile, stream=out)
            stats.sort_stats("cumulative").print_stats(args.profile_top)
            stats.sort_stats("tottime").print_stats(args.profile_top)
            profile_text = out.getvalue()
    median = statistics.median(run.seconds for run in runs)
    best = min(runs, key=lambda run: run.seconds)
    last = runs[-1]
    rate = last.rewards / median
    steady = statistics.median(run.steady_seconds for run in runs)
    steady_rewards = last.rewards * (len(last.item_seconds) - 1) / max(1, len(last.item_seconds))
    table(
        [
            ("world", f"{VALIDATORS} validators x {STAKE_ACCOUNTS:,} stake accounts, epoch {FIRST_EPOCH}"),
            ("REWARDS items staged / failed", f"{last.items_staged} / {last.items_failed}"),
            ("payloads staged (REWARDS)", f"{last.payloads:,}"),
            ("  getInflationReward payloads", f"{last.reward_payloads:,}"),
            ("  getProgramAccounts payloads", f"{last.payloads - last.reward_payloads:,}"),
            ("rewards in them", f"{last.rewards:,}"),
            ("  stake-account rewards", f"{last.stake_account_rewards:,}"),
            ("  non-null rewards", f"{last.non_null_rewards:,}"),
            ("ingest_range, median of runs", f"{median:.2f} s (best {best.seconds:.2f} s, {len(runs)} runs)"),
            ("  of which Python CPU", f"{statistics.median(run.cpu_seconds for run in runs):.2f} s"),
            ("payloads/s (all REWARDS)", f"{last.payloads / median:,.0f}"),
            ("getInflationReward payloads/s", f"{last.reward_payloads / median:,.0f}"),
            ("rewards/s", f"{rate:,.0f}  (target >= {TARGET_REWARDS_PER_SECOND:,})"),
            ("stake-account rewards/s", f"{last.stake_account_rewards / median:,.0f}"),
            ("per item (median, p90)", _item_stats(last.item_seconds)),
            ("rewards/s, items 2..n", f"{steady_rewards / steady:,.0f}  (without the first item)"),
        ],
        "staging throughput (REWARDS through replay)",
    )
    if profile_text:
        say(f"\ncProfile of one more run (top {args.profile_top} by cumulative, then by own time)")
        say(profile_text)
    ok = rate >= TARGET_REWARDS_PER_SECOND and last.items_failed == 0 and last.rewards > 0
    say(f"\n{'PASS' if ok else 'FAIL'}: {rate:,.0f} rewards/s (target >= {TARGET_REWARDS_PER_SECOND:,})")
    return 0 if ok else 1


def recorded_world(world: World, root: Path) -> Recorded:
    manifest = root / CHAIN / "validators.json"
    if manifest.is_file():
        say(f"reusing the recording under {root}")
        return Recorded(root=root, manifest=manifest, responses=0, megabytes=0.0, seconds=0.0)
    say(f"recording {world.validators} validators x {world.stake_accounts} stake accounts (setup) ...")
    recorded = record(world, root)
    say(
        f"  {recorded.responses} responses, {recorded.megabytes:.1f} MB in {recorded.seconds:.1f} s "
        f"under {root}"
    )
    return recorded


def _item_stats(items: list[float]) -> str:
    if not items:
        return "-"
    ordered = sorted(items)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"{statistics.median(items) * 1000:.0f} ms, {p90 * 1000:.0f} ms ({len(items)} items)"


if __name__ == "__main__":
    sys.exit(main())
