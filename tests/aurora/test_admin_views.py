"""The back office's own pages: the home dashboard, the validator P&L report and the audit log
viewer — what each role sees, the numbers they show, and that their queries do not grow with rows."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditAction, AuditLog, Role, User
from canonical.models import ReconciliationReport
from commissions.models import StatementStatus
from ingestion.models import IngestionRun, IngestionStatus
from tests import factories as f

pytestmark = pytest.mark.django_db

REPORT_URL = "/admin/commissions/validatorpnl/report/"


def login(role: str, **extra: Any) -> tuple[Client, User]:
    user = f.UserFactory(username=f"u-{role.lower()}", role=role, is_staff=True, **extra)
    client = Client()
    client.force_login(user)
    return client, user


def page(client: Client, url: str, **params: Any) -> str:
    response = client.get(url, params)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# ---- the dashboard ------------------------------------------------------------------------------


def dashboard_world() -> dict[str, Any]:
    """A chain final up to 805, ingested up to 803 (lag 2), with a failed run; a statement
    awaiting approval; an override needing review; reconciliation errors, one of them since
    resolved by a newer clean report; an audit entry."""
    chain = f.ChainFactory()
    periods = {epoch: f.PeriodFactory(chain=chain, epoch=epoch) for epoch in range(800, 806)}
    unfinal = f.PeriodFactory(chain=chain, epoch=806, is_finalized=False, finalized_at=None)
    now = timezone.now()
    success = f.IngestionRunFactory(chain=chain, period=periods[803], status=IngestionStatus.SUCCESS)
    failure = f.IngestionRunFactory(chain=chain, period=periods[804], status=IngestionStatus.FAILED)
    f.IngestionRunFactory(chain=chain, period=unfinal, status=IngestionStatus.RUNNING)
    IngestionRun.objects.filter(pk=success.pk).update(
        started_at=now - timedelta(hours=5), completed_at=now - timedelta(hours=4)
    )
    IngestionRun.objects.filter(pk=failure.pk).update(
        started_at=now - timedelta(hours=2), completed_at=now - timedelta(hours=1)
    )
    statement = f.StatementFactory(
        partner=f.PartnerFactory(partner_name="Pending Partner"),
        chain=chain,
        month="2024-05",
        status=StatementStatus.PENDING_APPROVAL,
        total_commission_native=Decimal("40000000"),
    )
    f.StatementFactory(partner=f.PartnerFactory(partner_name="Draft Partner"), chain=chain)
    line = f.CommissionLineFactory(
        rule__agreement__partner=f.PartnerFactory(partner_name="Reviewed Partner"),
        chain=chain,
        period=periods[801],
        override_amount_native=Decimal("55000000"),
        override_needs_review=True,
    )
    f.CommissionLineFactory(
        rule__agreement__partner=f.PartnerFactory(partner_name="Quiet Partner"),
        chain=chain,
        period=periods[800],
    )
    open_report = f.ReconciliationReportFactory(
        run=f.NormalizationRunFactory(chain=chain, period=periods[802]),
        error_count=3,
        summary="3 errors: vote reward mismatch",
    )
    resolved = f.ReconciliationReportFactory(
        run=f.NormalizationRunFactory(chain=chain, period=periods[800]),
        error_count=2,
        summary="2 errors: since resolved",
    )
    ReconciliationReport.objects.filter(pk=resolved.pk).update(created_at=now - timedelta(days=1))
    f.ReconciliationReportFactory(
        run=f.NormalizationRunFactory(chain=chain, period=periods[800]), error_count=0, summary="clean"
    )
    entry = f.AuditLogFactory(
        action=AuditAction.UPDATE_AGREEMENT, resource_type="commissions.agreement", resource_id="agr-77"
    )
    return {"chain": chain, "statement": statement, "line": line, "report": open_report, "entry": entry}


SECTIONS = {
    "health": 'id="dashboard-health"',
    "ingestion": 'id="dashboard-ingestion"',
    "reconciliation": 'id="dashboard-reconciliation"',
    "statements": 'id="dashboard-statements"',
    "overrides": 'id="dashboard-overrides"',
    "activity": 'id="dashboard-activity"',
}
VISIBLE = {
    Role.FINANCE: set(SECTIONS),
    Role.AUDITOR: set(SECTIONS),
    Role.OPS: {"health", "ingestion", "reconciliation"},
}


@pytest.mark.parametrize("role", [Role.FINANCE, Role.OPS, Role.AUDITOR])
def test_the_dashboard_shows_each_role_the_sections_its_capabilities_allow(role: str) -> None:
    world = dashboard_world()
    extra = {"access_expires_at": timezone.now() + timedelta(days=7)} if role == Role.AUDITOR else {}
    client, _ = login(role, **extra)

    html = page(client, reverse("admin:index"))

    shown = {name for name, marker in SECTIONS.items() if marker in html}
    assert shown == VISIBLE[role]
    assert 'id="content-main"' in html  # the usual list of apps is still there
    # Ingestion: final up to 805, ingested up to 803, two final periods behind; a failure time.
    ingestion = html.split('id="dashboard-ingestion"')[1].split("</table>")[0]
    assert "<td>805</td>\n        <td>803</td>" in ingestion
    assert '<span class="status-bad">2</span>' in ingestion
    assert "never" not in ingestion and "none" not in ingestion
    reconciliation = html.split('id="dashboard-reconciliation"')[1].split("</div>")[0]
    assert "vote reward mismatch" in reconciliation
    assert "since resolved" not in reconciliation  # superseded by a newer clean report
    assert reverse("admin:canonical_reconciliationreport_change", args=[world["report"].pk]) in reconciliation
    if "statements" in VISIBLE[role]:
        assert "Pending Partner" in html and "Draft Partner" not in html
        assert "0.04 SOL" in html  # the statement total, in whole tokens
        assert "Reviewed Partner" in html and "Quiet Partner" not in html
        assert reverse("admin:commissions_commissionline_change", args=[world["line"].pk]) in html
        assert "agr-77" in html
    else:
        assert "Pending Partner" not in html and "Reviewed Partner" not in html and "agr-77" not in html


def test_a_user_narrowed_to_another_chain_sees_none_of_this_chain_s_rows() -> None:
    dashboard_world()
    f.ChainFactory(ethereum=True)
    client, _ = login(Role.FINANCE, allowed_chain_ids=["ethereum-mainnet"])

    html = page(client, reverse("admin:index"))

    assert "Ethereum Mainnet" in html
    assert "Solana Mainnet Beta" not in html
    assert "Pending Partner" not in html and "vote reward mismatch" not in html


def test_redis_down_shows_unavailable_not_an_error(settings: Any) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    client, _ = login(Role.OPS)

    html = page(client, reverse("admin:index"))

    health = html.split('id="dashboard-health"')[1].split("</table>")[0]
    assert "Redis" in health
    assert health.count('<span class="status-bad">unavailable</span>') == 1  # Redis only
    assert '<span class="status-ok">OK</span>' in health  # the database


def test_redis_answering_shows_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    import redis

    monkeypatch.setattr(redis.Redis, "ping", lambda self, **kw: True)
    client, _ = login(Role.OPS)

    health = page(client, reverse("admin:index")).split('id="dashboard-health"')[1].split("</table>")[0]

    assert "unavailable" not in health
    assert health.count('<span class="status-ok">OK</span>') == 2


def test_dashboard_queries_do_not_grow_with_rows(django_assert_max_num_queries: Any) -> None:
    chain = f.ChainFactory()
    client, _ = login(Role.FINANCE)

    def add_rows(count: int) -> None:
        for _ in range(count):
            period = f.PeriodFactory(chain=chain)
            f.IngestionRunFactory(chain=chain, period=period)
            f.StatementFactory(chain=chain, status=StatementStatus.PENDING_APPROVAL)
            f.CommissionLineFactory(chain=chain, period=period, override_needs_review=True)
            f.ReconciliationReportFactory(
                run=f.NormalizationRunFactory(chain=chain, period=period), error_count=1
            )
            f.AuditLogFactory()

    add_rows(3)
    client.get(reverse("admin:index"))
    with CaptureQueriesContext(connection) as three_rows:
        assert client.get(reverse("admin:index")).status_code == 200
    add_rows(12)  # past the ten shown, so the "more" counts are queried too
    with django_assert_max_num_queries(len(three_rows)):
        html = page(client, reverse("admin:index"))
    assert "and 5 more" in html


# ---- the validator P&L report -------------------------------------------------------------------


def pnl_world() -> dict[str, Any]:
    """Two validators over periods 850-852 on Solana, and one row on another chain."""
    chain = f.ChainFactory()
    periods = {epoch: f.PeriodFactory(chain=chain, epoch=epoch) for epoch in (850, 851, 852)}
    amounts = {
        ("850", "VoteA"): (100, 20, 300, 5),
        ("850", "VoteB"): (1_000_000_000, 0, 0, 0),
        ("851", "VoteA"): (200, 40, 600, 10),
        ("852", "VoteA"): (1_500_000_000, 800_000_000, 2_000_000_000, 100_000_000),
    }
    for (epoch, key), (fees, mev, votes, commission) in amounts.items():
        f.ValidatorPnlFactory(
            chain=chain,
            period=periods[int(epoch)],
            validator_key=key,
            exec_fees_native=Decimal(fees),
            mev_tips_native=Decimal(mev),
            vote_rewards_native=Decimal(votes),
            commission_native=Decimal(commission),
        )
    other = f.ChainFactory(ethereum=True)
    f.ValidatorPnlFactory(chain=other, period=f.PeriodFactory(chain=other, epoch=850), validator_key="0xEth")
    return {"chain": chain, "periods": periods, "other": other}


def row_cells(html: str) -> list[list[str]]:
    """The report table's body: period and validator of each row."""
    body = html.split('id="pnl-table"')[1].split("<tbody>")[1].split("</tbody>")[0]
    rows = []
    for row in body.split("<tr>")[1:]:
        cells = [cell.split(">", 1)[1].split("<", 1)[0] for cell in row.split("<td")[1:3]]
        rows.append(cells)
    return rows


