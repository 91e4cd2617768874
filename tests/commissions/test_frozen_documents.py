"""A released statement's documents are frozen at release: renames later change no byte."""

from __future__ import annotations

import hashlib

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import reverse

from accounts.models import AuditAction, AuditLog, Role
from commissions.models import Agreement, DocumentFormat, Statement, StatementDocument, StatementStatus
from commissions.services.statements import statement_export, statement_release
from partners.models import Partner
from tests import factories as f
from tests.commissions.test_statement_documents import small_statement

pytestmark = pytest.mark.django_db


def _downloads(client: Client, statement: Statement) -> dict[str, tuple[bytes, str]]:
    answers = {}
    for fmt in ("csv", "pdf"):
        response = client.get(reverse("portal:statement_document", args=[statement.pk, fmt]))
        assert response.status_code == 200
        answers[fmt] = (response.content, response["X-Content-SHA256"])
    return answers


def _rename_everything(statement: Statement) -> None:
    Partner.objects.filter(pk=statement.partner_id).update(partner_name="Renamed Partner AG")
    Agreement.objects.filter(partner_id=statement.partner_id).update(agreement_name="Renamed terms")


def test_release_freezes_the_documents_and_every_later_download_is_byte_identical_after_renames() -> None:
    statement = small_statement()
    Statement.objects.filter(pk=statement.pk).update(status=StatementStatus.APPROVED, released_at=None)
    finance = f.UserFactory(role=Role.FINANCE)
    statement_release(statement_id=statement.pk, actor=finance)

    stored = {doc.document_format: doc for doc in StatementDocument.objects.filter(statement=statement)}
    assert set(stored) == set(DocumentFormat.values)
    for document in stored.values():
        assert document.sha256 == hashlib.sha256(bytes(document.content)).hexdigest()
        assert document.snapshot["partner"]["name"] == "Northwind Staking"
    release = AuditLog.objects.filter(action=AuditAction.RELEASE_STATEMENT).latest("sequence")
    assert stored[DocumentFormat.PARTNER_PDF].sha256 in release.reason

    client = Client()
    client.force_login(f.PartnerUserFactory(partner=statement.partner))
    before = _downloads(client, statement)
    finance_before = statement_export(statement=Statement.objects.get(pk=statement.pk), actor=finance)
    _rename_everything(statement)
    after = _downloads(client, statement)
    finance_after = statement_export(statement=Statement.objects.get(pk=statement.pk), actor=finance)

    assert after == before
    assert finance_after == finance_before and "Renamed" not in finance_after
    assert before["csv"][1] == stored[DocumentFormat.PARTNER_CSV].sha256
    assert hashlib.sha256(before["pdf"][0]).hexdigest() == before["pdf"][1]
    assert b"Renamed" not in before["csv"][0]
    page = client.get(reverse("portal:statement", args=[statement.pk])).content.decode()
    assert (
        stored[DocumentFormat.PARTNER_PDF].sha256 in page
        and stored[DocumentFormat.PARTNER_CSV].sha256 in page
    )


def test_a_statement_released_before_freezing_is_frozen_at_its_first_download() -> None:
    statement = small_statement()  # PAID, with no stored documents
    client = Client()
    client.force_login(f.PartnerUserFactory(partner=statement.partner))
    first = _downloads(client, statement)
    _rename_everything(statement)

    assert _downloads(client, statement) == first
    assert StatementDocument.objects.filter(statement=statement).count() == 2  # the partner's two


def statement_csv_header(content: str) -> str:
    return content.splitlines()[0] if content else ""


def test_a_draft_is_still_rendered_live_and_nothing_is_frozen() -> None:
    statement = small_statement()
    Statement.objects.filter(pk=statement.pk).update(status=StatementStatus.DRAFT)
    content = statement_export(
        statement=Statement.objects.get(pk=statement.pk), actor=f.UserFactory(role=Role.FINANCE)
    )
    assert "Northwind" in statement_csv_header(content)
    assert not StatementDocument.objects.exists()


@pytest.mark.parametrize(
    "statement_sql",
    ["UPDATE partner_statement_documents SET content = 'x'", "DELETE FROM partner_statement_documents"],
)
def test_the_application_role_can_neither_edit_nor_delete_a_frozen_document(statement_sql: str) -> None:
    statement = small_statement()
    client = Client()
    client.force_login(f.PartnerUserFactory(partner=statement.partner))
    _downloads(client, statement)
    with (
        pytest.raises(DatabaseError, match="permission denied"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement_sql)
    assert StatementDocument.objects.filter(statement=statement).count() == 2
