"""The finance back office through its pages: an agreement from draft to paid statement, and what
each page refuses (bad input, wrong status, wrong role) without writing anything."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditLog, Role, User
from commissions.models import (
    Agreement,
    AgreementStatus,
    AgreementStatusEvent,
    AgreementVersion,
    CommissionLine,
    Statement,
    StatementStatus,
)
from commissions.services.agreements import RuleSpec, agreement_set_status
from commissions.services.recompute import recompute_range
from tests import factories as f
from tests.commission_world import SOL, World, active_agreement, make_world

pytestmark = pytest.mark.django_db

ABC = "ABC" + "1" * 41
XYZ = "XYZStake" + "1" * 36
SEPT_10, SEPT_30 = datetime(2025, 9, 10, tzinfo=UTC), datetime(2025, 9, 30, tzinfo=UTC)
MEV = Decimal(1_000_000)  # lamports per period: 500 bps of it is 50,000


def two_periods() -> World:
    world = make_world()
    for identifier, end in ((850, SEPT_10), (851, SEPT_30)):
        world.figures(
            world.period(identifier, end),
            ABC,
            mev=MEV,
            fees=Decimal(2_000_000),
            stake=100 * SOL,
            accounts=((XYZ, "XYZAuthority" + "1" * 32, 40 * SOL, Decimal(500_000), Decimal(25_000)),),
        )
    return world


def recompute(world: World) -> None:
    recompute_range(chain_id=world.chain.pk, first=850, last=851)


def login(username: str, role: str = Role.FINANCE) -> tuple[Client, User]:
    user = f.UserFactory(username=username, role=role, is_staff=True)
    client = Client()
    client.force_login(user)
    return client, user


def rules_data(*rules: dict[str, Any], initial: int = 0) -> dict[str, Any]:
    """The terms formset as the page posts it."""
    data: dict[str, Any] = {
        "rules-TOTAL_FORMS": str(len(rules)),
        "rules-INITIAL_FORMS": str(initial),
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
    }
    for index, rule in enumerate(rules):
        for key, value in rule.items():
            data[f"rules-{index}-{key}"] = value
    return data


def mev_rule(world: World, rate: int, order: int = 1) -> dict[str, Any]:
    return {
        "rule_order": order,
        "chain": world.chain.pk,
        "validator_key": "",
        "revenue_component": "MEV_TIPS",
        "attribution_method": "FIXED_SHARE",
        "commission_rate_bps": rate,
        "floor_amount_native": "",
        "cap_amount_native": "",
        "tier_config": "",
    }


# The page's extra row for a new rule, posted untouched: it is left out.
BLANK_ROW = dict.fromkeys(
    [
        "rule_order",
        "chain",
        "validator_key",
        "revenue_component",
        "attribution_method",
        "commission_rate_bps",
        "floor_amount_native",
        "cap_amount_native",
        "tier_config",
    ],
    "",
)


def agreement_url(agreement: Agreement, view: str, *args: Any) -> str:
    return reverse(f"admin:commissions_agreement_{view}", args=[agreement.pk, *args])


def opened_terms(client: Client, agreement: Agreement) -> str:
    """The token of the terms as the page shows them (posted back with a change)."""
    page = client.get(agreement_url(agreement, "terms"))
    assert page.status_code == 200
    return str(page.context["form"].initial["based_on"])


def statement_step(client: Client, statement: Statement, step: str, reason: str = "") -> Any:
    return client.post(
        reverse("admin:commissions_statement_step", args=[statement.pk, step]), {"reason": reason}
    )


def audit_actions(resource_id: Any) -> list[str]:
    return list(
        AuditLog.objects.filter(resource_id=str(resource_id))
        .order_by("timestamp", "id")
        .values_list("action", flat=True)
    )


# ---- the whole flow -----------------------------------------------------------------------------


def test_from_a_new_agreement_to_a_paid_statement_through_the_pages() -> None:
    world = two_periods()
    partner = f.PartnerFactory(partner_name="Northwind")
    f.PartnerClientFactory(partner=partner, chain=world.chain, address=XYZ, kind="STAKE_ACCOUNT")
    alice, _ = login("alice")
    bob, _ = login("bob")
    carol, _ = login("carol")

    # A draft with one rule: 500 bps of MEV.
    assert alice.get(reverse("admin:commissions_agreement_add")).status_code == 200
    created = alice.post(
        reverse("admin:commissions_agreement_add"),
        {
            "partner": partner.pk,
            "name": "Northwind MEV share",
            "effective_from": "2025-09-01 00:00",
            "reason": "signed 2025-08-28",
            **rules_data(mev_rule(world, 500), BLANK_ROW),
        },
    )
    agreement = Agreement.objects.get(agreement_name="Northwind MEV share")
    assert created.status_code == 302 and created["Location"] == agreement_url(agreement, "change")
    assert agreement.status == AgreementStatus.DRAFT
    assert list(agreement.rules.values_list("commission_rate_bps", "revenue_component")) == [
        (500, "MEV_TIPS")
    ]

    # What it would have paid: 50,000 lamports a period, nothing in force yet, nothing written.
    preview = alice.get(
        agreement_url(agreement, "preview"),
        {"preview-chain": world.chain.pk, "preview-from_period": 850, "preview-to_period": 851},
    ).content.decode()
    assert preview.count("50,000 lamport") >= 2 and "100,000 lamport" in preview
    assert not CommissionLine.objects.exists()

    # Activate it (a reason is required), then compute.
    refused = alice.post(agreement_url(agreement, "status", "activate"), {"reason": ""})
    assert (
        refused.status_code == 200 and Agreement.objects.get(pk=agreement.pk).status == AgreementStatus.DRAFT
    )
    activated = alice.post(agreement_url(agreement, "status", "activate"), {"reason": "countersigned"})
    assert activated.status_code == 302
    agreement.refresh_from_db()
    assert agreement.status == AgreementStatus.ACTIVE
    assert AgreementStatusEvent.objects.get(agreement=agreement).reason == "countersigned"
    recompute(world)
    statement = Statement.objects.get(partner=partner)
    assert statement.total_commission_native == 100_000

    # New terms from 20 September: previewed first (nothing written), then saved as version 2.
    new_terms = {
        "based_on": opened_terms(alice, agreement),
        **rules_data(mev_rule(world, 1_000), BLANK_ROW, initial=1),
        "effective_from": "2025-09-20 00:00",
        "change_reason": "volume tier reached",
    }
    previewed = alice.post(
        agreement_url(agreement, "terms"),
        {
            **new_terms,
            "_preview": "1",
            "preview-chain": world.chain.pk,
            "preview-from_period": 850,
            "preview-to_period": 851,
        },
    )
    assert previewed.status_code == 200
    assert "200,000 lamport" in previewed.content.decode()  # 1,000 bps over both periods
    assert AgreementVersion.objects.filter(agreement=agreement).count() == 1
    saved = alice.post(agreement_url(agreement, "terms"), new_terms)
    assert saved.status_code == 302
    agreement.refresh_from_db()
    assert agreement.current_version == 2
    compare = alice.get(agreement_url(agreement, "compare"), {"a": 1, "b": 2}).content.decode()
    assert "aurora-changed" in compare and "1000" in compare
    recompute(world)
    statement.refresh_from_db()
    assert statement.total_commission_native == 50_000 + 100_000  # September 10 at v1, 30 at v2

    # Override the first period's line.
    line = CommissionLine.objects.get(partner=partner, period__period_identifier="850")
    line_page = alice.get(reverse("admin:commissions_commissionline_change", args=[line.pk])).content.decode()
    assert reverse("admin:commissions_commissionline_override", args=[line.pk]) in line_page
    overridden = alice.post(
        reverse("admin:commissions_commissionline_override", args=[line.pk]),
        {"amount": "40000", "reason": "goodwill: late onboarding"},
    )
    assert overridden.status_code == 302
    line.refresh_from_db()
    assert (line.pre_override_amount_native, line.final_amount_native) == (50_000, 40_000)
    statement.refresh_from_db()
    assert statement.total_commission_native == 140_000

    # The workflow: Alice submits, cannot approve her own; Bob and Carol approve; release; paid.
    assert statement_step(alice, statement, "submit").status_code == 302
    own = statement_step(alice, statement, "approve")
    assert own.status_code == 200 and "preparer cannot approve" in own.content.decode()
    assert statement_step(bob, statement, "approve").status_code == 302
    again = statement_step(bob, statement, "approve")
    assert "second, different approver" in again.content.decode()
    assert statement_step(carol, statement, "approve").status_code == 302
    statement.refresh_from_db()
    assert statement.status == StatementStatus.APPROVED
    assert statement_step(bob, statement, "release").status_code == 302
    assert statement_step(carol, statement, "pay", "wire 2025-10-03 #42").status_code == 302
    statement.refresh_from_db()
    assert statement.status == StatementStatus.PAID
    assert statement.metadata["payment_reference"] == "wire 2025-10-03 #42"

    exported = alice.get(reverse("admin:commissions_statement_export", args=[statement.pk]))
    assert exported["Content-Type"].startswith("text/csv")
    assert "140000" in exported.content.decode()

    assert audit_actions(agreement.pk) == [
        "CREATE_AGREEMENT",
        "CHANGE_AGREEMENT_STATUS",
        "UPDATE_AGREEMENT",
    ]
    assert audit_actions(line.pk) == ["CREATE_OVERRIDE"]
    assert audit_actions(statement.pk) == [
        "SUBMIT_STATEMENT",
        "APPROVE_STATEMENT",
        "APPROVE_STATEMENT",
        "RELEASE_STATEMENT",
        "PAY_STATEMENT",
        "EXPORT_STATEMENT",
    ]

    # Frozen now: the line's page offers no override, and a posted one is refused.
    line_page = alice.get(reverse("admin:commissions_commissionline_change", args=[line.pk])).content.decode()
    assert reverse("admin:commissions_commissionline_override", args=[line.pk]) not in line_page
    late = alice.post(
        reverse("admin:commissions_commissionline_override", args=[line.pk]),
        {"amount": "1", "reason": "late"},
    )
    assert late.status_code == 200 and "frozen" in late.content.decode()
    line.refresh_from_db()
    assert line.final_amount_native == 40_000


# ---- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rules, message",
    [
        ((("1", 10_001),), "Ensure this value is less than or equal to 10000"),
        ((("1", 500), ("1", 700)), "two rules have this order"),
    ],
    ids=["rate-over-100%", "duplicate-order"],
)
def test_a_bad_new_agreement_is_shown_with_its_error_and_nothing_is_written(
    rules: tuple[tuple[str, int], ...], message: str
) -> None:
    world = make_world()
    partner = f.PartnerFactory()
    alice, _ = login("alice")
    audit_before = AuditLog.objects.count()

    response = alice.post(
        reverse("admin:commissions_agreement_add"),
        {
            "partner": partner.pk,
            "name": "Bad terms",
            "effective_from": "2025-09-01 00:00",
            **rules_data(*({**mev_rule(world, rate), "rule_order": order} for order, rate in rules)),
        },
    )

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Agreement.objects.exists()
    assert AuditLog.objects.count() == audit_before


def test_new_terms_starting_before_the_version_in_force_are_refused() -> None:
    world = make_world()
    agreement = active_agreement(
        f.PartnerFactory(), RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500, chain_id=world.chain.pk)
    )
    alice, _ = login("alice")

    response = alice.post(
        agreement_url(agreement, "terms"),
        {
            "based_on": opened_terms(alice, agreement),
            **rules_data(mev_rule(world, 900), initial=1),
            "effective_from": "2024-01-01 00:00",
            "change_reason": "backdated",
        },
    )

    assert response.status_code == 200
    assert "errornote" in response.content.decode()
    agreement.refresh_from_db()
    assert agreement.current_version == 1
    assert list(agreement.rules.values_list("commission_rate_bps", flat=True)) == [500]


def test_a_final_status_offers_no_transition_and_refuses_one() -> None:
    world = make_world()
    agreement = active_agreement(
        f.PartnerFactory(), RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500, chain_id=world.chain.pk)
    )
    agreement_set_status(
        agreement_id=agreement.pk, status=AgreementStatus.TERMINATED, actor=None, reason="ended"
    )
    alice, _ = login("alice")

    change_page = alice.get(agreement_url(agreement, "change")).content.decode()
    refused = alice.post(agreement_url(agreement, "status", "activate"), {"reason": "again"})

    assert agreement_url(agreement, "status", "activate") not in change_page
    assert refused.status_code == 200 and "it cannot become active" in refused.content.decode()
    agreement.refresh_from_db()
    assert agreement.status == AgreementStatus.TERMINATED
    assert alice.get(agreement_url(agreement, "status", "resurrect")).status_code == 404


def test_bulk_status_asks_for_a_reason_then_moves_those_that_may() -> None:
    world = make_world()
    rule = RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500, chain_id=world.chain.pk)
    active = active_agreement(f.PartnerFactory(), rule, name="Running")
    ended = active_agreement(f.PartnerFactory(), rule, name="Ended")
    agreement_set_status(agreement_id=ended.pk, status=AgreementStatus.TERMINATED, actor=None, reason="x")
    alice, _ = login("alice")
    changelist = reverse("admin:commissions_agreement_changelist")
    selection = {"action": "suspend", "_selected_action": [active.pk, ended.pk]}

    confirm = alice.post(changelist, {**selection, "index": 0})
    assert confirm.status_code == 200 and "Running" in confirm.content.decode()
    assert Agreement.objects.get(pk=active.pk).status == AgreementStatus.ACTIVE  # not yet

    without_reason = alice.post(changelist, {**selection, "apply": "1", "reason": ""})
    assert without_reason.status_code == 200
    assert Agreement.objects.get(pk=active.pk).status == AgreementStatus.ACTIVE

    done = alice.post(changelist, {**selection, "apply": "1", "reason": "payment dispute"}, follow=True)
    messages = [str(m) for m in done.context["messages"]]
    assert Agreement.objects.get(pk=active.pk).status == AgreementStatus.SUSPENDED
    assert Agreement.objects.get(pk=ended.pk).status == AgreementStatus.TERMINATED
    assert "1 agreement now suspended." in messages
    assert any(m.startswith("“Ended” was left as it is") for m in messages)


@pytest.mark.parametrize(
    "data, error",
    [
        ({"amount": "-5", "reason": "x"}, "greater than or equal to 0"),
        ({"amount": "12.5", "reason": "x"}, "no more than 0 decimal places"),
        ({"amount": "100", "reason": ""}, "This field is required"),
    ],
    ids=["negative", "fractional", "no-reason"],
)
def test_a_bad_override_is_refused_and_the_line_is_unchanged(data: dict[str, str], error: str) -> None:
    world = two_periods()
    partner = f.PartnerFactory()
    active_agreement(partner, RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500, chain_id=world.chain.pk))
    recompute(world)
    line = CommissionLine.objects.filter(partner=partner).first()
    assert line is not None
    alice, _ = login("alice")

    response = alice.post(reverse("admin:commissions_commissionline_override", args=[line.pk]), data)

    assert response.status_code == 200 and error in response.content.decode()
    line.refresh_from_db()
    assert line.override_amount_native is None and line.final_amount_native == 50_000
    assert not AuditLog.objects.filter(resource_id=str(line.pk)).exists()


def test_roles_without_the_capability_are_refused_and_nothing_changes() -> None:
    world = two_periods()
    partner = f.PartnerFactory()
    agreement = active_agreement(
        partner, RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500, chain_id=world.chain.pk)
    )
    recompute(world)
    statement = Statement.objects.get(partner=partner)
    line = CommissionLine.objects.filter(partner=partner).first()
    assert line is not None
    auditor, _ = login("audrey", Role.AUDITOR)
    ops, _ = login("oscar", Role.OPS)

    # The auditor reads everything and exports, but changes nothing and sees no buttons to.
    change_page = auditor.get(agreement_url(agreement, "change")).content.decode()
    assert agreement_url(agreement, "terms") not in change_page
    assert auditor.get(agreement_url(agreement, "terms")).status_code == 403
    assert auditor.post(agreement_url(agreement, "status", "suspend"), {"reason": "x"}).status_code == 403
    assert (
        auditor.post(
            reverse("admin:commissions_commissionline_override", args=[line.pk]),
            {"amount": "1", "reason": "x"},
        ).status_code
        == 403
    )
    assert statement_step(auditor, statement, "submit").status_code == 403
    assert auditor.get(reverse("admin:commissions_statement_export", args=[statement.pk])).status_code == 200
    # Operations do not see agreements or statements at all.
    assert ops.get(agreement_url(agreement, "change")).status_code == 403
    assert ops.get(reverse("admin:commissions_statement_export", args=[statement.pk])).status_code == 403

    agreement.refresh_from_db()
    statement.refresh_from_db()
    line.refresh_from_db()
    assert agreement.status == AgreementStatus.ACTIVE
    assert statement.status == StatementStatus.DRAFT
    assert line.override_amount_native is None


def test_a_step_that_does_not_apply_says_so_and_changes_nothing() -> None:
    world = two_periods()
    partner = f.PartnerFactory()
    active_agreement(partner, RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500, chain_id=world.chain.pk))
    recompute(world)
    statement = Statement.objects.get(partner=partner)
    alice, _ = login("alice")

    page = alice.get(reverse("admin:commissions_statement_step", args=[statement.pk, "release"]))
    posted = statement_step(alice, statement, "release")

    assert "does not apply" in page.content.decode()
    assert posted.status_code == 200
    statement.refresh_from_db()
    assert statement.status == StatementStatus.DRAFT
    assert (
        alice.get(reverse("admin:commissions_statement_step", args=[statement.pk, "delete"])).status_code
        == 404
    )


def test_model_history_is_shown_but_never_restored() -> None:
    world = make_world()
    agreement = active_agreement(
        f.PartnerFactory(), RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500, chain_id=world.chain.pk), name="Kept"
    )
    first = agreement.history.earliest()
    alice, _ = login("alice")
    version_url = reverse("admin:commissions_agreement_simple_history", args=[agreement.pk, first.history_id])

    shown = alice.get(version_url)
    restored = alice.post(version_url, {"agreement_name": "Rewritten", "status": "DRAFT"})

    assert shown.status_code == 200 and "Kept" in shown.content.decode()
    assert restored.status_code == 405
    agreement.refresh_from_db()
    assert (agreement.agreement_name, agreement.status) == ("Kept", AgreementStatus.ACTIVE)


# ---- scope, concurrency, bounds -----------------------------------------------------------------


def test_a_user_limited_to_other_chains_cannot_touch_terms_on_this_one() -> None:
    world = make_world()
    other = f.ChainFactory(id="ethereum-mainnet")
    partner = f.PartnerFactory()
    agreement = active_agreement(
        partner, RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500, chain_id=world.chain.pk)
    )
    limited = f.UserFactory(
        username="eth-only", role=Role.FINANCE, is_staff=True, allowed_chain_ids=[other.pk]
    )
    client = Client()
    client.force_login(limited)

    assert client.get(agreement_url(agreement, "terms")).status_code == 403
    assert client.get(agreement_url(agreement, "preview")).status_code == 403
    assert client.post(agreement_url(agreement, "status", "suspend"), {"reason": "x"}).status_code == 403
    change_page = client.get(agreement_url(agreement, "change"))
    assert change_page.status_code == 200 and "500" not in str(
        change_page.context["inline_admin_formsets"][0]
    )
    created = client.post(
        reverse("admin:commissions_agreement_add"),
        {
            "partner": partner.pk,
            "name": "Reach",
            "effective_from": "2025-09-01 00:00",
            **rules_data(mev_rule(world, 1)),
        },
    )
    assert created.status_code == 200 and "Select a valid choice" in created.content.decode()
    assert not Agreement.objects.filter(agreement_name="Reach").exists()
    agreement.refresh_from_db()
    assert agreement.status == AgreementStatus.ACTIVE


def test_a_user_limited_to_some_validators_sees_only_their_lines_and_cannot_export_the_rest() -> None:
    statement = f.StatementFactory()
    mine, theirs = "Mine" + "1" * 40, "Theirs" + "1" * 38
    for validator in (mine, theirs):
        f.CommissionLineFactory(
            statement=statement,
            chain=statement.chain,
            rule__agreement__partner=statement.partner,
            validator_key=validator,
        )
    limited = f.UserFactory(
        username="one-validator", role=Role.FINANCE, is_staff=True, allowed_validator_keys=[mine]
    )
    client = Client()
    client.force_login(limited)

    page = client.get(reverse("admin:commissions_statement_change", args=[statement.pk])).content.decode()
    export = client.get(reverse("admin:commissions_statement_export", args=[statement.pk]))

    assert mine in page and theirs not in page
    assert export.status_code == 403
    assert not AuditLog.objects.filter(action="EXPORT_STATEMENT").exists()


def test_terms_saved_over_someone_elses_change_are_refused() -> None:
    world = make_world()
    agreement = active_agreement(
        f.PartnerFactory(), RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500, chain_id=world.chain.pk)
    )
    alice, _ = login("alice")
    bob, _ = login("bob")
    alice_opened = opened_terms(alice, agreement)
    change = {"effective_from": "2025-09-20 00:00", "change_reason": "new rate"}
    bob_saved = bob.post(
        agreement_url(agreement, "terms"),
        {**change, "based_on": opened_terms(bob, agreement), **rules_data(mev_rule(world, 700), initial=1)},
    )
    assert bob_saved.status_code == 302

    stale = alice.post(
        agreement_url(agreement, "terms"),
        {**change, "based_on": alice_opened, **rules_data(mev_rule(world, 900), initial=1)},
    )

    assert stale.status_code == 200 and "the terms changed since you opened them" in stale.content.decode()
    agreement.refresh_from_db()
    assert agreement.current_version == 2
    assert list(agreement.rules.filter(version_number=2).values_list("commission_rate_bps", flat=True)) == [
        700
    ]


def test_a_rule_on_a_chain_deactivated_since_keeps_its_chain_on_the_terms_page() -> None:
    world = make_world()
    agreement = active_agreement(
        f.PartnerFactory(), RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500, chain_id=world.chain.pk)
    )
    world.chain.is_active = False
    world.chain.save()
    alice, _ = login("alice")

    page = alice.get(agreement_url(agreement, "terms"))

    chain_field = page.context["rules"].forms[0]["chain"]
    assert chain_field.value() == world.chain.pk
    assert f'<option value="{world.chain.pk}" selected>' in str(chain_field)


def test_an_override_too_large_for_the_columns_is_a_form_error_and_one_can_be_changed() -> None:
    world = two_periods()
    partner = f.PartnerFactory()
    active_agreement(partner, RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500, chain_id=world.chain.pk))
    recompute(world)
    line = CommissionLine.objects.filter(partner=partner).first()
    assert line is not None
    alice, _ = login("alice")
    url = reverse("admin:commissions_commissionline_override", args=[line.pk])

    too_large = alice.post(url, {"amount": "1" * 31, "reason": "typo"})
    assert too_large.status_code == 200 and "no more than 30 digits" in too_large.content.decode()
    assert alice.post(url, {"amount": "40000", "reason": "goodwill"}).status_code == 302
    shown = alice.get(url).context["form"]["amount"].value()
    resaved = alice.post(url, {"amount": str(shown), "reason": "goodwill, agreed by phone"})

    assert str(shown) == "40000" and resaved.status_code == 302
    line.refresh_from_db()
    assert (line.final_amount_native, line.override_reason) == (40_000, "goodwill, agreed by phone")


def test_the_statement_csv_never_hands_a_spreadsheet_a_formula() -> None:
    world = two_periods()
    partner = f.PartnerFactory(partner_name="=cmd|' /C calc'!A0")
    active_agreement(partner, RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500, chain_id=world.chain.pk))
    recompute(world)
    line = CommissionLine.objects.filter(partner=partner).first()
    assert line is not None
    alice, _ = login("alice")
    alice.post(
        reverse("admin:commissions_commissionline_override", args=[line.pk]),
        {"amount": "1", "reason": '=HYPERLINK("http://x.example","click")'},
    )
    statement = Statement.objects.get(partner=partner)

    rows = alice.get(reverse("admin:commissions_statement_export", args=[statement.pk])).content.decode()

    assert "'=cmd|" in rows and "'=HYPERLINK" in rows
    assert not any(cell.startswith(("=", "@", "+")) for row in rows.splitlines() for cell in row.split(","))


def test_auditors_are_offered_no_status_actions_and_history_pages_offer_no_inputs() -> None:
    world = make_world()
    agreement = active_agreement(
        f.PartnerFactory(), RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500, chain_id=world.chain.pk)
    )
    rule = agreement.rules.get()
    rule.save()  # a recorded version of the rule
    auditor, _ = login("audrey", Role.AUDITOR)
    finance_client, _ = login("alice")

    audit_list = auditor.get(reverse("admin:commissions_agreement_changelist"))
    finance_list = finance_client.get(reverse("admin:commissions_agreement_changelist"))
    rule_version = finance_client.get(
        reverse(
            "admin:commissions_agreementrule_simple_history", args=[rule.pk, rule.history.latest().history_id]
        )
    )

    assert audit_list.context["action_form"] is None or "suspend" not in str(
        audit_list.context["action_form"]
    )
    assert "suspend" in str(finance_list.context["action_form"])
    assert (
        rule_version.status_code == 200
        and "<select" not in rule_version.content.decode().split('id="content"')[1]
    )


def test_a_statement_history_page_does_not_query_per_version(django_assert_max_num_queries: Any) -> None:
    statement = f.StatementFactory()
    alice, _ = login("alice")
    url = reverse("admin:commissions_statement_history", args=[statement.pk])
    for _ in range(2):
        statement.save()
    alice.get(url)
    with CaptureQueriesContext(connection) as three_versions:
        assert alice.get(url).status_code == 200
    for _ in range(7):
        statement.save()

    with django_assert_max_num_queries(len(three_versions)):
        assert alice.get(url).status_code == 200