def test_the_report_shows_rows_totals_and_a_chart_for_the_chosen_range() -> None:
    pnl_world()
    client, _ = login(Role.OPS)

    html = page(client, REPORT_URL, chain="solana-mainnet", period_from="851", period_to="852")

    assert row_cells(html) == [["851", "VoteA"], ["852", "VoteA"]]
    totals = html.split('id="pnl-totals"')[1].split("</tr>")[0]
    # EXEC_FEES 200 + 1,500,000,000; the total column 850 + 4,400,000,000 lamports.
    assert "1.5000002 SOL" in totals and "1,500,000,200 lamport" in totals
    assert "4.40000085 SOL" in totals and "4,400,000,850 lamport" in totals
    chart = html.split('class="pnl-chart"')[1].split("</svg>")[0]
    assert "<polyline" in chart and "<script" not in chart and chart.count("<circle") == 2
    assert "period 851: 0.00000085 SOL (850 lamport)" in chart
    assert "period 852: 4.4 SOL (4400000000 lamport)" in chart
    assert "0xEth" not in html  # another chain's rows never mix with these units


def test_the_report_filters_by_validator_and_defaults_to_every_period() -> None:
    pnl_world()
    client, _ = login(Role.FINANCE)

    everything = page(client, REPORT_URL, chain="solana-mainnet")
    one_validator = page(client, REPORT_URL, chain="solana-mainnet", validator="VoteB")

    assert row_cells(everything) == [["850", "VoteA"], ["850", "VoteB"], ["851", "VoteA"], ["852", "VoteA"]]
    assert row_cells(one_validator) == [["850", "VoteB"]]
    totals = one_validator.split('id="pnl-totals"')[1].split("</tr>")[0]
    assert totals.count("1 SOL") == 2  # fees and total; the other components are zero


