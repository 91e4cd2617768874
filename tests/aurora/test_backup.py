"""`scripts/backup` and `scripts/restore`: a dump of the test database restored into a scratch
database has every table with the same rows (row-level-security tables included) and an intact
audit chain; a restore into a database that has tables is refused without --force."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.audit import audit_record
from accounts.models import AuditAction, AuditLog, Role
from aurora.common.dbroles import as_schema_owner
from commissions.models import RevenueComponent
from commissions.services.agreements import RuleSpec, agreement_create, agreement_set_status
from commissions.services.statements import line_override
from tests import factories as f

ROOT = Path(settings.BASE_DIR)


def database_url(name: str, *, owner: bool = False) -> str:
    """The database `name` on the test server, as the application's role (or the schema owner)."""
    db = {**connection.settings_dict, **(settings.AURORA_DATABASE_OWNER if owner else {})}
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db['HOST'] or ''}:{db['PORT'] or 5432}/{name}"


def run(script: str, *args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / script), *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def row_counts(conninfo: str) -> dict[str, int]:
    """Rows of every table of the public schema, read as the schema owner (row-level security on:
    the database shows the owner's own sessions every partner)."""
    with psycopg.connect(conninfo) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
        ]
        counts = {}
        for table in tables:
            row = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()  # noqa: S608 (catalog names)
            assert row is not None
            counts[table] = row[0]
        return counts


def make_data() -> dict[str, Any]:
    """Rows in the main layers, partner tables (row-level security) and audit entries written by the
    services (so the hash chain is real)."""
    finance = f.UserFactory(role=Role.FINANCE)
    chain = f.ChainFactory()
    partner = f.PartnerFactory()
    agreement = agreement_create(
        partner=partner,
        name="Backup test agreement",
        effective_from=timezone.now() - timedelta(days=30),
        rules=[RuleSpec(1, RevenueComponent.MEV_TIPS, "FIXED_SHARE", 500, chain_id=chain.pk)],
        actor=finance,
        reason="signed",
    )
    agreement_set_status(agreement_id=agreement.pk, status="ACTIVE", actor=finance, reason="countersigned")
    statement = f.StatementFactory(partner=partner, chain=chain, total_commission_native=0, line_count=0)
    line = f.CommissionLineFactory(
        rule=agreement.rules.get(), chain=chain, statement=statement, pre_override_amount_native=40_000_000
    )
    line_override(
        line_id=line.pk, amount=Decimal(41_000_000), reason="rounding agreed with the partner", actor=finance
    )
    f.CommissionLineFactory.create_batch(3)
    f.CanonicalStakeRewardFactory.create_batch(5)
    f.CanonicalValidatorFeesFactory.create_batch(2)
    f.ValidatorPnlFactory.create_batch(2)
    audit_record(actor=finance, action=AuditAction.RECOMPUTE, resource_type="test", resource_id="1")
    return {"partner": partner}


@pytest.fixture
def scratch_database() -> Iterator[str]:
    name = f"{connection.settings_dict['NAME']}_restored"[:63]
    with as_schema_owner(), connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    yield name
    connection.close()  # a fresh connection: the test may leave this one mid-transaction
    with as_schema_owner(), connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.django_db(transaction=True)
def test_a_backup_restores_into_a_fresh_database_with_every_row_and_an_intact_audit_chain(
    tmp_path: Path, scratch_database: str
) -> None:
    make_data()
    source = database_url(connection.settings_dict["NAME"])
    target = database_url(scratch_database)
    source_counts = row_counts(database_url(connection.settings_dict["NAME"], owner=True))
    assert source_counts["audit_log"] == AuditLog.objects.count() >= 4
    assert source_counts["partners"] >= 4 and source_counts["partner_commission_lines"] == 4

    backup = run("backup", "--dir", str(tmp_path), url=source)

    assert backup.returncode == 0, backup.stderr
    dump = Path(backup.stdout.strip())
    assert dump.parent == tmp_path and dump.name.startswith("aurora-") and dump.suffix == ".dump"
    assert dump.read_bytes()[:5] == b"PGDMP"  # custom format
    assert oct(dump.stat().st_mode & 0o777) == "0o600"
    assert (tmp_path / f"{dump.name}.sha256").read_text().split()[0]
    assert "row security on, every partner" in backup.stderr

    restore = run("restore", "--create", "--verify", str(dump), scratch_database, url=source)

    assert restore.returncode == 0, restore.stdout + restore.stderr
    assert "--no-owner" in restore.stdout and "--exit-on-error" in restore.stdout
    assert f"audit chain intact: {source_counts['audit_log']} entries" in restore.stdout
    assert row_counts(database_url(scratch_database, owner=True)) == source_counts
    with psycopg.connect(target) as conn:
        restored_head = conn.execute(
            "SELECT change_hash FROM audit_log ORDER BY sequence DESC LIMIT 1"
        ).fetchone()
    assert restored_head == (AuditLog.objects.order_by("-sequence").values_list("change_hash", flat=True)[0],)

    # The restored copy is a working Aurora database: the audit check runs there on its own too.
    check = subprocess.run(
        [sys.executable, "manage.py", "verify_audit_chain"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": target},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0 and "audit chain intact" in check.stdout, check.stderr

    again = run("restore", str(dump), scratch_database, url=source)

    assert again.returncode == 1
    assert f"database '{scratch_database}' is not empty" in again.stderr
    assert "--force" in again.stderr

    missing = run("restore", str(dump), f"{scratch_database}_missing", url=source)

    assert missing.returncode == 1
    assert "does not exist" in missing.stderr and "--create" in missing.stderr


def test_restore_refuses_what_is_not_a_dump_and_backup_a_url_that_is_not_postgres(tmp_path: Path) -> None:
    not_a_dump = tmp_path / "notes.txt"
    not_a_dump.write_text("not a dump")
    url = database_url("aurora_no_such_database")

    assert run("restore", str(not_a_dump), "aurora_no_such_database", url=url).stderr.strip() == (
        f"restore: {not_a_dump} is not a pg_dump custom-format archive"
    )
    assert run("restore", str(tmp_path / "missing.dump"), "x", url=url).returncode == 1
    assert run("restore", str(not_a_dump), url=url).returncode == 2  # TARGET is required
    assert "not a postgres:// URL" in run("backup", url="mysql://db/aurora").stderr
