"""The database's walls hold against the application's own role: it owns nothing and may only read
and append the audit log; a rewrite by someone who owns the tables is found by the checkpoints kept
outside the database; a partner-scoped session cannot lift its row-level scope whatever SQL it
runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext, override_settings

from accounts.chain import document_of, link_hash
from accounts.checkpoints import CheckpointError, take_checkpoint
from accounts.models import AuditAction, AuditLog, Role
from aurora.common import dbroles, dbscope
from aurora.common.checks import application_role_is_bound_by_row_level_security
from tests import factories as f

ROOT = Path(settings.BASE_DIR)

# Every table under row-level security, with how its rows name their partner.
THROUGH_AGREEMENT = "(SELECT a.partner_id FROM agreements a WHERE a.agreement_id = t.agreement_id)"
PARTNER_TABLES = {
    "partners": "partner_id",
    "partner_clients": "partner_id",
    "agreements": "partner_id",
    "partner_commission_lines": "partner_id",
    "partner_commission_statements": "partner_id",
    "partner_statement_documents": "partner_id",
    "client_stake_snapshots": "partner_id",
    "commissions_historicalagreement": "partner_id",
    "commissions_historicalstatement": "partner_id",
    "partners_historicalpartner": "partner_id",
    "partners_historicalpartnerclient": "partner_id",
    "agreement_versions": THROUGH_AGREEMENT,
    "agreement_rules": THROUGH_AGREEMENT,
    "agreement_status_events": THROUGH_AGREEMENT,
}


def refused(statement: str, params: list[Any] | None = None) -> str:
    """Run `statement` in a savepoint; the database's refusal (which must come)."""
    with pytest.raises(DatabaseError) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)
    return str(caught.value)


def audit(count: int) -> None:
    for index in range(count):
        f.AuditLogFactory(resource_id=f"entry-{index}")


# ---- the application's role ---------------------------------------------------------------------


@pytest.mark.django_db
def test_the_application_s_role_cannot_truncate_alter_disable_triggers_or_drop() -> None:
    audit(3)
    head = AuditLog.objects.order_by("-sequence").values_list("change_hash", flat=True)[0]

    assert "permission denied" in refused("TRUNCATE audit_log")
    assert "must be owner" in refused("ALTER TABLE audit_log DISABLE TRIGGER ALL")
    assert "must be owner" in refused("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
    assert "must be owner" in refused("DROP TABLE audit_log")
    assert "must be owner" in refused("DROP TRIGGER audit_log_no_truncate ON audit_log")
    assert "permission denied" in refused("UPDATE audit_log SET reason = 'edited' WHERE sequence = 2")
    assert "permission denied" in refused("DELETE FROM audit_log WHERE sequence = 3")
    assert "must be owner" in refused("ALTER TABLE partners NO FORCE ROW LEVEL SECURITY")
    assert "must be owner" in refused("ALTER TABLE partners DISABLE ROW LEVEL SECURITY")
    assert "must be owner" in refused("DROP POLICY partners_partner_scope ON partners")
    assert "permission denied" in refused("CREATE TABLE intruder (id int)")
    assert "permission denied" in refused("TRUNCATE staging_payloads")
    assert "permission denied" in refused("DELETE FROM staging_payloads")
    assert "permission denied" in refused("SELECT * FROM aurora_private.scope_key")
    assert "permission denied" in refused(
        "CREATE OR REPLACE FUNCTION aurora_scope_partner() RETURNS uuid LANGUAGE sql AS "
        "$$ SELECT '00000000-0000-0000-0000-000000000000'::uuid $$"
    )
    assert "permission denied" in refused(f"SET ROLE {settings.AURORA_DATABASE_OWNER['USER']}")
    assert "permission denied" in refused(
        f"SET SESSION AUTHORIZATION {settings.AURORA_DATABASE_OWNER['USER']}"
    )

    assert AuditLog.objects.count() == 3
    assert AuditLog.objects.order_by("-sequence").values_list("change_hash", flat=True)[0] == head


@pytest.mark.django_db
def test_an_entry_can_only_be_appended_at_the_head_of_the_chain() -> None:
    audit(2)
    head = AuditLog.objects.get(sequence=2)
    values = document_of(head)

    def insert(sequence: int, previous: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO audit_log (log_id, sequence, previous_hash, change_hash, action, resource_type, "
                "correlation_id, timestamp) VALUES (%s, %s, %s, %s, %s, 'x', %s, now())",
                [
                    uuid.uuid4(),
                    sequence,
                    previous,
                    link_hash(previous, values),
                    AuditAction.RECOMPUTE,
                    uuid.uuid4(),
                ],
            )

    for sequence, previous in ((5, head.change_hash), (3, "0" * 64), (1, "0" * 64)):
        with pytest.raises(IntegrityError, match="grows only at its head"), transaction.atomic():
            insert(sequence, previous)
    assert AuditLog.objects.count() == 2


@pytest.mark.django_db
def test_the_application_s_role_owns_nothing_and_the_check_says_so_of_the_owner() -> None:
    assert dbroles.role_problems() == []
    assert application_role_is_bound_by_row_level_security(databases=["default"]) == []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE table_name = 'audit_log' AND grantee = current_user ORDER BY privilege_type"
        )
        assert [row[0] for row in cursor.fetchall()] == ["INSERT", "SELECT"]
        cursor.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
            "WHERE r.rolname = current_user"
        )
        assert cursor.fetchone()[0] == 0


