"""Shared plumbing for the benchmarks: the scratch database, recording a simulated world, tables.

Nothing here is measured. The benchmarks run against a dedicated database (`aurora_bench_<pid>`,
or AURORA_BENCH_DB) that `python -m bench` creates, migrates and drops; they refuse to run against
any database whose name lacks `bench`, because they truncate staging and rewrite the registry
rows (provider options, mappings) to suit the measurement.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
CHAIN = "solana-mainnet"
FIRST_EPOCH = 850
SEED = 7
BENCH_DB_PREFIX = "aurora_bench_"
# One database per run: several people may run the benchmarks against the same server at once.
BENCH_DB = os.environ.get("AURORA_BENCH_DB") or f"{BENCH_DB_PREFIX}{os.getpid()}"
SERVICES_ENV = ROOT / ".var" / "services.env"
BEACH_KEY = "demo-key"  # the simulated Solana Beach accepts any key; replay sends none


# ---- output -------------------------------------------------------------------------------------


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def table(rows: Sequence[tuple[str, str]], title: str) -> None:
    width = max(len(name) for name, _ in rows)
    say(f"\n{title}")
    say("-" * (width + 2 + max(len(value) for _, value in rows)))
    for name, value in rows:
        say(f"{name:<{width}}  {value}")


def mib(kib: float) -> str:
    return f"{kib / 1024:.0f} MiB"


# ---- the scratch database -----------------------------------------------------------------------


def _services_env() -> dict[str, str]:
    values: dict[str, str] = {}
    if SERVICES_ENV.is_file():
        for line in SERVICES_ENV.read_text(encoding="utf-8").splitlines():
            name, sep, value = line.partition("=")
            if sep and not name.lstrip().startswith("#"):
                values[name.strip()] = value.strip()
    return values


def base_database_url() -> str:
    """The project's DATABASE_URL: the environment first, then .var/services.env (as settings do)."""
    url = os.environ.get("DATABASE_URL") or _services_env().get("DATABASE_URL")
    if not url:
        raise SystemExit("no DATABASE_URL: run `make services` (or export DATABASE_URL)")
    return url


def owner_database_url() -> str:
    """The project's database as the schema owner (DATABASE_OWNER_URL's login), who creates, migrates
    and drops the scratch databases; without one, DATABASE_URL's role."""
    base = base_database_url()
    owner = os.environ.get("DATABASE_OWNER_URL") or _services_env().get("DATABASE_OWNER_URL")
    if not owner:
        return base
    login = urlsplit(owner).netloc.rpartition("@")[0]
    parts = urlsplit(base)
    netloc = f"{login}@{parts.netloc.rpartition('@')[2]}" if login else parts.netloc
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def bench_env(database_url: str) -> dict[str, str]:
    """Environment for the benchmark processes.

    DEBUG is off, as in production: with DEBUG=true Django logs the last 9,000 statements, and a
    single `execute` is logged with its parameters spelled out, so a payload written that way
    would show up in the memory figures as Django's query log rather than ingestion.
    """
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url
    env["DEBUG"] = "false"
    if not env.get("SECRET_KEY") and not _services_env().get("SECRET_KEY"):
        env["SECRET_KEY"] = secrets.token_urlsafe(50)
    env.setdefault("SOLANABEACH_API_KEY", BEACH_KEY)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def _admin_url(base_url: str, name: str) -> str:
    """Where to connect to create or drop `name`: the project's database, or `postgres` if that is it."""
    return with_database(base_url, "postgres") if urlsplit(base_url).path.lstrip("/") == name else base_url


