"""A statement as its partner downloads it (from the portal or the API), with the audit trail of
the download."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import User
from commissions.models import Statement
from commissions.selectors import RELEASED
from commissions.services.frozen_documents import frozen_document
from commissions.services.statement_documents import statement_filename, statement_partner_csv, statement_pdf
from commissions.services.statements import statement_export_audit

FORMATS = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}


@dataclass(frozen=True)
class Document:
    content: bytes
    content_type: str
    filename: str
    sha256: str = ""  # of a released statement's frozen document


def statement_download(
    *, statement: Statement, actor: User, export_format: str, channel: str = "portal"
) -> Document:
    """A statement as the partner downloads it (from the portal or the API), recorded in the audit
    log with the channel it went through: a released one byte for byte as frozen at release."""
    statement_export_audit(statement=statement, actor=actor, export_format=export_format, channel=channel)
    if statement.status in RELEASED:
        frozen = frozen_document(statement, export_format)
        return Document(
            content=bytes(frozen.content),
            content_type=frozen.content_type,
            filename=frozen.filename,
            sha256=frozen.sha256,
        )
    if export_format == "pdf":
        content = statement_pdf(statement)
    else:
        content = statement_partner_csv(statement).encode()
    return Document(
        content=content,
        content_type=FORMATS[export_format],
        filename=statement_filename(statement, export_format),
    )
