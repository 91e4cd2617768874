"""`python -m bench [NAME ...] [--keep-db] [--profile]`: the benchmarks against a scratch database.

Creates a database `aurora_bench_<pid>` (or AURORA_BENCH_DB) next to the project's database with
the same credentials, migrates it, runs each benchmark in its own process, one after another, and
drops the database. Exits non-zero if a benchmark missed its target or failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bench._support import (
    BENCH_DB,
    ROOT,
    base_database_url,
    bench_env,
    drop_database,
    drop_stale_databases,
    owner_database_url,
    recreate_database,
    say,
    with_database,
)

BENCHMARKS = (
    "staging_throughput",
    "replayed_epoch",
    "normalization",
    "recompute",
    "api_latency",
    "ethereum_window",
)
MEASURED_PATHS = ("ingestion", "aurora", "chains", "config")


def code_state() -> str:
    """The commit measured, and whether the code under test has uncommitted changes (read-only git)."""
    try:
        head = subprocess.run(
            ["git", "log", "-1", "--format=%h %s"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(  # noqa: S603
            ["git", "status", "--porcelain", "--", *MEASURED_PATHS],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    dirty = f"; uncommitted: {', '.join(line[3:] for line in changed)}" if changed else ""
    return f"{head[:100]}{dirty}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"{', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--keep-db", action="store_true", help=f"leave {BENCH_DB} in place afterwards")
    parser.add_argument("--profile", action="store_true", help="add a cProfile to staging_throughput")
    args = parser.parse_args(argv)
    names = args.names or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")

    base = owner_database_url()  # creates, migrates and drops the scratch database
    url = with_database(base_database_url(), BENCH_DB)
    env = bench_env(url)
    started = time.perf_counter()
    say(f"bench: code {code_state()}")
    for stale in drop_stale_databases(base):
        say(f"bench: dropped {stale}, left by a run that is gone")
    say(f"bench: scratch database {BENCH_DB}")
    recreate_database(base, BENCH_DB)
    failed: list[str] = []
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
        )
        for name in names:
            say(f"\n=== {name} ===")
            command = [sys.executable, "-m", f"bench.{name}"]
            if args.profile and name == "staging_throughput":
                command.append("--profile")
            if subprocess.run(command, cwd=ROOT, env=env, check=False).returncode != 0:  # noqa: S603
                failed.append(name)
    finally:
        if not args.keep_db:
            drop_database(base, BENCH_DB)
    say(f"\nbench: {len(names) - len(failed)}/{len(names)} passed in {time.perf_counter() - started:.0f} s")
    if failed:
        say(f"bench: FAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
