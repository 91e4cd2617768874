"""Chain specifics live in ingestion and normalization: the commission engine, the portal, the API,
access control and operations work on canonical rows and the chain's declared unit, whatever the
chain. A new chain must not need changes there; this test fails on Ethereum vocabulary outside
the places that are about Ethereum."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
CHAIN_AGNOSTIC = ("commissions", "portal", "api", "accounts", "operations")
WORDS = re.compile(r"ethereum|beacon|\bwei\b|0x01", re.IGNORECASE)
SUFFIXES = (".py", ".html", ".txt", ".js", ".css")

# Places that are about particular chains by their nature, and why.
EXEMPT_FILES = {
    # provider probes: operator tooling that talks to each provider, like ingestion does
    "operations/providers_check.py",
}
# Text naming the base units of the supported chains as examples, not code that depends on them.
EXEMPT_TEXT = ("(lamports, wei)",)


def hits(root: Path = ROOT) -> list[str]:
    found = []
    for app in CHAIN_AGNOSTIC:
        for path in sorted((root / app).rglob("*")):
            relative = path.relative_to(root).as_posix()
            if not path.is_file() or path.suffix not in SUFFIXES or "/migrations/" in relative:
                continue
            if relative in EXEMPT_FILES:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if WORDS.search(line) and not any(text in line for text in EXEMPT_TEXT):
                    found.append(f"{relative}:{number}: {line.strip()}")
    return found


def test_no_ethereum_specific_code_outside_ingestion_and_normalization() -> None:
    assert hits() == []


def test_the_engine_does_not_branch_on_a_chain() -> None:
    engine = [
        *sorted((ROOT / "commissions" / "engine").glob("*.py")),
        ROOT / "commissions" / "selectors.py",
        ROOT / "commissions" / "services" / "recompute.py",
        ROOT / "commissions" / "services" / "statements.py",
    ]
    pattern = re.compile(r"solana|ethereum|lamport|\bwei\b|chain_id\s*==|family", re.IGNORECASE)
    found = [
        f"{path.name}:{number}"
        for path in engine
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if pattern.search(line)
    ]
    assert found == []


def test_the_check_finds_what_it_looks_for(tmp_path: Path) -> None:
    """The scan is not vacuous: a file with Ethereum vocabulary in one of the apps is reported."""
    for app in CHAIN_AGNOSTIC:
        (tmp_path / app).mkdir()
    (tmp_path / "portal" / "views.py").write_text('if chain.pk == "ethereum-mainnet":\n    unit = "wei"\n')
    (tmp_path / "api" / "fields.py").write_text('help = "base units (lamports, wei)"\n')
    (tmp_path / "operations" / "providers_check.py").write_text('BEACON = "beacon"\n')
    (tmp_path / "commissions" / "migrations").mkdir()
    (tmp_path / "commissions" / "migrations" / "0001.py").write_text('"0x01"\n')
    assert hits(tmp_path) == [
        'portal/views.py:1: if chain.pk == "ethereum-mainnet":',
        'portal/views.py:2: unit = "wei"',
    ]
