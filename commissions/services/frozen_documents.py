"""A released statement's documents, frozen: rendered once, when the statement is released, and
served byte for byte ever after.

Release renders the partner CSV, the partner PDF and Finance's CSV in its own transaction, from
the statement as it stands at that moment, and stores each with its SHA-256, its file name and a
snapshot of what it was rendered from (partner, agreements and versions, rules, totals). A rename
afterwards changes the live names but none of these bytes. A statement released before documents
were frozen gets them at its first download (from the data of that moment; its snapshot says so).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from aurora.common.amounts import plain_amount
from commissions.models import (
    AgreementRule,
    CommissionLine,
    DocumentFormat,
    Statement,
    StatementDocument,
)
from commissions.selectors import RELEASED
from commissions.services.statement_documents import statement_filename, statement_partner_csv, statement_pdf

CONTENT_TYPES = {
    DocumentFormat.PARTNER_CSV: "text/csv; charset=utf-8",
    DocumentFormat.PARTNER_PDF: "application/pdf",
    DocumentFormat.FINANCE_CSV: "text/csv; charset=utf-8",
}


def _renderers() -> dict[str, Callable[[Statement], bytes]]:
    from commissions.services.statements import statement_csv  # statements calls in at release

    return {
        DocumentFormat.PARTNER_CSV: lambda statement: statement_partner_csv(statement).encode(),
        DocumentFormat.PARTNER_PDF: statement_pdf,
        DocumentFormat.FINANCE_CSV: lambda statement: statement_csv(statement).encode(),
    }


def _filename(statement: Statement, document_format: str) -> str:
    if document_format == DocumentFormat.FINANCE_CSV:
        return statement_filename(statement, "csv").replace("statement-", "statement-finance-", 1)
    return statement_filename(statement, document_format)


def statement_snapshot(statement: Statement) -> dict[str, Any]:
    """What the documents show, as names and figures at the moment of freezing."""
    lines = CommissionLine.objects.filter(statement=statement).select_related("agreement")
    agreements: dict[str, dict[str, Any]] = {}
    rule_keys: set[tuple[str, int, int]] = set()
    for line in lines:
        entry = agreements.setdefault(
            str(line.agreement_id), {"name": line.agreement.agreement_name, "versions": set()}
        )
        entry["versions"].add(line.agreement_version)
        rule_keys.add((str(line.agreement_id), line.agreement_version, line.rule_order))
    rules = [
        {
            "agreement_id": str(rule.agreement_id),
            "version": rule.version_number,
            "rule_order": rule.rule_order,
            "component": rule.revenue_component,
            "method": rule.attribution_method,
            "rate_bps": rule.commission_rate_bps,
        }
        for rule in AgreementRule.objects.filter(agreement_id__in=list(agreements)).order_by(
            "agreement_id", "version_number", "rule_order"
        )
        if (str(rule.agreement_id), rule.version_number, rule.rule_order) in rule_keys
    ]
    return {
        "statement_id": str(statement.pk),
        "partner": {"id": str(statement.partner_id), "name": statement.partner.partner_name},
        "chain_id": statement.chain_id,
        "month": statement.month,
        "status": statement.status,
        "released_at": statement.released_at.isoformat() if statement.released_at else None,
        "agreements": {
            key: {"name": value["name"], "versions": sorted(value["versions"])}
            for key, value in agreements.items()
        },
        "rules": rules,
        "line_count": statement.line_count,
        "total_commission_base_units": plain_amount(statement.total_commission_native),
        "frozen_at": timezone.now().isoformat(),
    }


PARTNER_FORMATS = (DocumentFormat.PARTNER_PDF, DocumentFormat.PARTNER_CSV)


def freeze_statement_documents(
    statement: Statement, formats: Sequence[str] = tuple(DocumentFormat.values)
) -> dict[str, StatementDocument]:
    """The statement's frozen documents in `formats`, rendering and storing those missing
    (race-safe: of two processes freezing at once, one stores and both serve its bytes). A
    partner's session may read and freeze the partner documents only (row-level security)."""
    stored = {
        document.document_format: document
        for document in statement.documents.filter(document_format__in=list(formats))
    }
    missing = [fmt for fmt in formats if fmt not in stored]
    if not missing:
        return stored
    snapshot = statement_snapshot(statement)
    renderers = _renderers()
    for document_format in missing:
        content = renderers[document_format](statement)
        document = StatementDocument(
            statement=statement,
            partner_id=statement.partner_id,
            document_format=document_format,
            filename=_filename(statement, document_format),
            content_type=CONTENT_TYPES[DocumentFormat(document_format)],
            content=content,
            sha256=hashlib.sha256(content).hexdigest(),
            size=len(content),
            snapshot=snapshot,
        )
        try:
            with transaction.atomic():
                document.save(force_insert=True)
        except IntegrityError:  # frozen by another process meanwhile: theirs stands
            document = StatementDocument.objects.get(statement=statement, document_format=document_format)
        stored[document_format] = document
    return stored


def frozen_document(statement: Statement, document_format: str) -> StatementDocument:
    """The stored document of a released (or paid) statement; frozen now if it never was."""
    if statement.status not in RELEASED:
        raise ValueError(f"statement {statement.pk} is {statement.status}: only released ones are frozen")
    return freeze_statement_documents(statement, [document_format])[document_format]


def partner_fingerprints(statement: Statement) -> list[dict[str, str]]:
    """The partner documents of a released statement with their SHA-256 (frozen now if need be)."""
    if statement.status not in RELEASED:
        return []
    documents = freeze_statement_documents(statement, PARTNER_FORMATS)
    return [
        {"format": fmt, "label": DocumentFormat(fmt).label, "sha256": documents[fmt].sha256}
        for fmt in PARTNER_FORMATS
    ]
