"""One Ethereum window (225 epochs, a day) for 1,000 validators through the replay transport.

World: the simulated network of `demo.simulated.ethereum` with its four scripted operator
validators plus generated ones (1,000 in all), one window of `period_length_epochs` = 225 (the
configured length) starting at epoch 395100. Setup, not measured: the window is recorded through
the real Beacon, execution and relay adapters in record mode into a scratch directory (as
`manage.py record_ethereum_simulation` builds the shipped recording), ethereum-mainnet is switched
on and the validators registered.

Measured, each in a fresh process: `ingest_range` of the window with the replay provider (wall
time, HTTP requests counted at the replay transport, payloads staged, peak RSS), then
`normalize_range` of the window (wall time, rows, peak RSS). No target: the figures are printed,
and the exit status is non-zero only if a run failed.

Size by environment (defaults keep `make bench` within its 15 minutes; 1000 is the issue's size):
    AURORA_BENCH_ETH_VALIDATORS   validators (default 100, at least the 4 scripted ones)
    AURORA_BENCH_ETH_EPOCHS       epochs per window (default 225)
When either is below 1,000 x 225, the table adds an extrapolation to 1,000 validators x 225 epochs.

    python -m bench ethereum_window            # scratch database, as `make bench`
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
from pathlib import Path
from typing import Any

from bench._support import django_setup, mib, say, table

CHAIN = "ethereum-mainnet"
FULL_VALIDATORS = 1_000
FULL_EPOCHS = 225
DEFAULT_VALIDATORS = 100  # the full 1,000 take ~14 minutes of the 15 `make bench` may take
FIRST_WINDOW = 395_100  # a multiple of 225: the window of 2025-09-22 12:00:23 UTC
SEED = 7
RESULT_PREFIX = "RESULT "
PER_VALIDATOR = "per-validator"  # requests naming one validator (counted besides their provider)


def size() -> tuple[int, int]:
    validators = int(os.environ.get("AURORA_BENCH_ETH_VALIDATORS") or DEFAULT_VALIDATORS)
    epochs = int(os.environ.get("AURORA_BENCH_ETH_EPOCHS") or FULL_EPOCHS)
    if validators < 4 or epochs < 8:
        raise SystemExit("AURORA_BENCH_ETH_VALIDATORS >= 4 and AURORA_BENCH_ETH_EPOCHS >= 8, please")
    return validators, epochs


def first_window(epochs: int) -> int:
    """The first window start at or after FIRST_WINDOW for windows of `epochs` epochs."""
    return -(-FIRST_WINDOW // epochs) * epochs


def _peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


# ---- recording the window (setup) ---------------------------------------------------------------


def _validators(count: int) -> list[Any]:
    """The four scripted operator validators, then generated ones with 0x01 credentials."""
    from demo.simulated.ethereum import GWEI, SimulatedEthValidator, _hex, demo_validators

    validators = list(demo_validators(seed=SEED))
    for number in range(count - len(validators)):
        index = 1_500_000 + number
        validators.append(
            SimulatedEthValidator(
                name=f"Bench ETH {number:04d}",
                index=index,
                pubkey=_hex(SEED, 48, "validator-pubkey", index),
                withdrawal_credentials="0x01"
                + "00" * 11
                + _hex(SEED, 20, "bench-withdrawal", number % 50)[2:],
                fee_recipient=_hex(SEED, 20, "fee-recipient", f"bench-{number % 50}"),
                balance_gwei=32 * GWEI + number * 1_000,
                effective_balance_gwei=32 * GWEI,
                activation_epoch=150_400 + number,
            )
        )
    return validators


def record(root: Path, validators: int, epochs: int) -> dict[str, Any]:
    """Record one window through the adapters in record mode (as record_ethereum_simulation)."""
    from django.conf import settings

    from chains.models import ProviderRole
    from chains.registry import load_registry
    from demo.recording import recording_adapters
    from demo.simulated.ethereum import SimulatedEthereum
    from ingestion.providers.base import ValidatorRef
    from ingestion.providers.registry import ADAPTERS, RECORDING_MANIFEST
    from ingestion.services import ROLE_DATA_TYPES

    started = time.perf_counter()
    registry = load_registry(settings.AURORA_CHAINS_FILE, settings.AURORA_PROVIDERS_FILE)
    spec = registry.chains[CHAIN]
    first = first_window(epochs)
    last_epoch = first + epochs - 1
    finalized = last_epoch + spec.finality_lag * epochs + 1
    world = SimulatedEthereum(
        seed=SEED,
        first_epoch=first,
        last_epoch=last_epoch,
        head_epoch=finalized + 2,
        validators=_validators(validators),
    )
    adapters = recording_adapters(
        world, registry=registry, chain_id=CHAIN, root=root, period_length_epochs=epochs
    )
    period_provider = spec.providers[ProviderRole.RPC][0]
    head = adapters[period_provider].chain_head().value
    (period,) = adapters[period_provider].list_periods(first, first).value
    if not period.is_final:
        raise SystemExit("the simulated head does not make the window final")
    refs = [ValidatorRef(v.pubkey) for v in world.validators]
    calls = 0
    for role, names in spec.providers.items():
        data_type = ROLE_DATA_TYPES.get(role)
        for name in names:
            if data_type is None or data_type not in ADAPTERS[adapters[name].settings.adapter].supplies:
                continue
            for ref in refs:
                calls += len(adapters[name].fetch(data_type, period, ref).exchanges)
    for adapter in adapters.values():
        adapter.client.close()
    target = root / CHAIN
    (target / "validators.json").write_text(json.dumps(world.manifest()) + "\n", encoding="utf-8")
    manifest = {
        "chain": {"period_length_epochs": epochs},
        "periods": [period.identifier],
        "head": {"current_period": head.current_period, "latest_final_period": head.latest_final_period},
    }
    (target / RECORDING_MANIFEST).write_text(json.dumps(manifest) + "\n", encoding="utf-8")
    megabytes = sum(path.stat().st_size for path in target.rglob("*") if path.is_file()) / 1e6
    return {
        "first": first,
        "responses": calls,
        "megabytes": megabytes,
        "seconds": time.perf_counter() - started,
        "manifest": str(target / "validators.json"),
    }


def prepare_registry(manifest: Path) -> None:
    """config/*.yaml, ethereum-mainnet switched on (it ships inactive), the world's validators."""
    from django.conf import settings

    from chains.models import Chain
    from chains.services import registry_sync
    from ingestion.services import register_validators

    registry_sync(chains_file=settings.AURORA_CHAINS_FILE, providers_file=settings.AURORA_PROVIDERS_FILE)
    Chain.objects.filter(pk=CHAIN).update(is_active=True)
    register_validators(chain_id=CHAIN, validators=json.loads(manifest.read_text(encoding="utf-8")))


def _names_one_validator(request: Any) -> bool:
    """A request about one validator: its state (`?id=`), its attestation rewards (a body of one
    index), its relay deliveries (`proposer_pubkey=`). Sync-committee rewards are left out: only
    the one scripted committee member makes them, whatever the validator count."""
    if "sync_committee" in request.url.path:
        return False
    params = request.url.params
    return "id" in params or "proposer_pubkey" in params or bytes(request.content).startswith(b'["')


# ---- the measurements (child processes) ---------------------------------------------------------


def child_ingest(recordings: Path, first: int) -> dict[str, Any]:
    django_setup()
    from django.db.models import Count

    from bench._support import reset_staging
    from ingestion.models import IngestionStatus, StagingPayload
    from ingestion.providers.http import reset_provider_state
    from ingestion.providers.recording import ReplayTransport
    from ingestion.providers.registry import TransportMode
    from ingestion.services import IngestOptions, ingest_range

    reset_staging()
    reset_provider_state()
    requests: dict[str, int] = {}
    original = ReplayTransport.handle_request

    def counted(self: ReplayTransport, request: Any) -> Any:
        requests[self.provider] = requests.get(self.provider, 0) + 1
        if _names_one_validator(request):
            requests[PER_VALIDATOR] = requests.get(PER_VALIDATOR, 0) + 1
        return original(self, request)

    ReplayTransport.handle_request = counted  # type: ignore[method-assign]
    baseline = _peak_rss_kib()
    options = IngestOptions(mode=TransportMode.REPLAY, recordings=recordings, sleep=lambda _s: None)
    started, cpu = time.perf_counter(), time.process_time()
    runs = ingest_range(chain_id=CHAIN, first=first, last=first, options=options)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,
        "ok": len(runs) == 1 and all(run.status == IngestionStatus.SUCCESS for run in runs),
        "items": sum(run.items_succeeded for run in runs),
        "failed": sum(run.items_failed for run in runs),
        "errors": [run.error_message for run in runs if run.error_message][:3],
        "requests": requests,
        "payloads": StagingPayload.objects.count(),
        "payloads_per_validator": sorted(
            StagingPayload.objects.values("validator_key").annotate(n=Count("id")).values_list("n", flat=True)
        ),
        "baseline_rss_kib": baseline,
        "peak_rss_kib": _peak_rss_kib(),
    }


def child_normalize(first: int) -> dict[str, Any]:
    django_setup()
    from canonical.services import normalize_range

    baseline = _peak_rss_kib()
    started, cpu = time.perf_counter(), time.process_time()
    runs = normalize_range(chain_id=CHAIN, first=first, last=first, triggered_by="bench")
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,
        "ok": len(runs) == 1 and all(str(run.status) == "SUCCESS" and not run.items_failed for run in runs),
        "status": [str(run.status) for run in runs],
        "rows": sum(run.rows_inserted for run in runs),
        "payloads": sum(run.payloads_read for run in runs),
        "failed": sum(run.items_failed for run in runs),
        "errors": [run.error_message for run in runs if run.error_message][:3]
        + [failure for run in runs for failure in (run.failures or [])][:3],
        "baseline_rss_kib": baseline,
        "peak_rss_kib": _peak_rss_kib(),
    }


# ---- the benchmark (parent process) -------------------------------------------------------------


def measure(*arguments: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.ethereum_window", "--child", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    found = [
        line[len(RESULT_PREFIX) :] for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)
    ]
    if done.returncode != 0 or not found:
        say(done.stdout)
        say(done.stderr)
        raise SystemExit(f"the measurement {' '.join(arguments)} failed (exit {done.returncode})")
    result: dict[str, Any] = json.loads(found[-1])
    return result


def extrapolation(ingest: dict[str, Any], normalize: dict[str, Any], validators: int, epochs: int) -> str:
    """An estimate for the issue's size, not a measurement.

    The payloads of a typical validator (the median) scale with the validator count; the rest
    (the scripted sync-committee member's per-slot calls, the blocks of the scripted proposals)
    does not. Both scale with the epochs. Time and requests are taken as proportional to payloads.
    """
    per_validator = ingest["payloads_per_validator"]
    typical = per_validator[len(per_validator) // 2] if per_validator else 0
    fixed = max(ingest["payloads"] - typical * validators, 0)
    payloads = (fixed + typical * FULL_VALIDATORS) * FULL_EPOCHS / epochs
    factor = payloads / max(ingest["payloads"], 1)
    counts = dict(ingest["requests"])
    own = counts.pop(PER_VALIDATOR, 0)
    # One attestation-rewards request per validator and epoch; a validator's other requests (its
    # states, its relay pages) do not grow with the epochs; the shared ones (duties, headers) do.
    others = max(own / validators - epochs, 0.0)
    shared = sum(counts.values()) - own
    requests = shared * FULL_EPOCHS / epochs + FULL_VALIDATORS * (FULL_EPOCHS + others)
    return (
        f"estimate, not measured: {typical:,} payloads per typical validator + {fixed:,} fixed, "
        f"scaled to 1,000 validators x 225 epochs = ~{payloads:,.0f} payloads (x{factor:.1f}): "
        f"ingest ~{ingest['seconds'] * factor:,.0f} s, ~{requests:,.0f} requests "
        f"({FULL_EPOCHS + others:.0f} per validator); "
        f"normalize ~{normalize['seconds'] * factor:,.0f} s"
    )


def parent() -> int:
    django_setup()
    validators, epochs = size()
    full = validators == FULL_VALIDATORS and epochs == FULL_EPOCHS
    with tempfile.TemporaryDirectory(prefix="aurora-bench-eth-") as tmp:
        root = Path(tmp)
        say(f"recording {validators:,} validators x 1 window of {epochs} epochs (setup) ...")
        recorded = record(root, validators, epochs)
        say(
            f"  {recorded['responses']:,} responses, {recorded['megabytes']:.1f} MB "
            f"in {recorded['seconds']:.1f} s under {root}"
        )
        prepare_registry(Path(recorded["manifest"]))
        first = int(recorded["first"])
        say(f"measuring ingest_range of window {first} (replay) in a fresh process ...")
        ingest = measure("ingest", "--recordings", str(root), "--first", str(first))
        say(f"  {ingest['seconds']:.1f} s, peak RSS {mib(ingest['peak_rss_kib'])}")
    say(f"measuring normalize_range of window {first} in a fresh process ...")
    normalize = measure("normalize", "--first", str(first))
    say(f"  {normalize['seconds']:.1f} s, peak RSS {mib(normalize['peak_rss_kib'])}")

    counts = dict(ingest["requests"])
    own = counts.pop(PER_VALIDATOR, 0)
    requests = sum(counts.values())
    rows = [
        ("world", f"{validators:,} validators x 1 window of {epochs} epochs ({first}), all providers"),
        (
            "recording (setup)",
            f"{recorded['responses']:,} responses, {recorded['megabytes']:.1f} MB, "
            f"{recorded['seconds']:.0f} s",
        ),
        ("process baseline (Django loaded)", mib(ingest["baseline_rss_kib"])),
        (
            "ingest_range (replay)",
            f"{ingest['seconds']:.1f} s wall, Python CPU {ingest['cpu_seconds']:.1f} s, "
            f"{ingest['items']:,} items ({ingest['failed']} failed)",
        ),
        ("  HTTP requests", f"{requests:,} ({requests / ingest['seconds']:.0f}/s)"),
        *(
            (f"    {name}", f"{count:,} ({count / validators:.1f} per validator)")
            for name, count in sorted(counts.items())
        ),
        ("    of which for one validator", f"{own:,} ({own / validators:.1f} per validator)"),
        ("  payloads staged", f"{ingest['payloads']:,}"),
        ("  peak RSS", mib(ingest["peak_rss_kib"])),
        (
            "normalize_range",
            f"{normalize['seconds']:.1f} s wall, Python CPU {normalize['cpu_seconds']:.1f} s, "
            f"{normalize['rows']:,} rows from {normalize['payloads']:,} payloads",
        ),
        ("  peak RSS", mib(normalize["peak_rss_kib"])),
    ]
    if not full:
        rows.append(("EXTRAPOLATED to 1,000 x 225", extrapolation(ingest, normalize, validators, epochs)))
    table(rows, "one Ethereum window through the replay transport")
    problems = []
    if not ingest["ok"] or ingest["failed"]:
        problems.append(f"ingest: {ingest['failed']} failed item(s) {ingest['errors']}")
    if not normalize["ok"]:
        problems.append(
            f"normalize: {normalize['status']} {normalize['failed']} failed {normalize['errors']}"
        )
    for problem in problems:
        say(f"FAIL: {problem}")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", choices=("ingest", "normalize"), help=argparse.SUPPRESS)
    parser.add_argument("--recordings", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "ingest":
        say(RESULT_PREFIX + json.dumps(child_ingest(args.recordings, args.first)))
        return 0
    if args.child == "normalize":
        say(RESULT_PREFIX + json.dumps(child_normalize(args.first)))
        return 0
    return parent()


if __name__ == "__main__":
    sys.exit(main())
