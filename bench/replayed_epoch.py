"""A full replayed epoch: wall time and peak memory, and memory over 1 vs 3 epochs.

World: 50 validators x 2,000 stake accounts, epochs 850-852, every provider mapped to
solana-mainnet (solana-rpc, jito, stakewiz, solanabeach), recorded through the real adapters
(setup, not measured). The registry is config/*.yaml as shipped (no benchmark tweaks).

Each measurement runs `ingest_range` in a fresh process, so `ru_maxrss` (peak resident set size
of that process) is the measurement's own: first epoch 850 alone, then epochs 850-852 in one
process. Memory must not grow with the number of epochs: the 3-epoch peak may be at most 1.3x
the 1-epoch peak. `--tracemalloc` adds Python-heap peaks (slower: tracing every allocation).

    python -m bench replayed_epoch            # scratch database, as `make bench`
    python -m bench.replayed_epoch --help     # (needs DATABASE_URL of a *bench database)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench._support import (
    CHAIN,
    FIRST_EPOCH,
    Recorded,
    World,
    django_setup,
    mib,
    prepare_registry,
    record,
    reset_staging,
    say,
    table,
)

VALIDATORS = 50
STAKE_ACCOUNTS = 2_000
EPOCHS = 3
MAX_GROWTH = 1.3
RESULT_PREFIX = "RESULT "


def _current_rss_kib() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


# ---- one measurement (child process) ------------------------------------------------------------


def child(recordings: Path, epochs: int, trace: bool) -> dict[str, Any]:
    django_setup()
    from ingestion.models import IngestionRun, IngestionStatus, StagingPayload
    from ingestion.providers.http import reset_provider_state
    from ingestion.providers.registry import TransportMode
    from ingestion.services import IngestOptions, ingest_range

    reset_staging()
    reset_provider_state()
    periods: list[dict[str, Any]] = []
    baseline = _peak_rss_kib()
    if trace:
        tracemalloc.start()
    started = last = time.perf_counter()
    last_cpu = time.process_time()

    def on_period(run: IngestionRun) -> None:
        nonlocal last, last_cpu
        now, cpu = time.perf_counter(), time.process_time()
        entry = {
            "period": run.period.period_identifier if run.period else "-",
            "status": str(run.status),
            "seconds": now - last,
            "cpu_seconds": cpu - last_cpu,
            "items": run.items_succeeded,
            "failed": run.items_failed,
            "payloads": run.records_staged,
            "peak_rss_kib": _peak_rss_kib(),
            "rss_kib": _current_rss_kib(),
        }
        if trace:
            entry["traced_peak_bytes"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.reset_peak()
        periods.append(entry)
        last, last_cpu = time.perf_counter(), time.process_time()

    options = IngestOptions(
        mode=TransportMode.REPLAY, recordings=recordings, sleep=lambda _s: None, on_period=on_period
    )
    runs = ingest_range(chain_id=CHAIN, first=FIRST_EPOCH, last=FIRST_EPOCH + epochs - 1, options=options)
    seconds = time.perf_counter() - started
    traced_peak = max((p.get("traced_peak_bytes", 0) for p in periods), default=0)
    if trace:
        tracemalloc.stop()
    return {
        "epochs": epochs,
        "seconds": seconds,
        "runs": len(runs),
        "ok": len(runs) == epochs and all(run.status == IngestionStatus.SUCCESS for run in runs),
        "items": sum(run.items_succeeded for run in runs),
        "failed": sum(run.items_failed for run in runs),
        "errors": [run.error_message for run in runs if run.error_message][:3],
        "payloads": StagingPayload.objects.count(),
        "baseline_rss_kib": baseline,
        "peak_rss_kib": _peak_rss_kib(),
        "traced_peak_bytes": traced_peak,
        "periods": periods,
    }


# ---- the benchmark (parent process) -------------------------------------------------------------


def measure(recordings: Path, epochs: int, trace: bool) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.replayed_epoch",
        "--child",
        "--recordings",
        str(recordings),
        "--epochs",
        str(epochs),
    ]
    if trace:
        command.append("--tracemalloc")
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    elapsed = time.perf_counter() - started
    lines = done.stdout.splitlines()
    found = [line[len(RESULT_PREFIX) :] for line in lines if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not found:
        say(done.stdout)
        say(done.stderr)
        raise SystemExit(f"the {epochs}-epoch measurement failed (exit {done.returncode})")
    result: dict[str, Any] = json.loads(found[-1])
    result["process_seconds"] = elapsed
    return result


def recorded_world(world: World, root: Path) -> Recorded:
    manifest = root / CHAIN / "validators.json"
    if manifest.is_file():
        say(f"reusing the recording under {root}")
        return Recorded(root=root, manifest=manifest, responses=0, megabytes=0.0, seconds=0.0)
    say(
        f"recording {world.validators} validators x {world.stake_accounts} stake accounts, "
        f"epochs {world.first}-{world.last}, all providers (setup) ..."
    )
    recorded = record(world, root)
    say(
        f"  {recorded.responses} responses, {recorded.megabytes:.1f} MB in {recorded.seconds:.1f} s "
        f"under {root}"
    )
    return recorded


def _row(label: str, result: dict[str, Any], trace: bool) -> tuple[str, str]:
    text = (
        f"{result['seconds']:6.1f} s  {result['items']:4d} items  {result['payloads']:6,d} payloads  "
        f"peak RSS {mib(result['peak_rss_kib'])}"
    )
    if trace:
        text += f"  tracemalloc peak {result['traced_peak_bytes'] / 2**20:.0f} MiB"
    return label, text


def parent(args: argparse.Namespace) -> int:
    django_setup()
    world = World(
        validators=VALIDATORS, stake_accounts=STAKE_ACCOUNTS, first=FIRST_EPOCH, last=FIRST_EPOCH + EPOCHS - 1
    )
    with tempfile.TemporaryDirectory(prefix="aurora-bench-") as tmp:
        recorded = recorded_world(world, args.recordings or Path(tmp))
        prepare_registry(recorded.manifest)
        say("measuring 1 epoch in a fresh process ...")
        one = measure(recorded.root, 1, args.tracemalloc)
        say(f"  {one['seconds']:.1f} s, peak RSS {mib(one['peak_rss_kib'])}")
        say(f"measuring {EPOCHS} epochs in one fresh process ...")
        many = measure(recorded.root, EPOCHS, args.tracemalloc)
        say(f"  {many['seconds']:.1f} s, peak RSS {mib(many['peak_rss_kib'])}")
    growth = many["peak_rss_kib"] / one["peak_rss_kib"]
    rows = [
        ("world", f"{VALIDATORS} validators x {STAKE_ACCOUNTS:,} stake accounts, all providers"),
        ("process baseline (Django loaded)", mib(one["baseline_rss_kib"])),
        _row("1 epoch (850)", one, args.tracemalloc),
        (
            "  rate",
            f"{one['items'] / one['seconds']:.1f} items/s, {one['payloads'] / one['seconds']:.0f} payloads/s",
        ),
        _row(f"{EPOCHS} epochs (850-{FIRST_EPOCH + EPOCHS - 1}), one process", many, args.tracemalloc),
    ]
    for period in many["periods"]:
        text = (
            f"{period['seconds']:6.1f} s  {period['items']:4d} items  {period['payloads']:6,d} payloads  "
            f"peak RSS {mib(period['peak_rss_kib'])} (resident now {mib(period['rss_kib'])}), "
            f"Python CPU {period['cpu_seconds']:.1f} s"
        )
        if args.tracemalloc:
            text += f"  tracemalloc peak {period['traced_peak_bytes'] / 2**20:.0f} MiB"
        rows.append((f"  after epoch {period['period']}", text))
    rows.append(("peak RSS 3 epochs / 1 epoch", f"{growth:.2f}x (limit {MAX_GROWTH}x)"))
    if args.tracemalloc and one["traced_peak_bytes"]:
        rows.append(
            (
                "tracemalloc peak 3 / 1",
                f"{many['traced_peak_bytes'] / one['traced_peak_bytes']:.2f}x",
            )
        )
    table(rows, "full replayed epoch")
    problems = []
    for result in (one, many):
        if not result["ok"] or result["failed"]:
            problems.append(
                f"{result['epochs']}-epoch run: {result['runs']} run(s), {result['failed']} failed item(s) "
                f"{result['errors']}"
            )
    if growth > MAX_GROWTH:
        problems.append(f"memory grew {growth:.2f}x from 1 to {EPOCHS} epochs (limit {MAX_GROWTH}x)")
    for problem in problems:
        say(f"FAIL: {problem}")
    if not problems:
        say(f"\nPASS: peak RSS {growth:.2f}x after {EPOCHS} epochs vs 1 (limit {MAX_GROWTH}x)")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations (slower)")
    parser.add_argument(
        "--recordings",
        type=Path,
        help="keep the recording here and reuse it on the next run (default: a temporary directory)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.recordings is None:
            parser.error("--child needs --recordings")
        result = child(args.recordings, args.epochs, args.tracemalloc)
        say(RESULT_PREFIX + json.dumps(result))
        return 0
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