def owner_url() -> str:
    db = {**connection.settings_dict, **settings.AURORA_DATABASE_OWNER}
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.mark.django_db
def test_manage_py_check_errors_when_the_application_connects_as_the_owner() -> None:
    env = {**os.environ, "DATABASE_URL": owner_url(), "DEBUG": "true"}
    env.pop("DATABASE_OWNER_URL", None)
    check = subprocess.run(
        [sys.executable, "manage.py", "check", "--database", "default"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode != 0
    assert "aurora.E001" in check.stderr and "owns" in check.stderr and "tables" in check.stderr
    assert "owns the database" in check.stderr


# ---- tampering by the tables' owner: found by the checkpoints -----------------------------------


@pytest.fixture
def checkpoints(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "audit-checkpoints.jsonl"
    with override_settings(AURORA_AUDIT_CHECKPOINT_FILE=path):
        yield path


def as_owner(*statements: str, params: list[Any] | None = None) -> None:
    with dbroles.as_schema_owner(), transaction.atomic(), connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement, params)


def edit_and_rehash(sequence: int, reason: str) -> None:
    """What someone with the owner's role would do to hide an edit: recompute every later link."""
    entries = list(AuditLog.objects.order_by("sequence"))
    entries[sequence - 1].reason = reason
    with dbroles.as_schema_owner(), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        previous = entries[sequence - 2].change_hash if sequence > 1 else "0" * 64
        for entry in entries[sequence - 1 :]:
            entry.previous_hash = previous
            entry.change_hash = link_hash(previous, document_of(entry))
            cursor.execute(
                "UPDATE audit_log SET reason = %s, previous_hash = %s, change_hash = %s WHERE sequence = %s",
                [entry.reason, entry.previous_hash, entry.change_hash, entry.sequence],
            )
            previous = entry.change_hash
        cursor.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")


def verify_error() -> str:
    with pytest.raises(CommandError) as caught:
        call_command("verify_audit_chain")
    return str(caught.value)


@pytest.mark.django_db(transaction=True)
def test_an_edit_rehashed_by_the_owner_is_found_by_sequence(
    checkpoints: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audit(5)
    call_command("checkpoint_audit_chain")
    call_command("verify_audit_chain")
    assert "intact: 5 entries; matches the checkpoint" in capsys.readouterr().out

    edit_and_rehash(3, "nothing to see here")
    assert AuditLog.objects.get(sequence=3).reason == "nothing to see here"

    from accounts.audit import verify_chain

    assert verify_chain() == (5, None)  # the links alone cannot tell
    assert "entry 5 differs from the checkpoint" in verify_error()
    with pytest.raises(CheckpointError, match="entry 5 differs"):
        take_checkpoint()  # a rewritten chain is never signed


@pytest.mark.django_db(transaction=True)
def test_a_deleted_tail_and_a_truncation_are_found(checkpoints: Path) -> None:
    audit(5)
    take_checkpoint()
    audit(2)  # after the checkpoint: the next one covers them
    take_checkpoint()

    as_owner(
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
        "DELETE FROM audit_log WHERE sequence >= 6",
        "ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only",
    )
    assert "entries 6-7 are missing" in verify_error() and "the table ends at entry 5" in verify_error()

    as_owner("SELECT set_config('aurora.maintenance', 'on', true)", "TRUNCATE audit_log")
    message = verify_error()
    assert "entries 1-7 are missing" in message and "ends empty" in message


@pytest.mark.django_db(transaction=True)
def test_the_owner_cannot_truncate_outside_a_maintenance_session_and_an_edited_checkpoint_is_found(
    checkpoints: Path,
) -> None:
    audit(2)
    take_checkpoint()
    with pytest.raises(IntegrityError, match="TRUNCATE is refused"):
        as_owner("TRUNCATE audit_log")
    assert AuditLog.objects.count() == 2

    line = json.loads(checkpoints.read_text())
    line["sequence"] = 1
    checkpoints.write_text(json.dumps(line) + "\n")
    assert "fails its signature" in verify_error()


# ---- row-level security a partner's session cannot lift -----------------------------------------


def foreign_rows(partner_id: uuid.UUID) -> dict[str, int]:
    """Rows of another partner than `partner_id` the session sees, per table (none, ever)."""
    counts = {}
    with connection.cursor() as cursor:
        for table, column in PARTNER_TABLES.items():
            cursor.execute(
                f"SELECT count(*) FROM {table} t WHERE {column} IS DISTINCT FROM %s",  # noqa: S608 (constants)
                [partner_id],
            )
            counts[table] = cursor.fetchone()[0]
    return counts


def partner_world() -> tuple[Any, Any]:
    a, b = f.PartnerFactory(), f.PartnerFactory()
    for partner in (a, b):
        agreement = f.AgreementFactory(partner=partner)
        f.AgreementVersionFactory(agreement=agreement)
        f.AgreementStatusEventFactory(agreement=agreement)
        f.AgreementRuleFactory(agreement=agreement)
        f.CommissionLineFactory(partner=partner)
        f.StatementFactory(partner=partner)
        f.StatementDocumentFactory(statement__partner=partner)
        f.PartnerClientFactory(partner=partner)
        f.ClientStakeSnapshotFactory(partner=partner)
    return a, b


def other_backend_ticket() -> str:
    """A valid every-partner ticket of another server process (as one read from a log would be)."""
    pid = connection.connection.info.backend_pid
    return dbscope.ticket(kind=dbscope.ALL_PARTNERS, partner_id=None, backend_pid=pid + 1)


@pytest.mark.django_db
def test_no_sql_on_a_partner_s_session_sees_another_partner_s_rows() -> None:
    a, b = partner_world()
    owner = settings.AURORA_DATABASE_OWNER["USER"]
    assert all(count >= 1 for count in foreign_rows(a.pk).values())  # SYSTEM sees both partners

    pid = connection.connection.info.backend_pid
    own_ticket = dbscope.ticket(kind=dbscope.ONE_PARTNER, partner_id=a.pk, backend_pid=pid)
    tricks = [
        "SELECT set_config('aurora.role', 'SYSTEM', false)",
        "SELECT set_config('aurora.role', 'FINANCE', false), set_config('aurora.partner_id', '', false)",
        "SELECT set_config('aurora.role', 'partner', false)",
        f"SELECT set_config('aurora.partner_id', '{b.pk}', false)",
        f"SELECT set_config('aurora.scope', '{own_ticket.replace(str(a.pk), str(b.pk))}', false)",
        f"SELECT set_config('aurora.scope', 'v1:all:-:{pid}:{'0' * 64}', false)",
        f"SELECT set_config('aurora.scope', '{other_backend_ticket()}', false)",
        "SELECT set_config('aurora.scope', 'v1:all:-', false)",
        "SELECT set_config('aurora.scope', 'SYSTEM', false)",
        "RESET aurora.scope",
        "RESET ALL",
        "SET search_path = pg_temp, public",
        "CREATE FUNCTION pg_temp.aurora_scope_partner() RETURNS uuid LANGUAGE sql AS "
        "$$ SELECT '00000000-0000-0000-0000-000000000000'::uuid $$",
    ]
    tricks += [f"SET ROLE {owner}", f"SET SESSION AUTHORIZATION {owner}", "SET row_security = off"]
    try:
        for trick in tricks:
            dbscope.set_database_scope(role=Role.PARTNER, partner_id=a.pk)
            assert sum(foreign_rows(a.pk).values()) == 0
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(trick)
                    seen = foreign_rows(a.pk)
            except DatabaseError:  # refused outright (SET ROLE, row_security = off): as good
                continue
            assert seen == dict.fromkeys(PARTNER_TABLES, 0), trick
            with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
                f.StatementFactory(partner=b)  # nor write one
    finally:
        with connection.cursor() as cursor:
            cursor.execute('SET search_path = "$user", public')
        dbscope.set_database_scope(role=dbscope.SYSTEM)
    assert all(count >= 1 for count in foreign_rows(a.pk).values())


@pytest.mark.django_db
def test_the_scope_ticket_never_appears_in_query_text() -> None:
    partner = f.PartnerFactory()
    with CaptureQueriesContext(connection) as queries:
        dbscope.set_database_scope(role=Role.PARTNER, partner_id=partner.pk)
    pid = connection.connection.info.backend_pid
    ticket = dbscope.ticket(kind=dbscope.ONE_PARTNER, partner_id=partner.pk, backend_pid=pid)
    try:
        assert ticket.startswith("v1:partner:") and not any(
            ticket in q["sql"] for q in queries.captured_queries
        )
        # Another session of the same role reads this one's last statement: placeholders only.
        db = connection.settings_dict
        with psycopg.connect(
            host=db["HOST"], port=db["PORT"], dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"]
        ) as other:
            row = other.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
        assert row is not None and "set_config" in row[0] and ticket not in row[0] and "$2" in row[0]
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('aurora.scope')")
            assert cursor.fetchone()[0] == ticket
    finally:
        dbscope.set_database_scope(role=dbscope.SYSTEM)


@pytest.mark.django_db
def test_a_scope_signed_with_another_key_sees_nothing_and_the_check_says_why() -> None:
    f.PartnerFactory()
    from aurora.common.checks import database_checks_the_application_s_scope

    assert database_checks_the_application_s_scope(databases=["default"]) == []
    try:
        with override_settings(AURORA_DB_SCOPE_KEY="another-key-than-the-database-knows"):
            problems = database_checks_the_application_s_scope(databases=["default"])
            assert [problem.id for problem in problems] == ["aurora.E002"]
            dbscope.set_database_scope(role=dbscope.SYSTEM)
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM partners")
                assert cursor.fetchone()[0] == 0
    finally:
        dbscope.set_database_scope(role=dbscope.SYSTEM)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM partners")
        assert cursor.fetchone()[0] == 1