def drop_database(base_url: str, name: str, *, patience: float = 30.0) -> None:
    """DROP DATABASE, waiting a little for sessions to go.

    Plain DROP first: it makes an autovacuum worker on the database exit by itself, whereas
    WITH (FORCE) needs the right to terminate every backend, which a non-superuser lacks for
    autovacuum. FORCE is the last resort, for sessions of our own role left by a killed run.
    """
    import psycopg
    from psycopg import errors, sql

    drop = sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name))
    deadline = time.monotonic() + patience
    with psycopg.connect(_admin_url(base_url, name), autocommit=True) as connection:
        while True:
            try:
                connection.execute(drop)
                return
            except errors.ObjectInUse:
                if time.monotonic() > deadline:
                    break
                time.sleep(1)
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def drop_stale_databases(base_url: str) -> list[str]:
    """Drop `aurora_bench_<pid>` databases left by runs whose process is gone (killed, crashed)."""
    import psycopg

    with psycopg.connect(_admin_url(base_url, BENCH_DB), autocommit=True) as connection:
        names = [
            str(row[0])
            for row in connection.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", [BENCH_DB_PREFIX + "%"]
            )
        ]
    stale = []
    for name in names:
        pid = name.removeprefix(BENCH_DB_PREFIX)
        if name == BENCH_DB or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            stale.append(name)
        except PermissionError:
            continue  # alive, someone else's
    for name in stale:
        drop_database(base_url, name, patience=5.0)
    return stale


