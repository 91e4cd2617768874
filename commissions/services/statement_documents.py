"""The documents a partner downloads for a statement: a CSV of its lines and a PDF.

Both show what the partner is paid and on what basis, never how Finance got there: no line ids,
no override reasons or users, a line shows only its final amount. Totals are the sums of the
lines read here, not the statement's stored figures. Which statuses may be downloaded is the
caller's decision; these functions render any statement they are given.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any
from xml.sax.saxutils import escape

from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.enums import TA_RIGHT  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.ttfonts import TTFont  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from aurora.common.amounts import plain_amount
from aurora.common.spreadsheet import safe_row
from chains.models import Chain
from commissions.models import CommissionLine, Statement

FONT_PATH = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
BOLD_FONT_PATH = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"

CSV_COLUMNS = [
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
]


# ---- reading the statement ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Content:
    statement: Statement
    chain: Chain
    lines: list[CommissionLine]
    adjustments: list[CommissionLine]

    @property
    def lines_total(self) -> Decimal:
        return sum((line.final_amount_native for line in self.lines), Decimal(0))

    @property
    def adjustments_total(self) -> Decimal:
        return sum((line.final_amount_native for line in self.adjustments), Decimal(0))

    @property
    def total(self) -> Decimal:
        return self.lines_total + self.adjustments_total

    @property
    def symbol(self) -> str:
        return self.chain.display_symbol or self.chain.native_unit


def _content(statement: Statement) -> _Content:
    """The statement's lines in one query: regular lines by period end, agreement and rule,
    then the adjustments by the month they correct."""
    rows = list(
        CommissionLine.objects.filter(statement=statement)
        .select_related("period", "agreement", "adjusts_statement")
        .order_by(
            F("adjusts_statement__month").asc(nulls_first=True),
            "period__period_end",
            "agreement__agreement_name",
            "rule_order",
            "pk",
        )
    )
    return _Content(
        statement=statement,
        chain=statement.chain,
        lines=[line for line in rows if line.adjusts_statement_id is None],
        adjustments=[line for line in rows if line.adjusts_statement_id is not None],
    )


def _tokens(value: Decimal, decimals: int) -> Decimal:
    return value.scaleb(-decimals)


def _utc(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat() if moment else ""


# ---- CSV ----------------------------------------------------------------------------------------


def statement_partner_csv(statement: Statement) -> str:
    """The statement as the partner sees it: a few header rows, one row per line (adjustments
    last, each naming the month it corrects), then the totals. Spreadsheet-safe."""
    content = _content(statement)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")

    def row(cells: Sequence[Any]) -> None:
        writer.writerow(safe_row(cells))

    row(["partner", statement.partner.partner_name])
    row(["chain", content.chain.pk])
    row(["month", statement.month])
    row(["status", statement.status])
    row(["released_at", _utc(statement.released_at)])
    row([])
    row(CSV_COLUMNS)
    for line in [*content.lines, *content.adjustments]:
        row(
            [
                line.period.period_identifier,
                _utc(line.period.period_end),
                line.agreement.agreement_name,
                line.agreement_version,
                line.rule_order,
                line.validator_key or "",
                line.revenue_component,
                line.attribution_method,
                plain_amount(line.base_amount_native),
                line.commission_rate_bps,
                plain_amount(line.final_amount_native),
                line.adjusts_statement.month if line.adjusts_statement else "",
            ]
        )
    row([])
    row(["lines_total_base_units", plain_amount(content.lines_total)])
    row(["adjustments_total_base_units", plain_amount(content.adjustments_total)])
    row(["total_base_units", plain_amount(content.total)])
    row([f"total_{content.symbol}", plain_amount(_tokens(content.total, content.chain.native_decimals))])
    return out.getvalue()


# ---- file name ----------------------------------------------------------------------------------


def statement_filename(statement: Statement, extension: str) -> str:
    """e.g. statement-northwind-staking-solana-mainnet-2025-09.pdf (ASCII only)."""
    partner = slugify(statement.partner.partner_name) or "partner"
    chain = slugify(str(statement.chain_id)) or "chain"
    suffix = slugify(extension.lstrip(".")) or "bin"
    return f"statement-{partner}-{chain}-{slugify(statement.month)}.{suffix}"


# ---- PDF ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fonts:
    regular: str
    bold: str
    covered: frozenset[int] | None  # code points the font draws; None: Latin-1 (built-in fonts)

    def text(self, value: object) -> str:
        """`value` as Paragraph markup: escaped, a character the font cannot draw shown as '?'."""
        text = str(value)
        if self.covered is None:
            text = text.encode("latin-1", "replace").decode("latin-1")
        else:
            text = "".join(c if ord(c) in self.covered or c in "\n\t" else "?" for c in text)
        return escape(text)


def _register(name: str, path: str) -> TTFont | None:
    try:
        font = TTFont(name, path)
        pdfmetrics.registerFont(font)
    except Exception:  # an unreadable or broken font file: the built-in fonts are used instead
        return None
    return font


@cache
def _fonts(regular_path: str, bold_path: str) -> _Fonts:
    """DejaVu Sans when it is installed (the Latin, Greek and Cyrillic scripts and more), else
    Helvetica."""
    if not (os.path.isfile(regular_path) and os.path.isfile(bold_path)):
        return _Fonts("Helvetica", "Helvetica-Bold", covered=None)
    regular, bold = _register("AuroraSans", regular_path), _register("AuroraSans-Bold", bold_path)
    if regular is None or bold is None:
        return _Fonts("Helvetica", "Helvetica-Bold", covered=None)
    pdfmetrics.registerFontFamily(
        "AuroraSans",
        normal="AuroraSans",
        bold="AuroraSans-Bold",
        italic="AuroraSans",
        boldItalic="AuroraSans-Bold",
    )
    covered = frozenset(regular.face.charToGlyph) & frozenset(bold.face.charToGlyph)
    return _Fonts("AuroraSans", "AuroraSans-Bold", covered=covered)


PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 14 * mm
FONT_SIZE = 7
GREY = colors.HexColor("#666666")
RULE = colors.HexColor("#bbbbbb")
HEAD_BG = colors.HexColor("#eeeeee")


# SimpleDocTemplate's frame keeps 6 pt of padding on each side.
FRAME_WIDTH = PAGE_WIDTH - 2 * MARGIN - 12


def _fit(*widths: float) -> list[float]:
    """Column widths in proportion to `widths`, filling the frame."""
    scale = FRAME_WIDTH / sum(widths)
    return [width * scale for width in widths]


def _thousands(value: Decimal) -> str:
    return f"{value.normalize():,f}" if value else "0"


@dataclass(frozen=True)
class _Pdf:
    content: _Content
    fonts: _Fonts
    generated: str

    @property
    def decimals(self) -> int:
        return self.content.chain.native_decimals

    def style(
        self, size: float = FONT_SIZE, *, bold: bool = False, right: bool = False, digits: bool = False
    ) -> Any:
        """`digits`: a number, right-aligned; a long one breaks between digits rather than
        overflowing its column."""
        right = right or digits
        return ParagraphStyle(
            name=f"s{size}{bold}{right}",
            fontName=self.fonts.bold if bold else self.fonts.regular,
            fontSize=size,
            leading=size * 1.2,
            alignment=TA_RIGHT if right else 0,
            wordWrap="CJK" if digits else None,
        )

    @property
    def small(self) -> Any:
        """Grey notes under a cell's text; long keys break anywhere rather than overflow."""
        return ParagraphStyle(
            name="small",
            fontName=self.fonts.regular,
            fontSize=FONT_SIZE - 1,
            leading=(FONT_SIZE - 1) * 1.2,
            textColor=GREY,
            wordWrap="CJK",
        )

    def para(
        self,
        text: object,
        size: float = FONT_SIZE,
        *,
        bold: bool = False,
        right: bool = False,
        digits: bool = False,
    ) -> Any:
        return Paragraph(self.fonts.text(text), self.style(size, bold=bold, right=right, digits=digits))

    def amount(self, value: Decimal, *, bold: bool = False) -> Any:
        """Whole tokens, with the exact base units beneath in small grey type."""
        tokens = self.fonts.text(_thousands(_tokens(value, self.decimals)))
        base = self.fonts.text(_thousands(value))
        return Paragraph(
            f'{tokens}<br/><font size="{FONT_SIZE - 1}" color="#666666">{base}</font>',
            self.style(bold=bold, digits=True),
        )

    def table(self, header: list[str], rows: list[list[Any]], widths: list[float]) -> Any:
        head = [self.para(text, bold=True, right=i >= len(header) - 3) for i, text in enumerate(header)]
        table = Table([head, *rows], colWidths=widths, repeatRows=1)
        table.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("BACKGROUND", (0, 0), (-1, 0), HEAD_BG),
                    ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE),
                    ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
                    ("LEFTPADDING", (0, 0), (-1, -1), 2),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 2),
                ]
            )
        )
        return table

    def line_cells(self, line: CommissionLine) -> list[Any]:
        agreement = f"{line.agreement.agreement_name} v{line.agreement_version} rule {line.rule_order}"
        validator = f"validator {line.validator_key}" if line.validator_key else "all validators"
        rate = (Decimal(line.commission_rate_bps) / 100).quantize(Decimal("0.01"))
        return [
            self.para(line.period.period_identifier),
            self.para(line.period.period_end.astimezone(UTC).date().isoformat()),
            [self.para(agreement), Paragraph(self.fonts.text(validator), self.small)],
            self.para(line.get_revenue_component_display()),
            self.para(line.get_attribution_method_display()),
            self.amount(line.base_amount_native),
            self.para(f"{rate}%", right=True),
            self.amount(line.final_amount_native),
        ]

    def story(self) -> list[Any]:
        content, statement = self.content, self.content.statement
        partner = statement.partner
        unit = f"{content.symbol} / {content.chain.native_unit}"
        story: list[Any] = [self.para("Commission statement", 16, bold=True), Spacer(1, 3 * mm)]

        details: list[tuple[str, str]] = [("Partner", partner.partner_name)]
        if partner.legal_entity_name:
            details.append(("Legal entity", partner.legal_entity_name))
        details += [
            ("Chain", f"{content.chain.name} ({content.chain.pk})"),
            ("Month", statement.month),
            ("Status", statement.get_status_display()),
        ]
        if statement.released_at:
            details.append(("Released", _utc(statement.released_at)[:10]))
        if statement.paid_at:
            details.append(("Paid", _utc(statement.paid_at)[:10]))
        details.append(("Statement", str(statement.pk)))
        info = Table(
            [[self.para(label, 8, bold=True), self.para(value, 8)] for label, value in details],
            colWidths=[28 * mm, FRAME_WIDTH - 28 * mm],
            hAlign="LEFT",
        )
        info.setStyle(
            TableStyle(
                [
                    ("TOPPADDING", (0, 0), (-1, -1), 0.5),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 0.5),
                    ("LEFTPADDING", (0, 0), (0, -1), 0),
                ]
            )
        )
        story += [info, Spacer(1, 4 * mm), self.para("Lines", 10, bold=True), Spacer(1, 1.5 * mm)]

        header = [
            "Period",
            "Period end",
            "Agreement",
            "Component",
            "Method",
            f"Base {unit}",
            "Rate",
            f"Amount {unit}",
        ]
        widths = _fit(13, 17, 50, 19, 19, 26, 12, 26)
        if content.lines:
            story.append(self.table(header, [self.line_cells(line) for line in content.lines], widths))
        else:
            story.append(self.para("No lines this month."))

        if content.adjustments:
            story += [Spacer(1, 4 * mm), self.para("Adjustments", 10, bold=True)]
            story.append(
                self.para(
                    "Differences found after an earlier statement was approved; "
                    "each row names the month it corrects."
                )
            )
            story.append(Spacer(1, 1.5 * mm))
            rows = [
                [
                    self.para(line.adjusts_statement.month if line.adjusts_statement else ""),
                    *self.line_cells(line),
                ]
                for line in content.adjustments
            ]
            adj_widths = _fit(15, 12, 17, 40, 18, 18, 25, 12, 25)
            story.append(self.table(["Corrects", *header], rows, adj_widths))

        totals = [
            [
                self.para("Lines"),
                self.para(_thousands(_tokens(content.lines_total, self.decimals)), digits=True),
                self.para(_thousands(content.lines_total), digits=True),
            ],
            [
                self.para("Adjustments"),
                self.para(_thousands(_tokens(content.adjustments_total, self.decimals)), digits=True),
                self.para(_thousands(content.adjustments_total), digits=True),
            ],
            [
                self.para("Total", bold=True),
                self.para(_thousands(_tokens(content.total, self.decimals)), bold=True, digits=True),
                self.para(_thousands(content.total), bold=True, digits=True),
            ],
        ]
        head = [
            self.para("Totals", bold=True),
            self.para(content.symbol, bold=True, right=True),
            self.para(content.chain.native_unit, bold=True, right=True),
        ]
        table = Table([head, *totals], colWidths=[30 * mm, 40 * mm, 50 * mm], hAlign="RIGHT")
        table.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, 0), HEAD_BG),
                    ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE),
                    ("LINEABOVE", (0, -1), (-1, -1), 0.75, colors.black),
                    ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
                ]
            )
        )
        story += [Spacer(1, 5 * mm), KeepTogether([table])]
        return story

    def footer(self, pages: int | None) -> Callable[[Any, Any], None]:
        def draw(canvas: Any, doc: Any) -> None:
            page = canvas.getPageNumber()
            text = f"Aurora · generated {self.generated} · page {page} of {pages if pages else '?'}"
            canvas.saveState()
            canvas.setFont(self.fonts.regular, 7)
            canvas.setFillColor(GREY)
            canvas.drawCentredString(PAGE_WIDTH / 2, MARGIN / 2, text)
            canvas.restoreState()

        return draw

    def build(self, pages: int | None) -> tuple[bytes, int]:
        statement = self.content.statement
        out = io.BytesIO()
        doc = SimpleDocTemplate(
            out,
            pagesize=A4,
            leftMargin=MARGIN,
            rightMargin=MARGIN,
            topMargin=MARGIN,
            bottomMargin=MARGIN,
            title=f"Commission statement {statement.month}",
            author="Aurora",
            subject=f"{statement.partner.partner_name}, {self.content.chain.pk}, {statement.month}",
            creator="Aurora",
        )
        footer = self.footer(pages)
        doc.build(self.story(), onFirstPage=footer, onLaterPages=footer)
        count: int = doc.page
        return out.getvalue(), count


def statement_pdf(statement: Statement) -> bytes:
    """The statement as an A4 PDF: who, which chain and month, the lines, the adjustments (when
    there are any) and the totals in whole tokens and base units; "page X of Y" on every page."""
    pdf = _Pdf(
        content=_content(statement),
        fonts=_fonts(FONT_PATH, BOLD_FONT_PATH),
        generated=timezone.now().astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    # The first pass counts the pages; the footer does not change the layout.
    _, pages = pdf.build(None)
    data, _ = pdf.build(pages)
    return data