def test_the_report_refuses_unknown_periods_and_reversed_ranges_without_an_error_page() -> None:
    pnl_world()
    client, _ = login(Role.OPS)

    unknown = page(client, REPORT_URL, chain="solana-mainnet", period_from="999")
    reversed_range = page(client, REPORT_URL, chain="solana-mainnet", period_from="852", period_to="850")
    csv = client.get(REPORT_URL, {"chain": "solana-mainnet", "period_from": "999", "format": "csv"})

    assert "solana-mainnet has no period &#x27;999&#x27;." in unknown and 'id="pnl-table"' not in unknown
    assert "The range ends before it starts." in reversed_range
    assert csv.status_code == 400


def test_the_csv_export_has_the_rows_in_base_units() -> None:
    world = pnl_world()
    client, _ = login(Role.AUDITOR, access_expires_at=timezone.now() + timedelta(days=7))

    response = client.get(
        REPORT_URL, {"chain": "solana-mainnet", "period_from": "850", "period_to": "851", "format": "csv"}
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="validator-pnl-solana-mainnet-850-851.csv"' in response["Content-Disposition"]
    start = {k: p.period_start.isoformat() for k, p in world["periods"].items()}
    end = {k: p.period_end.isoformat() for k, p in world["periods"].items()}
    assert response.content.decode() == (
        "chain,period,period_start,period_end,validator_key,EXEC_FEES,MEV_TIPS,VOTE_REWARDS,COMMISSION,"
        "PENALTIES,TOTAL\n"
        f"solana-mainnet,850,{start[850]},{end[850]},VoteA,100,20,300,5,0,425\n"
        f"solana-mainnet,850,{start[850]},{end[850]},VoteB,1000000000,0,0,0,0,1000000000\n"
        f"solana-mainnet,851,{start[851]},{end[851]},VoteA,200,40,600,10,0,850\n"
    )


def test_the_report_is_linked_from_the_validator_pnl_list() -> None:
    client, _ = login(Role.OPS)

    html = page(client, reverse("admin:commissions_validatorpnl_changelist"))

    assert f'href="{REPORT_URL}"' in html


def test_the_report_follows_the_access_policy() -> None:
    pnl_world()
    partner_staff, _ = login(Role.PARTNER)
    partner = f.PartnerUserFactory(username="portal-user")
    portal = Client()
    portal.force_login(partner)
    narrowed, _ = login(Role.OPS, allowed_chain_ids=["ethereum-mainnet"])

    assert partner_staff.get(REPORT_URL).status_code == 403
    assert portal.get(REPORT_URL).status_code == 302  # not staff: the admin's login page
    assert Client().get(REPORT_URL).status_code == 302
    html = page(narrowed, REPORT_URL)
    assert row_cells(html) == [["850", "0xEth"]]  # only the chain in the user's scope
    assert narrowed.get(REPORT_URL, {"chain": "solana-mainnet"}).status_code == 200
    assert 'id="pnl-table"' not in page(narrowed, REPORT_URL, chain="solana-mainnet")


def test_report_queries_do_not_grow_with_rows(django_assert_max_num_queries: Any) -> None:
    chain = f.ChainFactory()
    client, _ = login(Role.OPS)

    def add_rows(count: int) -> None:
        for _ in range(count):
            f.ValidatorPnlFactory(chain=chain)

    add_rows(3)
    client.get(REPORT_URL)
    with CaptureQueriesContext(connection) as three_rows:
        assert len(row_cells(page(client, REPORT_URL))) == 3
    add_rows(7)
    with django_assert_max_num_queries(len(three_rows)):
        assert len(row_cells(page(client, REPORT_URL))) == 10
    with django_assert_max_num_queries(len(three_rows)):
        response = client.get(REPORT_URL, {"format": "csv"})
    assert len(response.content.decode().splitlines()) == 11


# ---- the audit log viewer -----------------------------------------------------------------------


def test_the_audit_log_is_searchable_by_correlation_id_and_shows_the_change() -> None:
    correlation = uuid.uuid4()
    entry = f.AuditLogFactory(
        action=AuditAction.UPDATE_RULE,
        resource_type="commissions.agreementrule",
        resource_id="rule-1",
        before_snapshot={"commission_rate_bps": 500, "revenue_component": "MEV_TIPS", "note": "old"},
        after_snapshot={"commission_rate_bps": 750, "revenue_component": "MEV_TIPS", "cap": "1000"},
        reason="renegotiated",
        correlation_id=correlation,
    )
    f.AuditLogFactory(resource_id="rule-2")  # another correlation id
    client, _ = login(Role.AUDITOR, access_expires_at=timezone.now() + timedelta(days=7))
    changelist = reverse("admin:accounts_auditlog_changelist")

    found = page(client, changelist, q=str(correlation))
    by_user = page(client, changelist, q="u-auditor")
    detail = page(client, reverse("admin:accounts_auditlog_change", args=[entry.pk]))

    assert "rule-1" in found and "rule-2" not in found
    assert "1 result" in found
    assert "commissions.agreementrule:rule-1" in found and "renegotiated" in found
    assert "rule-1" not in by_user
    diff = detail.split('class="audit-diff"')[1].split("</table>")[0]
    changed = diff.split('<tr class="audit-changed">')[1].split("</tr>")[0]
    assert "commission_rate_bps" in changed and ">500<" in changed and ">750<" in changed
    assert 'class="audit-added"' in diff and ">1000<" in diff
    assert 'class="audit-removed"' in diff and ">old<" in diff
    assert "revenue_component" not in diff  # unchanged: folded beneath the table
    assert "1 unchanged key</summary>" in detail
    assert entry.change_hash in detail and entry.previous_hash in detail


def test_nobody_may_edit_or_delete_audit_entries() -> None:
    entry = f.AuditLogFactory()
    admin_user = f.UserFactory(username="root", role=Role.ADMIN, is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin_user)

    listing = page(client, reverse("admin:accounts_auditlog_changelist"))
    detail = page(client, reverse("admin:accounts_auditlog_change", args=[entry.pk]))
    delete = client.get(reverse("admin:accounts_auditlog_delete", args=[entry.pk]))
    post = client.post(reverse("admin:accounts_auditlog_change", args=[entry.pk]), {"reason": "x"})

    assert 'name="action"' not in listing  # no bulk actions, not even "delete selected"
    assert 'name="_save"' not in detail and "deletelink" not in detail
    assert delete.status_code == 403
    assert post.status_code == 403
    assert AuditLog.objects.get(pk=entry.pk).reason == entry.reason