def recreate_database(base_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    drop_database(base_url, name)
    with psycopg.connect(_admin_url(base_url, name), autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def django_setup() -> None:
    """Django against the bench database only (see the module doc)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aurora.settings")
    os.environ.setdefault("SOLANABEACH_API_KEY", BEACH_KEY)
    import django
    from django.conf import settings

    django.setup()
    name = str(settings.DATABASES["default"]["NAME"])
    if "bench" not in name:
        raise SystemExit(
            f"refusing to run against database {name!r}: the benchmarks truncate staging. "
            "Use `make bench` or `python -m bench`, which create a scratch database."
        )


def reset_staging() -> None:
    from django.db import connection

    from aurora.common.dbroles import as_schema_owner

    with as_schema_owner(), connection.cursor() as cursor:  # the application's role may not TRUNCATE
        cursor.execute("TRUNCATE staging_payloads, ingestion_runs CASCADE")


def prepare_registry(
    manifest: Path,
    *,
    options: dict[str, dict[str, Any]] | None = None,
    inactive_roles: Iterable[tuple[str, str]] = (),
) -> None:
    """Registry from config/*.yaml, the world's validators, then the benchmark's own tweaks:
    extra provider options and (provider, role) mappings switched off."""
    import json

    from django.conf import settings

    from chains.models import ChainProviderMapping, Provider
    from chains.services import registry_sync
    from ingestion.services import register_validators

    registry_sync(chains_file=settings.AURORA_CHAINS_FILE, providers_file=settings.AURORA_PROVIDERS_FILE)
    register_validators(chain_id=CHAIN, validators=json.loads(manifest.read_text(encoding="utf-8")))
    for name, extra in (options or {}).items():
        provider = Provider.objects.get(provider_name=name)
        provider.options = {**(provider.options or {}), **extra}
        provider.save(update_fields=["options", "updated_at"])
    for name, role in inactive_roles:
        ChainProviderMapping.objects.filter(
            chain_id=CHAIN, provider__provider_name=name, provider_role=role
        ).update(is_active=False)


# ---- recording a simulated world (setup) --------------------------------------------------------


@dataclass(frozen=True)
class World:
    validators: int
    stake_accounts: int
    first: int
    last: int
    providers: frozenset[str] | None = None  # None: every provider mapped to the chain
    data_types: frozenset[str] | None = None  # None: every data type the adapters supply
    seed: int = SEED


@dataclass(frozen=True)
class Recorded:
    root: Path
    manifest: Path
    responses: int
    megabytes: float
    seconds: float


def _simulation(world: World) -> Any:
    from demo.simulated.solana import SimulatedSolana

    return SimulatedSolana.generated(
        validators=world.validators,
        stake_accounts_per_validator=world.stake_accounts,
        seed=world.seed,
        first_epoch=world.first,
        last_epoch=world.last,
        solanabeach_api_key=BEACH_KEY,
    )


def _recorder(world: World, root: Path) -> tuple[Any, Any, Any]:
    """(registry, simulation, adapter(name, current_epoch)) as `manage.py record_simulation` builds them."""
    from django.conf import settings

    from chains.registry import load_registry
    from ingestion.providers.base import ChainSettings, ProviderSettings
    from ingestion.providers.registry import TransportMode, build_adapter

    registry = load_registry(settings.AURORA_CHAINS_FILE, settings.AURORA_PROVIDERS_FILE)
    spec = registry.chains[CHAIN]
    chain = ChainSettings(chain_id=CHAIN, finality_lag=spec.finality_lag, parameters=spec.parameters)
    simulation = _simulation(world)

    def adapter(name: str, current_epoch: int) -> Any:
        provider = registry.providers[name]
        return build_adapter(
            chain,
            ProviderSettings(
                name=name,
                adapter=provider.adapter,
                base_url=str(provider.base_url) if provider.base_url else None,
                api_version=provider.api_version,
                api_key_env=provider.api_key_env,
                options=provider.options,
            ),
            mode=TransportMode.RECORD,
            recordings=root,
            transport=simulation.at_epoch(current_epoch).transport(name),
            sleep=lambda _seconds: None,
        )

    return registry, simulation, adapter


def _record_period(world: World, root: Path, period: Any) -> int:
    """Every (validator, provider, data type) of one period; runs in a worker process."""
    from chains.models import ProviderRole
    from ingestion.models import DataType
    from ingestion.providers.base import ValidatorRef
    from ingestion.providers.registry import ADAPTERS

    registry, simulation, adapter = _recorder(world, root)
    roles = {ProviderRole.FEES, ProviderRole.MEV, ProviderRole.REWARDS, ProviderRole.META}
    validators = [ValidatorRef(v.vote_pubkey, v.node_pubkey) for v in simulation.validators]
    calls = 0
    for role, names in registry.chains[CHAIN].providers.items():
        if role not in roles:
            continue
        data_type = DataType(str(role))
        if world.data_types is not None and data_type not in world.data_types:
            continue
        for name in names:
            if world.providers is not None and name not in world.providers:
                continue
            if data_type not in ADAPTERS[registry.providers[name].adapter].supplies:
                continue
            # As in production: each period fetched right after it became final.
            fetcher = adapter(name, int(period.identifier) + 1)
            for validator in validators:
                calls += len(fetcher.fetch(data_type, period, validator).exchanges)
            fetcher.client.close()
    return calls


def record(world: World, root: Path, *, workers: int = 2) -> Recorded:
    """Record `world` through the real adapters in record mode (like `manage.py record_simulation`),
    one period per worker process. Setup only: nothing here is part of a measurement."""
    import json

    from chains.models import ProviderRole

    started = time.perf_counter()
    registry, simulation, adapter = _recorder(world, root)
    period_provider = registry.chains[CHAIN].providers[ProviderRole.RPC][0]
    head = adapter(period_provider, world.last + 1)
    periods = head.list_periods(world.first, world.last).value
    head.client.close()
    if len(periods) == 1 or workers <= 1:
        calls = sum(_record_period(world, root, period) for period in periods)
    else:
        # fork: the children inherit the configured Django (no database is used here)
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
            calls = sum(pool.map(_record_period, [world] * len(periods), [root] * len(periods), periods))
    target = root / CHAIN
    manifest = target / "validators.json"
    manifest.write_text(
        json.dumps(
            [
                {"validator_key": v.vote_pubkey, "node_pubkey": v.node_pubkey, "display_name": v.name}
                for v in simulation.validators
            ],
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    size = sum(path.stat().st_size for path in target.rglob("*") if path.is_file())
    return Recorded(
        root=root,
        manifest=manifest,
        responses=calls,
        megabytes=size / 1e6,
        seconds=time.perf_counter() - started,
    )
