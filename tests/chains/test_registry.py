"""The registry loader's errors, and `sync_registry`'s idempotence."""

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from chains.models import Chain, ChainProviderMapping, Provider
from chains.registry import RegistryError, load_registry
from chains.services import registry_sync

CHAINS = settings.AURORA_CHAINS_FILE
PROVIDERS = settings.AURORA_PROVIDERS_FILE

MINIMAL_PROVIDERS = """
providers:
  rpc-one:
    type: RPC
    adapter: solana.rpc
    base_url: https://rpc.example.com
  meta-two:
    type: META
    adapter: solana.stakewiz
"""

MINIMAL_CHAINS = """
chains:
  solana-mainnet:
    name: Solana
    period_type: EPOCH
    native_unit: lamport
    native_decimals: 9
    finality_lag: 1
    providers:
      META: [rpc-one, meta-two]
      RPC: [rpc-one]
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems_for(
    chains_text: str = MINIMAL_CHAINS, providers_text: str = MINIMAL_PROVIDERS, *, tmp_path: Path
) -> list[str]:
    with pytest.raises(RegistryError) as caught:
        load_registry(
            write(tmp_path, "chains.yaml", chains_text), write(tmp_path, "providers.yaml", providers_text)
        )
    return caught.value.problems


def test_the_shipped_files_are_valid_and_cover_both_chains() -> None:
    registry = load_registry(CHAINS, PROVIDERS)

    assert set(registry.chains) == {"solana-mainnet", "ethereum-mainnet"}
    assert {
        "solana-rpc",
        "jito",
        "stakewiz",
        "solanabeach",
        "beacon-api",
        "ethereum-execution-rpc",
        "mev-relays",
        "replay",
    } <= set(registry.providers)
    assert registry.chains["ethereum-mainnet"].period_length_epochs == 225
    assert registry.chains["solana-mainnet"].providers


@pytest.mark.parametrize(
    ("chains_text", "expected"),
    [
        (
            MINIMAL_CHAINS.replace("native_decimals: 9", "native_decimals: nine"),
            "chains.yaml: chains.solana-mainnet.native_decimals: Input should be a valid integer",
        ),
        (
            MINIMAL_CHAINS.replace("native_decimals: 9", "native_decimals: 40"),
            "chains.yaml: chains.solana-mainnet.native_decimals: Input should be less than or equal to 36",
        ),
        (
            MINIMAL_CHAINS.replace("    finality_lag: 1\n", ""),
            "chains.yaml: chains.solana-mainnet.finality_lag: Field required",
        ),
        (
            MINIMAL_CHAINS.replace("period_type: EPOCH", "period_type: WEEK"),
            "chains.yaml: chains.solana-mainnet.period_type: Input should be 'EPOCH', 'BLOCK_WINDOW' or",
        ),
        (
            MINIMAL_CHAINS.replace("finality_lag: 1", "finality_lag: 1\n    colour: blue"),
            "chains.yaml: chains.solana-mainnet.colour: unknown key",
        ),
        (
            MINIMAL_CHAINS.replace("finality_lag: 1", "finality_lag: 1\n    period_length_epochs: 10"),
            "chains.yaml: chains.solana-mainnet: period_length_epochs applies only to BLOCK_WINDOW chains",
        ),
        (
            MINIMAL_CHAINS.replace("RPC: [rpc-one]", "RPC: [rpc-one, rpc-one]"),
            "chains.yaml: chains.solana-mainnet.providers: RPC lists rpc-one more than once",
        ),
        (
            MINIMAL_CHAINS.replace("RPC: [rpc-one]", "RPC: [rpc-nine]"),
            "chains.yaml: chains.solana-mainnet.providers.RPC: unknown provider 'rpc-nine' (not in ",
        ),
        (
            MINIMAL_CHAINS.replace("RPC: [rpc-one]", "GOSSIP: [rpc-one]"),
            "chains.yaml: chains.solana-mainnet.providers.GOSSIP.[key]: Input should be 'FEES', 'MEV'",
        ),
        (
            MINIMAL_CHAINS.replace("solana-mainnet:", "Solana Main:"),
            "chains.yaml: chains.Solana Main.[key]: String should match pattern",
        ),
        ("chains: {}\n", "chains.yaml: chains: Dictionary should have at least 1 item"),
        ("- just\n- a list\n", "chains.yaml: expected a mapping with the key 'chains'"),
        ("chains:\n  solana-mainnet: [\n", "chains.yaml: line 3, column 1: invalid YAML"),
        (
            MINIMAL_CHAINS + "  solana-mainnet:\n    name: again\n",
            "chains.yaml: line 12, column 3: invalid YAML: duplicate key 'solana-mainnet'",
        ),
    ],
    ids=[
        "not-an-int",
        "too-many-decimals",
        "missing-key",
        "bad-enum",
        "unknown-key",
        "window-length-on-epoch",
        "repeated-provider",
        "unknown-provider",
        "unknown-role",
        "bad-chain-id",
        "empty",
        "not-a-mapping",
        "broken-yaml",
        "duplicate-key",
    ],
)
def test_bad_chains_file_names_file_key_and_problem(tmp_path: Path, chains_text: str, expected: str) -> None:
    problems = problems_for(chains_text, tmp_path=tmp_path)

    assert any(problem.startswith(str(tmp_path / expected.split(":")[0])) for problem in problems), problems
    assert any(expected.split(": ", 1)[1] in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("providers_text", "expected"),
    [
        (MINIMAL_PROVIDERS.replace("type: RPC", "type: ORACLE"), "providers.rpc-one.type: Input should be"),
        (
            MINIMAL_PROVIDERS.replace("https://rpc.example.com", "ftp://rpc.example.com"),
            "providers.rpc-one.base_url: URL scheme should be 'http' or 'https'",
        ),
        (
            MINIMAL_PROVIDERS.replace("adapter: solana.rpc", "adapter: Solana RPC!"),
            "providers.rpc-one.adapter: String should match pattern",
        ),
        (
            MINIMAL_PROVIDERS.replace("adapter: solana.rpc", "adapter: solana.rpc\n    api_key_env: my-key"),
            "providers.rpc-one.api_key_env: String should match pattern",
        ),
        (
            MINIMAL_PROVIDERS.replace("adapter: solana.rpc", "adapter: solana.rpc\n    timeout_seconds: 0"),
            "providers.rpc-one.timeout_seconds: Input should be greater than or equal to 1",
        ),
        (
            MINIMAL_PROVIDERS.replace("    adapter: solana.stakewiz\n", ""),
            "providers.meta-two.adapter: Field required",
        ),
        (
            MINIMAL_PROVIDERS.replace("adapter: solana.stakewiz", "adapter: solana.stakewhiz"),
            "providers.meta-two.adapter: no adapter named 'solana.stakewhiz' (known: ethereum.beacon, ",
        ),
        (
            MINIMAL_PROVIDERS.replace("adapter: solana.stakewiz", "adapter: ethereum.relay"),
            "providers.meta-two.options.relays: Field required",
        ),
        (
            MINIMAL_PROVIDERS.replace(
                "adapter: solana.stakewiz",
                "adapter: ethereum.relay\n    options:\n"
                "      relays: [{url: 'https://r.example', page_limit: 5000}]",
            ),
            "providers.meta-two.options.relays.0.page_limit: Input should be less than or equal to 1000",
        ),
        (
            MINIMAL_PROVIDERS.replace(
                "adapter: solana.stakewiz",
                "adapter: ethereum.relay\n    options:\n      relays: [{url: relay.example}]",
            ),
            "providers.meta-two.options.relays.0.url: String should match pattern",
        ),
    ],
    ids=[
        "bad-type",
        "bad-url",
        "bad-adapter",
        "bad-env-name",
        "zero-timeout",
        "missing-adapter",
        "unknown-adapter",
        "relays-missing",
        "relay-page-limit-out-of-range",
        "relay-url-without-scheme",
    ],
)
def test_bad_providers_file_names_file_key_and_problem(
    tmp_path: Path, providers_text: str, expected: str
) -> None:
    problems = problems_for(providers_text=providers_text, tmp_path=tmp_path)

    assert any(problem.startswith(f"{tmp_path / 'providers.yaml'}: {expected}") for problem in problems), (
        problems
    )


def test_both_files_are_reported_at_once(tmp_path: Path) -> None:
    problems = problems_for("chains: 3\n", "providers: 3\n", tmp_path=tmp_path)

    assert [p.split(":")[0] for p in problems] == [
        str(tmp_path / "chains.yaml"),
        str(tmp_path / "providers.yaml"),
    ]


def test_an_alias_that_contains_itself_is_refused_in_one_line(tmp_path: Path) -> None:
    problems = problems_for(providers_text="providers: &loop\n  rpc-one: [*loop]\n", tmp_path=tmp_path)

    assert problems == [
        f"{tmp_path / 'providers.yaml'}: invalid YAML: nested too deeply (or an alias refers to itself)"
    ]


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"nowhere\.yaml: file not found"):
        load_registry(tmp_path / "nowhere.yaml", PROVIDERS)


@pytest.mark.django_db
def test_sync_registry_creates_everything_then_changes_nothing() -> None:
    first = StringIO()
    call_command("sync_registry", stdout=first)
    stamps = {
        model: dict(model._default_manager.values_list("pk", "updated_at"))
        for model in (Chain, Provider, ChainProviderMapping)
    }

    second = StringIO()
    call_command("sync_registry", stdout=second)

    assert "created 2 chains" in first.getvalue()
    assert second.getvalue().strip() == "registry is up to date: nothing changed"
    for model, before in stamps.items():
        assert dict(model._default_manager.values_list("pk", "updated_at")) == before
    assert Chain.objects.get(pk="solana-mainnet").native_decimals == 9
    jito = ChainProviderMapping.objects.get(chain_id="solana-mainnet", provider_role="MEV")
    assert (jito.provider.provider_name, jito.priority) == ("jito", 1)
    meta = ChainProviderMapping.objects.filter(chain_id="solana-mainnet", provider_role="META").order_by(
        "priority"
    )
    assert [m.provider.provider_name for m in meta] == ["solana-rpc", "stakewiz", "solanabeach"]


@pytest.mark.django_db
def test_sync_follows_edits_reorders_priorities_and_retires_what_left(tmp_path: Path) -> None:
    chains = write(tmp_path, "chains.yaml", MINIMAL_CHAINS)
    providers = write(tmp_path, "providers.yaml", MINIMAL_PROVIDERS)
    registry_sync(chains_file=chains, providers_file=providers)

    write(
        tmp_path,
        "chains.yaml",
        MINIMAL_CHAINS.replace("META: [rpc-one, meta-two]", "META: [meta-two, rpc-one]")
        .replace("finality_lag: 1", "finality_lag: 2")
        .replace("      RPC: [rpc-one]\n", ""),
    )
    write(
        tmp_path,
        "providers.yaml",
        MINIMAL_PROVIDERS.replace("rpc-one:", "rpc-one:\n    rate_limit_per_minute: 30", 1),
    )
    report = registry_sync(chains_file=chains, providers_file=providers)

    assert {kind: sorted(names) for kind, names in report.updated.items()} == {
        "chains": ["solana-mainnet"],
        "mappings": ["solana-mainnet/META/meta-two", "solana-mainnet/META/rpc-one"],
        "providers": ["rpc-one"],
    }
    assert report.retired == {"mappings": ["solana-mainnet/RPC/rpc-one"]}
    assert Chain.objects.get(pk="solana-mainnet").finality_lag == 2
    assert Provider.objects.get(provider_name="rpc-one").rate_limit_per_minute == 30
    meta = ChainProviderMapping.objects.filter(provider_role="META").order_by("priority")
    assert [m.provider.provider_name for m in meta] == ["meta-two", "rpc-one"]
    assert not ChainProviderMapping.objects.filter(provider_role="RPC").exists()

    write(tmp_path, "chains.yaml", MINIMAL_CHAINS.replace("solana-mainnet", "solana-devnet"))
    report = registry_sync(chains_file=chains, providers_file=providers)
    assert report.retired["chains"] == ["solana-mainnet"]
    assert Chain.objects.get(pk="solana-mainnet").is_active is False


@pytest.mark.django_db
def test_an_invalid_file_changes_nothing_at_all(tmp_path: Path) -> None:
    call_command("sync_registry")
    before = {
        model: list(model._default_manager.order_by("pk").values())
        for model in (Chain, Provider, ChainProviderMapping)
    }
    broken = write(
        tmp_path, "chains.yaml", CHAINS.read_text().replace("finality_lag: 1", "finality_lag: -1", 1)
    )

    with pytest.raises(
        CommandError,
        match=r"nothing was changed(.|\n)*finality_lag: Input should be greater than or equal to 0",
    ):
        call_command("sync_registry", chains=broken)

    for model, rows in before.items():
        assert list(model._default_manager.order_by("pk").values()) == rows


@pytest.mark.django_db
def test_dry_run_reports_changes_and_writes_nothing() -> None:
    out = StringIO()
    call_command("sync_registry", dry_run=True, stdout=out)

    assert "[dry run] created 2 chains" in out.getvalue()
    assert not Chain.objects.exists()
    assert not Provider.objects.exists()


MALFORMED_CHAINS = {
    "negative-lag": (
        MINIMAL_CHAINS.replace("finality_lag: 1", "finality_lag: -1"),
        "chains.solana-mainnet.finality_lag: Input should be greater than or equal to 0",
    ),
    "lag-overflows-its-column": (
        MINIMAL_CHAINS.replace("finality_lag: 1", "finality_lag: 99999999999999999999"),
        "chains.solana-mainnet.finality_lag: Input should be less than or equal to 2147483647",
    ),
    "window-overflows-its-column": (
        MINIMAL_CHAINS.replace("period_type: EPOCH", "period_type: BLOCK_WINDOW").replace(
            "finality_lag: 1", "finality_lag: 1\n    period_length_epochs: 2147483648"
        ),
        "chains.solana-mainnet.period_length_epochs: Input should be less than or equal to 2147483647",
    ),
    "string-for-a-number": (
        MINIMAL_CHAINS.replace("finality_lag: 1", "finality_lag: '1'"),
        "chains.solana-mainnet.finality_lag: Input should be a valid integer",
    ),
    "bool-for-a-number": (
        MINIMAL_CHAINS.replace("native_decimals: 9", "native_decimals: true"),
        "chains.solana-mainnet.native_decimals: Input should be a valid integer",
    ),
    "float-for-a-number": (
        MINIMAL_CHAINS.replace("finality_lag: 1", "finality_lag: 1.0"),
        "chains.solana-mainnet.finality_lag: Input should be a valid integer",
    ),
    "number-for-a-bool": (
        MINIMAL_CHAINS.replace("finality_lag: 1", "finality_lag: 1\n    is_active: 1"),
        "chains.solana-mainnet.is_active: Input should be a valid boolean",
    ),
    "list-for-a-mapping": (
        MINIMAL_CHAINS.replace("finality_lag: 1", "finality_lag: 1\n    parameters: [1, 2]"),
        "chains.solana-mainnet.parameters: Input should be a valid dictionary",
    ),
    "list-for-the-chains": ("chains: [solana-mainnet]\n", "chains: Input should be a valid dictionary"),
    "not-a-finite-number": (
        MINIMAL_CHAINS.replace("finality_lag: 1", "finality_lag: 1\n    parameters: {fee: .nan}"),
        "chains.solana-mainnet.parameters.fee: nan is not a finite number",
    ),
    "unquoted-date": (
        MINIMAL_CHAINS.replace("finality_lag: 1", "finality_lag: 1\n    parameters: {since: 2024-01-01}"),
        "chains.solana-mainnet.parameters.since: a date is not allowed here (quote it as a string)",
    ),
    "number-as-key": (
        MINIMAL_CHAINS.replace("finality_lag: 1", "finality_lag: 1\n    parameters: {3: x}"),
        "chains.solana-mainnet.parameters.3: keys must be strings, not int",
    ),
    "nul-character": (
        MINIMAL_CHAINS.replace("name: Solana", 'name: "Sol\\0ana"'),
        "chains.solana-mainnet.name: contains a NUL character",
    ),
    "invalid-yaml": ("chains:\n  solana-mainnet: {name: [\n", "line 3, column 1: invalid YAML"),
    "nested-too-deeply": ("chains: " + "[" * 5000 + "\n", "invalid YAML: nested too deeply"),
}


@pytest.mark.django_db
@pytest.mark.parametrize(("chains_text", "expected"), MALFORMED_CHAINS.values(), ids=MALFORMED_CHAINS.keys())
def test_sync_registry_refuses_a_malformed_chains_file_in_one_line(
    tmp_path: Path, chains_text: str, expected: str
) -> None:
    providers = write(tmp_path, "providers.yaml", MINIMAL_PROVIDERS)
    registry_sync(chains_file=write(tmp_path, "good.yaml", MINIMAL_CHAINS), providers_file=providers)
    before = registry_rows()
    chains = write(tmp_path, "chains.yaml", chains_text)

    with pytest.raises(CommandError) as caught:
        call_command("sync_registry", chains=chains, providers=providers)

    assert f"\n  {chains}: {expected}" in str(caught.value), str(caught.value)
    assert registry_rows() == before


MALFORMED_PROVIDERS = {
    "rate-limit-overflows-its-column": (
        "rate_limit_per_minute: 2147483648",
        "providers.rpc-one.rate_limit_per_minute: Input should be less than or equal to 2147483647",
    ),
    "negative-rate-limit": (
        "rate_limit_per_minute: -5",
        "providers.rpc-one.rate_limit_per_minute: Input should be greater than or equal to 1",
    ),
    "string-for-a-number": (
        "timeout_seconds: '30'",
        "providers.rpc-one.timeout_seconds: Input should be a valid integer",
    ),
    "bool-for-a-number": (
        "timeout_seconds: true",
        "providers.rpc-one.timeout_seconds: Input should be a valid integer",
    ),
    "string-for-a-bool": ("enabled: 'no'", "providers.rpc-one.enabled: Input should be a valid boolean"),
    "list-for-a-mapping": (
        "options: [a, b]",
        "providers.rpc-one.options: Input should be a valid dictionary",
    ),
    "infinite-option": (
        "options: {max_batch_size: .inf}",
        "providers.rpc-one.options.max_batch_size: inf is not a finite number",
    ),
    "misspelt-option": (
        "options: {max_batch_sise: 100}",
        "providers.rpc-one.options.max_batch_sise: unknown option",
    ),
    "string-for-an-option-number": (
        "options: {archival_batch_size: '10'}",
        "providers.rpc-one.options.archival_batch_size: Input should be a valid integer",
    ),
    "option-out-of-range": (
        "options: {max_attempts: 0}",
        "providers.rpc-one.options.max_attempts: Input should be greater than or equal to 1",
    ),
    "string-for-an-option-bool": (
        "options: {api_key_required: 'yes'}",
        "providers.rpc-one.options.api_key_required: Input should be a valid boolean",
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize(("line", "expected"), MALFORMED_PROVIDERS.values(), ids=MALFORMED_PROVIDERS.keys())
def test_sync_registry_refuses_a_malformed_providers_file_in_one_line(
    tmp_path: Path, line: str, expected: str
) -> None:
    chains = write(tmp_path, "chains.yaml", MINIMAL_CHAINS)
    registry_sync(chains_file=chains, providers_file=write(tmp_path, "good.yaml", MINIMAL_PROVIDERS))
    before = registry_rows()
    providers = write(
        tmp_path,
        "providers.yaml",
        MINIMAL_PROVIDERS.replace("adapter: solana.rpc", f"adapter: solana.rpc\n    {line}"),
    )

    with pytest.raises(CommandError) as caught:
        call_command("sync_registry", chains=chains, providers=providers)

    assert f"\n  {providers}: {expected}" in str(caught.value), str(caught.value)
    assert registry_rows() == before


@pytest.mark.django_db
def test_sync_registry_refuses_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    call_command("sync_registry")
    before = registry_rows()
    chains = tmp_path / "chains.yaml"
    chains.write_bytes(MINIMAL_CHAINS.encode().replace(b"Solana", b"Sol\xe9ana"))

    with pytest.raises(CommandError) as caught:
        call_command("sync_registry", chains=chains)

    assert f"\n  {chains}: line 4: not UTF-8 text (byte 0xe9)" in str(caught.value), str(caught.value)
    assert registry_rows() == before


def registry_rows() -> dict[str, list[Any]]:
    return {
        model.__name__: list(model._default_manager.order_by("pk").values())
        for model in (Chain, Provider, ChainProviderMapping)
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("adapter", "options", "field", "error"),
    [
        ("solana.rpc", '{"max_batch_sise": 100}', "options", "options.max_batch_sise: unknown option"),
        (
            "solana.rpc",
            '{"archival_batch_size": "10"}',
            "options",
            "options.archival_batch_size: Input should be a valid integer",
        ),
        ("solana.rcp", "{}", "adapter", "adapter: no adapter named 'solana.rcp'"),
    ],
    ids=["misspelt-option", "string-for-a-number", "unknown-adapter"],
)
def test_the_provider_form_in_the_admin_checks_options_as_sync_registry_does(
    adapter: str, options: str, field: str, error: str
) -> None:
    from chains.admin import ProviderForm

    form = ProviderForm(
        data={
            "provider_name": "rpc-admin",
            "provider_type": "RPC",
            "adapter": adapter,
            "base_url": "https://rpc.example.com",
            "options": options,
            "is_enabled": "on",
            "timeout_seconds": "30",
        }
    )

    assert not form.is_valid()
    assert any(message.startswith(error) for message in form.errors[field]), form.errors
    assert not Provider.objects.filter(provider_name="rpc-admin").exists()


@pytest.mark.django_db
def test_the_provider_form_accepts_the_options_its_adapter_reads() -> None:
    from chains.admin import ProviderForm

    form = ProviderForm(
        data={
            "provider_name": "rpc-admin",
            "provider_type": "RPC",
            "adapter": "solana.rpc",
            "base_url": "https://rpc.example.com",
            "options": '{"max_batch_size": 50, "archival_batch_size": 5}',
            "is_enabled": "on",
            "timeout_seconds": "30",
        }
    )

    assert form.is_valid(), form.errors
