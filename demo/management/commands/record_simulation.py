"""`manage.py record_simulation`: record the simulated Solana cluster through the real adapters.

This builds the dataset that ships under `ingestion/recordings/` (and larger ones for benchmarks):
the adapters run in record mode exactly as against live providers, only the transport answers
from a deterministic simulation. No database is needed.
"""

import json
import os
import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chains.models import ProviderRole
from chains.registry import RegistryError, load_registry
from demo.simulated.solana import SimulatedSolana
from ingestion.providers.base import ChainSettings, ProviderSettings, ValidatorRef
from ingestion.providers.registry import ADAPTERS, TransportMode, build_adapter
from ingestion.services import ROLE_DATA_TYPES


class Command(BaseCommand):
    help = "Record a simulated Solana cluster's responses for replay (the demo and test dataset)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chain", default="solana-mainnet")
        parser.add_argument("--from-period", type=int, default=850)
        parser.add_argument("--to-period", type=int, default=853)
        parser.add_argument(
            "--validators", type=int, help="generate this many validators (default: the 3 demo ones)"
        )
        parser.add_argument("--stake-accounts", type=int, default=2000, help="per generated validator")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument(
            "--output", type=Path, default=None, help="recordings root (default: the shipped one)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        first, last = options["from_period"], options["to_period"]
        if first > last:
            raise CommandError("--from-period must not be after --to-period")
        try:
            registry = load_registry(settings.AURORA_CHAINS_FILE, settings.AURORA_PROVIDERS_FILE)
        except RegistryError as error:
            raise CommandError("\n".join(error.problems)) from error
        chain_id = options["chain"]
        spec = registry.chains.get(chain_id)
        if spec is None or not chain_id.startswith("solana"):
            raise CommandError(f"{chain_id}: only Solana chains can be simulated")
        root: Path = options["output"] or Path(settings.AURORA_RECORDINGS_DIR)
        target = root / chain_id
        if target.exists():
            shutil.rmtree(target)
        beach_key_env = (
            registry.providers["solanabeach"].api_key_env if "solanabeach" in registry.providers else None
        )
        beach_key = os.environ.get(beach_key_env or "", "") or "demo-key"
        if beach_key_env:
            os.environ[beach_key_env] = beach_key
        if options["validators"]:
            world = SimulatedSolana.generated(
                validators=options["validators"],
                stake_accounts_per_validator=options["stake_accounts"],
                seed=options["seed"],
                first_epoch=first,
                last_epoch=last,
                solanabeach_api_key=beach_key,
            )
        else:
            world = SimulatedSolana(
                seed=options["seed"], first_epoch=first, last_epoch=last, solanabeach_api_key=beach_key
            )
        chain = ChainSettings(chain_id=chain_id, finality_lag=spec.finality_lag, parameters=spec.parameters)

        def adapter(name: str, current_epoch: int) -> Any:
            provider = registry.providers[name]
            return build_adapter(
                chain,
                ProviderSettings.from_spec(name, provider),
                mode=TransportMode.RECORD,
                recordings=root,
                transport=world.at_epoch(current_epoch).transport(name),
                sleep=lambda _seconds: None,
            )

        period_provider = spec.providers[ProviderRole.RPC][0]
        periods = adapter(period_provider, last + 1).list_periods(first, last).value
        validators = [ValidatorRef(v.vote_pubkey, v.node_pubkey) for v in world.validators]
        calls = 0
        for period in periods:
            for role, names in spec.providers.items():
                data_type = ROLE_DATA_TYPES.get(role)
                for name in names:
                    if (
                        data_type is None
                        or data_type not in ADAPTERS[registry.providers[name].adapter].supplies
                    ):
                        continue
                    # Each period is recorded as it was fetched in production: right after it became final.
                    fetcher = adapter(name, int(period.identifier) + 1)
                    for validator in validators:
                        calls += len(fetcher.fetch(data_type, period, validator).exchanges)
        manifest = [
            {"validator_key": v.vote_pubkey, "node_pubkey": v.node_pubkey, "display_name": v.name}
            for v in world.validators
        ]
        (target / "validators.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        size = sum(path.stat().st_size for path in target.rglob("*") if path.is_file())
        self.stdout.write(
            f"recorded {len(periods)} period(s) x {len(validators)} validator(s): {calls} responses, "
            f"{size / 1e6:.1f} MB under {target}"
        )
