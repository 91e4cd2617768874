"""`manage.py record_ethereum_simulation`: record the simulated Ethereum network through the real
adapters.

This builds the dataset that ships under `ingestion/recordings/ethereum-mainnet/`: the Beacon,
execution and relay adapters run in record mode exactly as against live providers, only the
transport answers from a deterministic simulation (`demo.simulated.ethereum`). No database
is needed.

Periods are windows of `--period-length` epochs (default 4, about 26 minutes, so the files stay
small; the configured length is 225 epochs, a day). The recording says so in its
`recording.json`, and replaying it uses that length (see `ingestion.providers.registry`).
"""

import json
import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chains.models import PeriodType, ProviderRole
from chains.registry import RegistryError, load_registry
from demo.recording import recording_adapters
from demo.simulated.ethereum import SimulatedEthereum
from ingestion.providers.base import ValidatorRef
from ingestion.providers.registry import ADAPTERS, RECORDING_MANIFEST
from ingestion.services import ROLE_DATA_TYPES


class Command(BaseCommand):
    help = "Record a simulated Ethereum network's responses for replay (the demo and test dataset)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chain", default="ethereum-mainnet")
        parser.add_argument("--from-period", type=int, default=395_000, help="first window (its first epoch)")
        parser.add_argument("--to-period", type=int, default=395_004, help="last window (its first epoch)")
        parser.add_argument("--period-length", type=int, default=4, help="epochs per window")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument(
            "--output", type=Path, default=None, help="recordings root (default: the shipped one)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        first, last, length = options["from_period"], options["to_period"], options["period_length"]
        if length < 1 or first % length or last % length or first > last:
            raise CommandError(
                "--from-period and --to-period must be window starts (multiples of the length)"
            )
        try:
            registry = load_registry(settings.AURORA_CHAINS_FILE, settings.AURORA_PROVIDERS_FILE)
        except RegistryError as error:
            raise CommandError("\n".join(error.problems)) from error
        chain_id = options["chain"]
        spec = registry.chains.get(chain_id)
        if spec is None or spec.period_type is not PeriodType.BLOCK_WINDOW:
            raise CommandError(f"{chain_id}: only Ethereum (BLOCK_WINDOW) chains can be simulated here")
        root: Path = options["output"] or Path(settings.AURORA_RECORDINGS_DIR)
        target = root / chain_id
        if target.exists():
            shutil.rmtree(target)
        last_epoch = last + length - 1
        finalized = last_epoch + spec.finality_lag * length + 1
        world = SimulatedEthereum(
            seed=options["seed"], first_epoch=first, last_epoch=last_epoch, head_epoch=finalized + 2
        )
        adapters = recording_adapters(
            world, registry=registry, chain_id=chain_id, root=root, period_length_epochs=length
        )
        period_provider = spec.providers[ProviderRole.RPC][0]
        head = adapters[period_provider].chain_head().value
        periods = adapters[period_provider].list_periods(first, last).value
        if not all(period.is_final for period in periods):
            raise CommandError("the simulated head does not make every window final")
        validators = [ValidatorRef(v.pubkey) for v in world.validators]
        calls = 0
        for period in periods:
            for role, names in spec.providers.items():
                data_type = ROLE_DATA_TYPES.get(role)
                for name in names:
                    if (
                        data_type is None
                        or data_type not in ADAPTERS[adapters[name].settings.adapter].supplies
                    ):
                        continue
                    for validator in validators:
                        calls += len(adapters[name].fetch(data_type, period, validator).exchanges)
        for adapter in adapters.values():
            adapter.client.close()
        (target / "validators.json").write_text(
            json.dumps(world.manifest(), indent=2) + "\n", encoding="utf-8"
        )
        manifest = {
            "chain": {"period_length_epochs": length},
            "periods": [period.identifier for period in periods],
            "head": {"current_period": head.current_period, "latest_final_period": head.latest_final_period},
            "recorded_with": (
                f"manage.py record_ethereum_simulation --chain {chain_id} --from-period {first} "
                f"--to-period {last} --period-length {length} --seed {options['seed']}"
            ),
            "about": (
                "Responses of a simulated Ethereum network (demo/simulated/ethereum.py) recorded "
                "through the Beacon, execution and relay adapters. Periods are windows of "
                f"{length} epochs; replaying this recording uses that length."
            ),
        }
        (target / RECORDING_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        size = sum(path.stat().st_size for path in target.rglob("*") if path.is_file())
        self.stdout.write(
            f"recorded {len(periods)} window(s) of {length} epochs x {len(validators)} validator(s): "
            f"{calls} responses, {size / 1e6:.2f} MB under {target}"
        )
