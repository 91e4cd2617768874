"""The documents a partner downloads for a statement: the CSV (exact rows, no internal fields,
spreadsheet-safe), the PDF read back as text (every amount, adjustments, totals, pages, any
script in a name) and the file name; neither grows its queries with the lines."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pypdf import PdfReader

from chains.models import Chain, Period
from commissions.models import (
    Agreement,
    AttributionMethod,
    CommissionLine,
    RevenueComponent,
    Statement,
    StatementStatus,
)
from commissions.services import statement_documents
from commissions.services.statement_documents import (
    statement_filename,
    statement_partner_csv,
    statement_pdf,
)
from partners.models import Partner
from tests import factories as f

pytestmark = pytest.mark.django_db

ABC = "ABC" + "1" * 41
RELEASED = datetime(2025, 10, 2, 9, 30, tzinfo=UTC)
PAID = datetime(2025, 10, 6, 12, 0, tzinfo=UTC)


def period(chain: Chain, identifier: int, end: datetime) -> Period:
    return f.PeriodFactory(
        chain=chain,
        epoch=identifier,
        period_start=end - timedelta(days=2),
        period_end=end,
    )


def small_statement(partner_name: str = "Northwind Staking") -> Statement:
    """September: Beta rule 1 and Alpha rules 1 and 2 on epoch 850, Alpha rule 1 on epoch 851
    (overridden), and an adjustment correcting August; the stored total is deliberately stale."""
    chain = f.ChainFactory()
    partner = f.PartnerFactory(partner_name=partner_name, legal_entity_name="Northwind Staking GmbH")
    august = f.StatementFactory(partner=partner, chain=chain, month="2025-08", status=StatementStatus.PAID)
    september = f.StatementFactory(
        partner=partner,
        chain=chain,
        month="2025-09",
        status=StatementStatus.PAID,
        released_at=RELEASED,
        paid_at=PAID,
        total_commission_native=Decimal(1),
        line_count=99,
    )
    alpha = f.AgreementFactory(partner=partner, agreement_name="Alpha")
    beta = f.AgreementFactory(partner=partner, agreement_name="Beta")
    alpha_mev = f.AgreementRuleFactory(agreement=alpha, chain=chain, rule_order=1, commission_rate_bps=500)
    alpha_fees = f.AgreementRuleFactory(
        agreement=alpha,
        chain=chain,
        rule_order=2,
        revenue_component=RevenueComponent.EXEC_FEES,
        attribution_method=AttributionMethod.STAKE_WEIGHT,
        commission_rate_bps=1250,
    )
    beta_mev = f.AgreementRuleFactory(agreement=beta, chain=chain, rule_order=1, commission_rate_bps=300)
    e849 = period(chain, 849, datetime(2025, 8, 30, tzinfo=UTC))
    e850 = period(chain, 850, datetime(2025, 9, 10, tzinfo=UTC))
    e851 = period(chain, 851, datetime(2025, 9, 30, tzinfo=UTC))

    def line(rule: object, at: Period, **fields: object) -> CommissionLine:
        return f.CommissionLineFactory(statement=september, chain=chain, rule=rule, period=at, **fields)

    # Created out of order: the documents sort them.
    line(alpha_mev, e851, override_amount_native=Decimal(35_000_000), override_reason="SECRET-REASON")
    line(
        beta_mev,
        e850,
        base_amount_native=Decimal(1_000_000_000),
        pre_override_amount_native=Decimal(30_000_000),
    )
    line(
        alpha_fees,
        e850,
        validator_key=ABC,
        base_amount_native=Decimal("2000000000.5"),
        pre_override_amount_native=Decimal(250_000_000),
    )
    line(alpha_mev, e850)
    line(
        alpha_mev,
        e849,
        adjusts_statement=august,
        base_amount_native=Decimal(-100_000_000),
        pre_override_amount_native=Decimal(-5_000_000),
    )
    return Statement.objects.get(pk=september.pk)


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def pdf_pages(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def many_lines(count: int, partner_name: str = "Many Lines Capital", first_epoch: int = 900) -> Statement:
    chain = f.ChainFactory()
    partner = f.PartnerFactory(partner_name=partner_name)
    statement = f.StatementFactory(partner=partner, chain=chain, month="2025-09")
    rule = f.AgreementRuleFactory(agreement=f.AgreementFactory(partner=partner), chain=chain, rule_order=1)
    for i in range(count):
        f.CommissionLineFactory(
            statement=statement,
            chain=chain,
            rule=rule,
            period=period(chain, first_epoch + i, datetime(2025, 9, 1, tzinfo=UTC) + timedelta(hours=i)),
            pre_override_amount_native=Decimal(1_000_000 + i),
        )
    return Statement.objects.get(pk=statement.pk)


# ---- CSV ----------------------------------------------------------------------------------------


def test_csv_rows_are_exact_regular_lines_first_then_adjustments_then_totals() -> None:
    statement = small_statement()

    rows = read_csv(statement_partner_csv(statement))

    lines_total = 40_000_000 + 250_000_000 + 30_000_000 + 35_000_000
    assert rows == [
        ["partner", "Northwind Staking"],
        ["chain", "solana-mainnet"],
        ["month", "2025-09"],
        ["status", "PAID"],
        ["released_at", "2025-10-02T09:30:00+00:00"],
        [],
        [
            "period",
            "period_end",
            "agreement",
            "agreement_version",
            "rule_order",
            "validator",
            "component",
            "method",
            "base_base_units",
            "rate_bps",
            "amount_base_units",
            "corrects_month",
        ],
        [
            "850",
            "2025-09-10T00:00:00+00:00",
            "Alpha",
            "1",
            "1",
            "",
            "MEV_TIPS",
            "FIXED_SHARE",
            "800000000",
            "500",
            "40000000",
            "",
        ],
        [
            "850",
            "2025-09-10T00:00:00+00:00",
            "Alpha",
            "1",
            "2",
            ABC,
            "EXEC_FEES",
            "STAKE_WEIGHT",
            "2000000000.5",
            "1250",
            "250000000",
            "",
        ],
        [
            "850",
            "2025-09-10T00:00:00+00:00",
            "Beta",
            "1",
            "1",
            "",
            "MEV_TIPS",
            "FIXED_SHARE",
            "1000000000",
            "300",
            "30000000",
            "",
        ],
        [
            "851",
            "2025-09-30T00:00:00+00:00",
            "Alpha",
            "1",
            "1",
            "",
            "MEV_TIPS",
            "FIXED_SHARE",
            "800000000",
            "500",
            "35000000",
            "",
        ],
        [
            "849",
            "2025-08-30T00:00:00+00:00",
            "Alpha",
            "1",
            "1",
            "",
            "MEV_TIPS",
            "FIXED_SHARE",
            "-100000000",
            "500",
            "-5000000",
            "2025-08",
        ],
        [],
        ["lines_total_base_units", str(lines_total)],
        ["adjustments_total_base_units", "-5000000"],
        ["total_base_units", str(lines_total - 5_000_000)],
        ["total_SOL", "0.35"],
    ]
    # The totals are the lines' sums, not the statement's stale stored total.
    final = sum(
        CommissionLine.objects.filter(statement=statement).values_list("final_amount_native", flat=True)
    )
    assert Decimal(rows[-2][1]) == final == Decimal(350_000_000) != statement.total_commission_native


def test_csv_has_no_internal_fields() -> None:
    statement = small_statement()
    overridden = CommissionLine.objects.get(statement=statement, override_amount_native__isnull=False)

    text = statement_partner_csv(statement)

    assert "SECRET-REASON" not in text
    assert str(overridden.pk) not in text
    for line in CommissionLine.objects.filter(statement=statement):
        assert str(line.pk) not in text
    overridden_row = next(row for row in read_csv(text)[7:12] if row[0] == "851")
    assert overridden_row[10] == "35000000"  # the final amount only...
    assert "40000000" not in overridden_row  # ...not the computed amount it replaced
    header = read_csv(text)[6]
    assert not {"line_id", "override_reason", "override_user", "pre_override_amount_native"} & set(header)


def test_csv_neutralises_a_formula_in_a_name() -> None:
    statement = small_statement(partner_name='=HYPERLINK("http://evil")')
    Agreement.objects.filter(partner=statement.partner, agreement_name="Alpha").update(
        agreement_name="+cmd|' /C calc'!A0"
    )

    rows = read_csv(statement_partner_csv(statement))

    assert rows[0] == ["partner", '\'=HYPERLINK("http://evil")']
    assert rows[7][2] == "'+cmd|' /C calc'!A0"
    assert rows[11][10] == "-5000000"  # a negative amount stays a number


def test_csv_for_an_empty_statement_on_ethereum_totals_zero() -> None:
    statement = f.StatementFactory(chain=f.ChainFactory(ethereum=True), month="2025-09")

    rows = read_csv(statement_partner_csv(statement))

    assert rows[-4:] == [
        ["lines_total_base_units", "0"],
        ["adjustments_total_base_units", "0"],
        ["total_base_units", "0"],
        ["total_ETH", "0"],
    ]
    assert rows[4] == ["released_at", ""]


# ---- PDF ----------------------------------------------------------------------------------------


def test_pdf_shows_the_partner_lines_adjustments_and_totals() -> None:
    statement = small_statement()

    data = statement_pdf(statement)

    assert data.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    assert reader.pages[0].mediabox.width == pytest.approx(595.28, abs=0.1)  # A4 portrait
    assert reader.metadata is not None
    assert reader.metadata.title == "Commission statement 2025-09"
    assert reader.metadata.author == "Aurora"
    assert reader.metadata.subject == "Northwind Staking, solana-mainnet, 2025-09"
    text = pdf_pages(data)[0]
    for expected in (
        "Commission statement",
        "Northwind Staking",
        "Northwind Staking GmbH",
        "Solana Mainnet Beta (solana-mainnet)",
        "2025-09",
        "Paid",
        "2025-10-02",  # released
        "2025-10-06",  # paid
        str(statement.pk),
        "Alpha v1 rule 2",
        "Beta v1 rule 1",
        "MEV tips",
        "Stake weight",
        "12.50%",
        "5.00%",
        "3.00%",
        "2025-09-10",
        # every line: whole tokens and base units
        "0.04",
        "40,000,000",
        "0.25",
        "250,000,000",
        "0.03",
        "30,000,000",
        "0.035",
        "35,000,000",
        "2.0000000005",  # a fractional base in tokens
        # the adjustment, with the month it corrects
        "Adjustments",
        "Corrects",
        "2025-08",
        "-0.005",
        "-5,000,000",
        # totals
        "Totals",
        "0.355",
        "355,000,000",
        "0.35",
        "350,000,000",
        "page 1 of 1",
    ):
        assert expected in text, expected
    assert "SECRET-REASON" not in text
    assert "Aurora · generated " in text


def test_pdf_without_adjustments_has_no_adjustment_section() -> None:
    statement = many_lines(3)

    text = pdf_pages(statement_pdf(statement))[0]

    assert "Differences found after" not in text
    assert "Corrects" not in text
    assert "3,000,003" in text  # 1,000,000 + 1,000,001 + 1,000,002


def test_twenty_lines_fit_one_page() -> None:
    statement = many_lines(20)

    pages = pdf_pages(statement_pdf(statement))

    assert len(pages) == 1
    assert "page 1 of 1" in pages[0]
    assert all(f"{1_000_000 + i:,}" in pages[0] for i in range(20))


def test_sixty_lines_flow_onto_more_pages_with_the_header_repeated() -> None:
    statement = many_lines(60)

    pages = pdf_pages(statement_pdf(statement))

    assert len(pages) >= 2
    for number, text in enumerate(pages, start=1):
        assert f"page {number} of {len(pages)}" in text
        assert "Period end" in text
        assert "Agreement" in text
    everything = "\n".join(pages)
    assert all(f"{1_000_000 + i:,}" in everything for i in range(60))
    assert "Total" in pages[-1]


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Ωmega Staking", "Ωmega Staking"),
        ("Łódź Capital", "Łódź Capital"),
        ("Сибирь Стейкинг", "Сибирь Стейкинг"),
        ("北極星 Validators", "??? Validators"),  # beyond DejaVu Sans: '?' rather than blank boxes
    ],
)
def test_pdf_with_non_latin_names(name: str, shown: str) -> None:
    statement = many_lines(2, partner_name=name)

    data = statement_pdf(statement)

    assert b"DejaVuSans" in data  # embedded
    assert shown in pdf_pages(data)[0]


@pytest.mark.parametrize(
    ("name", "shown"), [("Ωmega Staking", "?mega Staking"), ("Łódź Capital", "?ód? Capital")]
)
def test_pdf_without_a_unicode_font_replaces_what_latin1_cannot_show(
    monkeypatch: pytest.MonkeyPatch, name: str, shown: str
) -> None:
    monkeypatch.setattr(statement_documents, "FONT_PATH", "/nonexistent/DejaVuSans.ttf")
    statement = many_lines(2, partner_name=name)

    data = statement_pdf(statement)

    assert b"DejaVu" not in data and b"Helvetica" in data
    assert shown in pdf_pages(data)[0]


def test_documents_do_not_grow_queries_with_lines() -> None:
    def queries(count: int) -> tuple[int, int]:
        statement = many_lines(count, partner_name=f"Partner of {count}", first_epoch=1000 + 100 * count)
        with CaptureQueriesContext(connection) as pdf:
            statement_pdf(Statement.objects.get(pk=statement.pk))
        with CaptureQueriesContext(connection) as text:
            statement_partner_csv(Statement.objects.get(pk=statement.pk))
        return len(pdf), len(text)

    three, thirty = queries(3), queries(30)

    assert thirty == three
    assert three == (4, 4)  # the statement, its partner, its chain, its lines


# ---- file name ----------------------------------------------------------------------------------


def test_filename() -> None:
    chain = f.ChainFactory()

    def name(partner: str, extension: str) -> str:
        statement = Statement(partner=Partner(partner_name=partner), chain=chain, month="2025-09")
        return statement_filename(statement, extension)

    assert name("Northwind Staking", "pdf") == "statement-northwind-staking-solana-mainnet-2025-09.pdf"
    assert name("Northwind Staking", ".csv") == "statement-northwind-staking-solana-mainnet-2025-09.csv"
    assert name("Łódź Capital / Ops", "pdf") == "statement-odz-capital-ops-solana-mainnet-2025-09.pdf"
    assert name("Ωmega", "pdf") == "statement-mega-solana-mainnet-2025-09.pdf"
    assert name("北極星", "pdf") == "statement-partner-solana-mainnet-2025-09.pdf"
    assert name('../"evil"\r\n', "pdf").isascii()
    assert "/" not in name("../../etc/passwd", "pdf")
