"""The commission engine end to end: P&L, agreements, recompute, overrides, statements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import AuditLog, Role
from commissions.models import (
    AgreementRule,
    AgreementStatus,
    AgreementVersion,
    ClientStakeSnapshot,
    CommissionLine,
    ComputationStatus,
    Statement,
    StatementStatus,
    ValidatorPnl,
)
from commissions.selectors import (
    AgreementBook,
    agreements_in_force,
    client_accounts,
    period_pnl,
    statement_month,
)
from commissions.services.agreements import (
    AgreementError,
    RuleSpec,
    agreement_create,
    agreement_set_status,
    agreement_update_terms,
)
from commissions.services.recompute import compute_period, lines_fingerprint, recompute_range
from commissions.services.statements import (
    StatementError,
    line_override,
    line_override_reviewed,
    statement_approve,
    statement_csv,
    statement_mark_paid,
    statement_reject,
    statement_release,
    statement_submit,
)
from tests import factories as f
from tests.commission_world import OPERATOR, SOL, START, World, active_agreement, client, finance, make_world

pytestmark = pytest.mark.django_db

ABC = "ABC" + "1" * 41
XYZ = "XYZStake" + "1" * 36
SEPT_10, SEPT_20, SEPT_30 = (datetime(2025, 9, d, tzinfo=UTC) for d in (10, 20, 30))


def recompute(world: World) -> list[Any]:
    ids = [int(p.period_identifier) for p in world.periods]
    return recompute_range(chain_id=world.chain.pk, first=min(ids), last=max(ids))


def seed_world() -> World:
    """Seed 000's end-to-end example: validator ABC with 1.5 SOL fees, 0.8 SOL MEV, 0.1 SOL
    commission, and the operator's own stake earning 2.0 SOL after commission; client XYZ's stake
    account earned 0.5 SOL."""
    world = make_world()
    period = world.period(850, SEPT_10)
    world.figures(
        period,
        ABC,
        fees=Decimal("1.5") * SOL,
        mev=Decimal("0.8") * SOL,
        commission=Decimal("0.1") * SOL,
        stake=3_000_000 * SOL,
        accounts=(
            (
                "OperatorStake" + "1" * 31,
                OPERATOR,
                2_000_000 * SOL,
                Decimal("2.1") * SOL,
                Decimal("0.1") * SOL,
            ),
            (XYZ, "XYZAuthority" + "1" * 32, 1_000_000 * SOL, Decimal("0.5") * SOL, Decimal("0.025") * SOL),
        ),
    )
    return world


def lines_of(partner: Any) -> list[CommissionLine]:
    return list(CommissionLine.objects.filter(partner=partner).order_by("period__period_end", "rule_order"))


# ---- the seed example ---------------------------------------------------------------------------


def test_the_seed_example_end_to_end_from_canonical_rows() -> None:
    world = seed_world()
    partner_a, partner_b = (
        f.PartnerFactory(partner_name="Partner-123"),
        f.PartnerFactory(partner_name="Partner-456"),
    )
    client(partner_a, world.chain, XYZ, kind="STAKE_ACCOUNT")
    active_agreement(partner_a, RuleSpec(1, "VOTE_REWARDS", "CLIENT_REVENUE", 1_000, chain_id=world.chain.pk))
    active_agreement(partner_b, RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500, chain_id=world.chain.pk))

    (run,) = recompute(world)

    assert run.status == ComputationStatus.SUCCESS
    pnl = ValidatorPnl.objects.get(validator_key=ABC)
    assert (pnl.exec_fees_native, pnl.mev_tips_native) == (Decimal("1.5") * SOL, Decimal("0.8") * SOL)
    assert (pnl.vote_rewards_native, pnl.commission_native) == (2 * SOL, Decimal("0.1") * SOL)
    assert pnl.total_revenue_native == Decimal("4.4") * SOL
    (line_a,) = lines_of(partner_a)
    (line_b,) = lines_of(partner_b)
    assert (line_a.base_amount_native, line_a.final_amount_native) == (
        Decimal("0.5") * SOL,
        Decimal("0.05") * SOL,
    )
    assert (line_b.base_amount_native, line_b.final_amount_native) == (
        Decimal("0.8") * SOL,
        Decimal("0.04") * SOL,
    )
    assert line_a.breakdown["validators"][0]["stake_accounts"] == 1
    snapshot = ClientStakeSnapshot.objects.get(partner=partner_a, period=line_a.period)
    assert snapshot.accounts == {
        ABC: [[XYZ, "XYZAuthority" + "1" * 32, XYZ, "1000000000000000", "500000000", "25000000"]]
    }
    assert snapshot.introduced_stake_native == 1_000_000 * SOL
    statement = Statement.objects.get(partner=partner_a)
    assert (statement.month, statement.status, statement.total_commission_native) == (
        "2025-09",
        "DRAFT",
        Decimal("0.05") * SOL,
    )


def test_recompute_with_nothing_changed_writes_nothing_and_gives_the_same_fingerprint() -> None:
    world = seed_world()
    partner = f.PartnerFactory()
    active_agreement(partner, RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500, chain_id=world.chain.pk))
    (first,) = recompute(world)
    line = CommissionLine.objects.get()
    stamp = (line.updated_at, Statement.objects.get().updated_at)

    (second,) = recompute(world)

    assert (second.lines_inserted, second.lines_updated, second.pnl_written) == (0, 0, 0)
    assert second.inputs_unchanged and second.input_fingerprint == first.input_fingerprint
    assert second.fingerprint == first.fingerprint and len(first.fingerprint) == 64
    line.refresh_from_db()
    assert (line.updated_at, Statement.objects.get().updated_at) == stamp


def test_any_change_of_inputs_is_recomputed_and_nothing_else_is() -> None:
    world = seed_world()
    partner = f.PartnerFactory()
    active_agreement(partner, RuleSpec(1, "VOTE_REWARDS", "CLIENT_REVENUE", 1_000, chain_id=world.chain.pk))
    (first,) = recompute(world)
    assert CommissionLine.objects.get().final_amount_native == 0  # no clients yet

    client(partner, world.chain, XYZ, kind="STAKE_ACCOUNT")  # a client is added
    (second,) = recompute(world)

    assert not second.inputs_unchanged and second.lines_updated == 1
    assert CommissionLine.objects.get().final_amount_native == Decimal("0.05") * SOL
    assert second.input_fingerprint != first.input_fingerprint
    (third,) = recompute(world)
    assert third.inputs_unchanged


def test_the_fingerprint_does_not_depend_on_the_order_of_evaluation() -> None:
    world = seed_world()
    for rate in (100, 200, 300):
        active_agreement(
            f.PartnerFactory(), RuleSpec(1, "EXEC_FEES", "FIXED_SHARE", rate, chain_id=world.chain.pk)
        )
    period = world.periods[0]
    pnl = period_pnl(period, [ABC])
    agreements = agreements_in_force(period)
    clients = client_accounts(period, [a.partner_id for a in agreements])

    forward = compute_period(pnl, agreements, clients)
    backward = compute_period(
        list(reversed(pnl)), list(reversed(agreements)), dict(reversed(list(clients.items())))
    )

    assert lines_fingerprint(period, forward) == lines_fingerprint(period, backward)
    assert [line.as_json() for line in forward] == [line.as_json() for line in backward]


# ---- agreements over time -----------------------------------------------------------------------


def two_periods() -> World:
    world = make_world()
    for identifier, end in ((850, SEPT_10), (851, SEPT_30)):
        world.figures(
            world.period(identifier, end),
            ABC,
            mev=Decimal(1_000_000),
            fees=Decimal(2_000_000),
            stake=100 * SOL,
            accounts=((XYZ, "XYZAuthority" + "1" * 32, 40 * SOL, Decimal(500_000), Decimal(25_000)),),
        )
    return world


def test_a_version_switch_mid_month_applies_each_version_to_its_periods() -> None:
    world = two_periods()
    partner = f.PartnerFactory()
    agreement = active_agreement(
        partner, RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500, chain_id=world.chain.pk)
    )
    agreement_update_terms(
        agreement_id=agreement.pk,
        rules=[RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 1_000, chain_id=world.chain.pk)],
        effective_from=SEPT_20,
        change_reason="renegotiated",
        actor=None,
    )

    recompute(world)

    before, after = lines_of(partner)
    assert (before.agreement_version, before.final_amount_native) == (1, 50_000)
    assert (after.agreement_version, after.final_amount_native) == (2, 100_000)
    assert Statement.objects.get(partner=partner).total_commission_native == 150_000


def test_a_client_joining_mid_month_counts_from_the_periods_that_end_after() -> None:
    world = two_periods()
    partner = f.PartnerFactory()
    client(partner, world.chain, "XYZAuthority" + "1" * 32, since=SEPT_20)
    active_agreement(partner, RuleSpec(1, "EXEC_FEES", "STAKE_WEIGHT", 10_000, chain_id=world.chain.pk))

    recompute(world)

    first, second = lines_of(partner)
    assert first.final_amount_native == 0  # not yet a client
    assert second.final_amount_native == 800_000  # 2,000,000 x 40 / 100


def test_a_suspended_agreement_pays_nothing_for_periods_ending_while_suspended() -> None:
    world = two_periods()
    partner = f.PartnerFactory()
    agreement = active_agreement(
        partner, RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500, chain_id=world.chain.pk)
    )
    agreement_set_status(
        agreement_id=agreement.pk,
        status=AgreementStatus.SUSPENDED,
        actor=None,
        reason="dispute",
        effective_at=SEPT_20,
    )

    recompute(world)

    assert [line.period.period_identifier for line in lines_of(partner)] == ["850"]


def test_agreements_read_for_a_range_are_read_again_once_an_agreement_changes() -> None:
    world = two_periods()
    partner = f.PartnerFactory()
    agreement = active_agreement(
        partner, RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500, chain_id=world.chain.pk)
    )
    first, second = world.periods
    book = AgreementBook.load(world.chain.pk)
    assert [a.agreement_id for a in book.in_force(second)] == [agreement.pk]
    assert agreements_in_force(second, book) == agreements_in_force(second)  # the same as a fresh read

    agreement_set_status(
        agreement_id=agreement.pk,
        status=AgreementStatus.SUSPENDED,
        actor=None,
        reason="dispute",
        effective_at=SEPT_20,
    )

    assert not book.current()
    assert book.in_force(second) != []  # the stale book alone still has it ...
    assert agreements_in_force(second, book) == []  # ... but it is not used once out of date
    assert [a.agreement_id for a in agreements_in_force(first, book)] == [agreement.pk]


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ([], AgreementStatus.SUSPENDED),  # DRAFT cannot be suspended
        ([AgreementStatus.ACTIVE, AgreementStatus.TERMINATED], AgreementStatus.ACTIVE),  # terminated is final
        ([AgreementStatus.ACTIVE], AgreementStatus.DRAFT),
    ],
)
def test_status_transitions_outside_the_lifecycle_are_refused(path: list[str], refused: str) -> None:
    agreement = agreement_create(
        partner=f.PartnerFactory(),
        name="x",
        effective_from=START,
        actor=None,
        rules=[RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500)],
    )
    for status in path:
        agreement_set_status(agreement_id=agreement.pk, status=status, actor=None, reason="step")
    before = agreement.status_events.count()
    with pytest.raises(AgreementError, match="cannot go from"):
        agreement_set_status(agreement_id=agreement.pk, status=refused, actor=None, reason="no")
    assert agreement.status_events.count() == before


def test_suspended_agreements_can_be_reactivated_and_every_change_is_audited() -> None:
    agreement = active_agreement(f.PartnerFactory(), RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500))
    agreement_set_status(
        agreement_id=agreement.pk, status=AgreementStatus.SUSPENDED, actor=None, reason="pause"
    )
    agreement = agreement_set_status(
        agreement_id=agreement.pk, status=AgreementStatus.ACTIVE, actor=None, reason="resume"
    )
    assert agreement.status == AgreementStatus.ACTIVE
    actions = list(AuditLog.objects.filter(resource_id=str(agreement.pk)).values_list("action", flat=True))
    assert sorted(actions) == sorted(["CREATE_AGREEMENT"] + ["CHANGE_AGREEMENT_STATUS"] * 3)


def test_changing_an_active_agreement_creates_a_version_and_never_touches_a_used_one() -> None:
    world = two_periods()
    agreement = active_agreement(
        f.PartnerFactory(), RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500, chain_id=world.chain.pk)
    )
    recompute(world)
    v1 = AgreementVersion.objects.get(agreement=agreement, version_number=1)
    snapshot = v1.terms_snapshot

    agreement_update_terms(
        agreement_id=agreement.pk,
        rules=[RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 700, chain_id=world.chain.pk)],
        effective_from=SEPT_30 + timedelta(days=1),
        change_reason="raise",
        actor=None,
    )

    v1.refresh_from_db()
    assert v1.terms_snapshot == snapshot and v1.effective_until == SEPT_30 + timedelta(days=1)
    assert AgreementRule.objects.get(agreement=agreement, version_number=1).commission_rate_bps == 500
    assert AgreementRule.objects.get(agreement=agreement, version_number=2).commission_rate_bps == 700


def test_a_draft_is_edited_in_place() -> None:
    agreement = agreement_create(
        partner=f.PartnerFactory(),
        name="draft",
        effective_from=START,
        actor=None,
        rules=[RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500)],
    )
    agreement_update_terms(
        agreement_id=agreement.pk,
        rules=[RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 600)],
        effective_from=START,
        change_reason="typo",
        actor=None,
    )
    assert AgreementVersion.objects.filter(agreement=agreement).count() == 1
    assert AgreementRule.objects.get(agreement=agreement).commission_rate_bps == 600


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (
            [
                RuleSpec(
                    1,
                    "MEV_TIPS",
                    "FIXED_SHARE",
                    500,
                    floor_amount_native=Decimal(10),
                    cap_amount_native=Decimal(5),
                )
            ],
            "floor .* is above the cap",
        ),
        (
            [
                RuleSpec(
                    1,
                    "MEV_TIPS",
                    "FIXED_SHARE",
                    500,
                    tier_config={
                        "basis": "base_amount",
                        "mode": "whole",
                        "tiers": [{"from": "5", "rate_bps": 1}, {"from": "1", "rate_bps": 2}],
                    },
                )
            ],
            "must ascend",
        ),
        ([RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500, chain_id="dogecoin")], "unknown chain 'dogecoin'"),
        ([RuleSpec(1, "TIPS", "FIXED_SHARE", 500)], "unknown revenue component 'TIPS'"),
        ([RuleSpec(1, "MEV_TIPS", "LUCK", 500)], "unknown attribution method"),
        ([RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 10_001)], "from 0 to 10000"),
        (
            [RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 1), RuleSpec(1, "EXEC_FEES", "FIXED_SHARE", 1)],
            "two rules have this order",
        ),
        ([], "at least one rule"),
    ],
)
def test_invalid_terms_are_refused_with_a_clear_message_and_nothing_is_written(
    rules: list[RuleSpec], message: str
) -> None:
    f.ChainFactory()
    partner = f.PartnerFactory()
    with pytest.raises(AgreementError, match=message):
        agreement_create(partner=partner, name="bad", effective_from=START, rules=rules, actor=None)
    assert not partner.agreements.exists() and not AuditLog.objects.exists()


def test_overlapping_versions_are_refused() -> None:
    agreement = active_agreement(
        f.PartnerFactory(), RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500), since=SEPT_10
    )
    with pytest.raises(AgreementError, match="overlap version 1"):
        agreement_update_terms(
            agreement_id=agreement.pk,
            rules=[RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 600)],
            effective_from=SEPT_10,
            change_reason="x",
            actor=None,
        )
    assert AgreementVersion.objects.filter(agreement=agreement).count() == 1


# ---- overrides and statements -------------------------------------------------------------------


def statement_with_a_line() -> tuple[World, Any, CommissionLine]:
    world = two_periods()
    partner = f.PartnerFactory()
    active_agreement(partner, RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500, chain_id=world.chain.pk))
    recompute(world)
    return world, partner, lines_of(partner)[0]


def test_an_override_survives_recompute_and_counts_in_the_statement() -> None:
    world, partner, line = statement_with_a_line()
    line_override(line_id=line.pk, amount=Decimal(12_345), reason="goodwill", actor=finance())
    client(f.PartnerFactory(), world.chain, "Unrelated" + "1" * 35)  # an input changes: a real recompute

    (run, _) = recompute(world)

    line.refresh_from_db()
    assert (line.final_amount_native, line.override_reason, line.override_needs_review) == (
        12_345,
        "goodwill",
        False,
    )
    assert not run.inputs_unchanged and run.lines_unchanged == 1 and run.overrides_flagged == 0
    assert Statement.objects.get(partner=partner).total_commission_native == 12_345 + 50_000
    assert AuditLog.objects.get(resource_id=str(line.pk)).action == "CREATE_OVERRIDE"


@pytest.fixture
def superseded_mev() -> Any:
    """Replace a period's MEV row the way normalization does: supersede, then write the new one."""
    from django.utils import timezone

    from canonical.models import CanonicalValidatorMev

    def supersede(world: World, period: Any, amount: Decimal) -> None:
        old = CanonicalValidatorMev.objects.get(period=period, superseded_at__isnull=True)
        new = CanonicalValidatorMev(
            chain=world.chain,
            period=period,
            validator_key=old.validator_key,
            total_mev_native=amount,
            source_payload=old.source_payload,
            source_provider=old.source_provider,
        )
        old.superseded_at, old.superseded_by_id = timezone.now(), new.id
        old.save(update_fields=["superseded_at", "superseded_by"])
        new.save()

    return supersede


def test_an_overridden_line_whose_computed_amount_changes_is_flagged_for_review(superseded_mev: Any) -> None:
    world, _, line = statement_with_a_line()
    boss = finance()
    line_override(line_id=line.pk, amount=Decimal(12_345), reason="goodwill", actor=boss)
    superseded_mev(world, world.periods[0], Decimal(3_000_000))

    (run, _) = recompute(world)

    line.refresh_from_db()
    assert (line.pre_override_amount_native, line.final_amount_native) == (150_000, 12_345)
    assert line.override_needs_review and run.overrides_flagged == 1
    with pytest.raises(StatementError, match="review them first"):
        statement_submit(statement_id=line.statement_id, actor=boss)
    line_override_reviewed(line_id=line.pk, actor=boss, reason="still right")
    assert (
        statement_submit(statement_id=line.statement_id, actor=boss).status
        == StatementStatus.PENDING_APPROVAL
    )


@pytest.mark.parametrize(
    ("amount", "reason", "message"),
    [
        (Decimal("1.5"), "x", "whole base units"),
        (Decimal(-1), "x", "cannot be negative"),
        (Decimal(5), "  ", "needs a reason"),
    ],
)
def test_bad_overrides_are_refused_and_change_nothing(amount: Decimal, reason: str, message: str) -> None:
    _, _, line = statement_with_a_line()
    with pytest.raises(StatementError, match=message):
        line_override(line_id=line.pk, amount=amount, reason=reason, actor=finance())
    line.refresh_from_db()
    assert (
        line.override_amount_native is None and not AuditLog.objects.filter(resource_id=str(line.pk)).exists()
    )


def approve_fully(statement: Statement) -> Statement:
    preparer, first, second = finance("preparer"), finance("approver1"), finance("approver2")
    statement_submit(statement_id=statement.pk, actor=preparer)
    with pytest.raises(StatementError, match="preparer cannot approve"):
        statement_approve(statement_id=statement.pk, actor=preparer)
    statement_approve(statement_id=statement.pk, actor=first)
    with pytest.raises(StatementError, match="second, different approver"):
        statement_approve(statement_id=statement.pk, actor=first)
    return statement_approve(statement_id=statement.pk, actor=second)


def test_the_statement_workflow_with_dual_control() -> None:
    _, partner, line = statement_with_a_line()
    statement = Statement.objects.get(partner=partner)

    approved = approve_fully(statement)

    assert approved.status == StatementStatus.APPROVED and approved.first_approved_by != approved.approved_by
    ops = f.UserFactory(username="ops", role=Role.OPS)
    with pytest.raises(StatementError, match="only Finance or Admin"):
        statement_release(statement_id=statement.pk, actor=ops)
    statement_release(statement_id=statement.pk, actor=finance("releaser"))
    paid = statement_mark_paid(statement_id=statement.pk, actor=finance("payer"), reference="wire 42")
    assert paid.status == StatementStatus.PAID and paid.metadata["payment_reference"] == "wire 42"
    actions = list(
        AuditLog.objects.filter(resource_id=str(statement.pk))
        .order_by("timestamp")
        .values_list("action", flat=True)
    )
    assert actions == [
        "SUBMIT_STATEMENT",
        "APPROVE_STATEMENT",
        "APPROVE_STATEMENT",
        "RELEASE_STATEMENT",
        "PAY_STATEMENT",
    ]
    with pytest.raises(StatementError, match="frozen"):
        line_override(line_id=line.pk, amount=Decimal(1), reason="late", actor=finance("late"))


def test_a_rejected_statement_goes_back_to_draft_with_approvals_cleared() -> None:
    _, partner, _ = statement_with_a_line()
    statement = Statement.objects.get(partner=partner)
    statement_submit(statement_id=statement.pk, actor=finance("preparer"))
    statement_approve(statement_id=statement.pk, actor=finance("approver1"))
    rejected = statement_reject(statement_id=statement.pk, actor=finance("approver2"), reason="wrong month")
    assert (rejected.status, rejected.first_approved_by) == (StatementStatus.DRAFT, None)


def test_the_database_refuses_a_preparer_approving() -> None:
    boss = finance()
    with pytest.raises(IntegrityError), transaction.atomic():
        f.StatementFactory(prepared_by=boss, approved_by=boss)


def test_a_frozen_statement_never_changes_and_the_difference_lands_in_the_next_open_statement(
    superseded_mev: Any,
) -> None:
    world, partner, line = statement_with_a_line()
    september = approve_fully(Statement.objects.get(partner=partner))
    frozen_total = september.total_commission_native
    superseded_mev(world, world.periods[0], Decimal(3_000_000))  # MEV of epoch 850 was 1,000,000

    recompute(world)

    september.refresh_from_db()
    line.refresh_from_db()
    assert september.total_commission_native == frozen_total and line.final_amount_native == 50_000
    adjustment = CommissionLine.objects.get(adjusts_statement=september)
    assert adjustment.final_amount_native == 100_000  # 5 % of 3,000,000 less the 50,000 paid
    assert adjustment.statement.month == "2025-10" and adjustment.statement.status == StatementStatus.DRAFT
    assert adjustment.statement.total_commission_native == 100_000
    (again, _) = recompute(world)
    assert (
        again.adjustments_written == 0
        and CommissionLine.objects.filter(adjusts_statement=september).count() == 1
    )

    superseded_mev(world, world.periods[0], Decimal(1_000_000))  # back to what was paid
    recompute(world)
    assert not CommissionLine.objects.filter(adjusts_statement=september).exists()


def test_a_clawback_is_a_negative_adjustment(superseded_mev: Any) -> None:
    world, partner, _ = statement_with_a_line()
    september = approve_fully(Statement.objects.get(partner=partner))
    superseded_mev(world, world.periods[0], Decimal(400_000))

    recompute(world)

    adjustment = CommissionLine.objects.get(adjusts_statement=september)
    assert adjustment.final_amount_native == 20_000 - 50_000


def test_a_statement_waiting_for_approval_goes_back_to_draft_when_its_lines_change(
    superseded_mev: Any,
) -> None:
    world, partner, _ = statement_with_a_line()
    statement = Statement.objects.get(partner=partner)
    statement_submit(statement_id=statement.pk, actor=finance("preparer"))
    statement_approve(statement_id=statement.pk, actor=finance("approver1"))
    superseded_mev(world, world.periods[0], Decimal(2_000_000))

    recompute(world)

    statement.refresh_from_db()
    assert (statement.status, statement.first_approved_by_id) == (StatementStatus.DRAFT, None)
    assert statement.total_commission_native == 100_000 + 50_000


def test_the_statement_csv_has_a_row_per_line_and_the_totals() -> None:
    _, partner, _ = statement_with_a_line()
    statement = Statement.objects.get(partner=partner)

    rows = [row.split(",") for row in statement_csv(statement).strip().splitlines()]

    header = rows[1]
    lines = rows[2:4]
    assert header[:3] == ["line_id", "period", "period_end"]
    assert [row[header.index("period")] for row in lines] == ["850", "851"]
    assert [row[header.index("final_amount_native")] for row in lines] == ["50000", "50000"]
    assert rows[-2] == ["total_base_units", "100000"] and rows[-1] == ["total_SOL", "0.0001"]


def test_statement_months_follow_the_period_end() -> None:
    world = make_world()
    assert (
        statement_month(world.period(1, datetime(2025, 10, 1, tzinfo=UTC))) == "2025-09"
    )  # ended at midnight
    assert statement_month(world.period(2, datetime(2025, 10, 1, 0, 0, 1, tzinfo=UTC))) == "2025-10"


# ---- recompute command and properties -----------------------------------------------------------


def test_the_recompute_command(capsys: pytest.CaptureFixture[str]) -> None:
    world = seed_world()
    active_agreement(f.PartnerFactory(), RuleSpec(1, "MEV_TIPS", "FIXED_SHARE", 500, chain_id=world.chain.pk))
    call_command("recompute", "--chain", world.chain.pk, "--from-period", "850", "--to-period", "850")
    assert "period 850: SUCCESS" in capsys.readouterr().out and CommissionLine.objects.count() == 1
    with pytest.raises(CommandError, match="no final period"):
        call_command("recompute", "--chain", world.chain.pk, "--from-period", "900", "--to-period", "901")
    with pytest.raises(CommandError, match="unknown chain"):
        call_command("recompute", "--chain", "nope", "--from-period", "1", "--to-period", "2")


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    mev=st.integers(min_value=0, max_value=10**15),
    fees=st.integers(min_value=0, max_value=10**15),
    rates=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=3),
)
def test_recompute_is_idempotent_whatever_the_figures(mev: int, fees: int, rates: list[int]) -> None:
    with transaction.atomic():
        world = make_world()
        world.figures(
            world.period(850, SEPT_10),
            ABC,
            mev=Decimal(mev),
            fees=Decimal(fees),
            stake=100 * SOL,
            accounts=((XYZ, "XYZAuthority" + "1" * 32, 10 * SOL, Decimal(1_000), Decimal(50)),),
        )
        partner = f.PartnerFactory()
        client(partner, world.chain, XYZ, kind="STAKE_ACCOUNT")
        active_agreement(
            partner,
            *[
                RuleSpec(
                    i + 1,
                    ("MEV_TIPS", "EXEC_FEES", "COMMISSION")[i],
                    ("FIXED_SHARE", "STAKE_WEIGHT", "CLIENT_REVENUE")[i],
                    rate,
                    chain_id=world.chain.pk,
                )
                for i, rate in enumerate(rates)
            ],
        )
        (first,) = recompute(world)
        (second,) = recompute(world)
        assert first.lines_inserted == len(rates)
        assert (
            second.lines_inserted,
            second.lines_updated,
            second.lines_removed,
            second.adjustments_written,
        ) == (0, 0, 0, 0)
        assert second.fingerprint == first.fingerprint
        transaction.set_rollback(True)


def test_the_shipped_recordings_give_lines_and_statements_for_the_demo_partners(registry: None) -> None:
    from canonical.services import normalize_range
    from demo.services import demo_agreements_ensure, demo_statements_release
    from demo.users import demo_users_ensure
    from tests.solana_demo import CHAIN, replay

    replay()
    normalize_range(chain_id=CHAIN, first=850, last=853)
    agreements = demo_agreements_ensure()

    runs = recompute_range(chain_id=CHAIN, first=850, last=853)

    assert [run.status for run in runs] == [ComputationStatus.SUCCESS] * 4
    partners = {a.partner_id for a in agreements}
    assert len(partners) == 3
    statements = Statement.objects.filter(partner_id__in=partners)
    assert {(s.month, s.status) for s in statements} == {("2025-09", StatementStatus.DRAFT)}
    assert all(s.total_commission_native > 0 and s.line_count > 0 for s in statements)
    assert CommissionLine.objects.count() == 4 * sum(a.rules.count() for a in agreements)
    assert (
        ValidatorPnl.objects.filter(vote_rewards_native__gt=0).count() == 12
    )  # the operator's own stake earns
    again = recompute_range(chain_id=CHAIN, first=850, last=853)
    assert [r.fingerprint for r in again] == [r.fingerprint for r in runs]
    audited = set(AuditLog.objects.values_list("action", flat=True))
    assert {
        "INGESTION_RUN",
        "NORMALIZATION_RUN",
        "RECOMPUTE",
        "CREATE_AGREEMENT",
        "CHANGE_AGREEMENT_STATUS",
    } <= audited
    assert AuditLog.objects.filter(action="RECOMPUTE").count() == 8
    assert sum(r.lines_inserted + r.lines_updated for r in again) == 0

    demo_users_ensure(password="demo-password-123")
    for _ in range(2):  # the second run leaves released statements as they are
        released = demo_statements_release()
    assert {(s.partner.partner_name, s.status) for s in released} == {
        ("Demo Partner", StatementStatus.RELEASED),
        ("Northwind Staking", StatementStatus.PAID),
        ("Helios Capital", StatementStatus.RELEASED),
    }
    assert AuditLog.objects.filter(action="RELEASE_STATEMENT").count() == 3


def test_a_stake_account_claimed_directly_is_not_also_counted_through_its_withdraw_authority() -> None:
    world = make_world()
    authority = "SharedAuthority" + "1" * 29
    world.figures(
        world.period(850, SEPT_10),
        ABC,
        fees=Decimal(1_000_000),
        stake=100 * SOL,
        accounts=(
            ("StakeOne" + "1" * 36, authority, 10 * SOL, Decimal(0), Decimal(0)),
            ("StakeTwo" + "1" * 36, authority, 30 * SOL, Decimal(0), Decimal(0)),
        ),
    )
    direct, by_authority = f.PartnerFactory(partner_name="Direct"), f.PartnerFactory(partner_name="Authority")
    client(direct, world.chain, "StakeOne" + "1" * 36, kind="STAKE_ACCOUNT")
    client(by_authority, world.chain, authority)
    for partner in (direct, by_authority):
        active_agreement(partner, RuleSpec(1, "EXEC_FEES", "STAKE_WEIGHT", 10_000, chain_id=world.chain.pk))

    recompute(world)

    assert lines_of(direct)[0].final_amount_native == 100_000  # 10 of 100 SOL
    assert lines_of(by_authority)[0].final_amount_native == 300_000  # only the other account: 30 of 100


def test_without_dual_control_one_approver_other_than_the_preparer_is_enough(settings: Any) -> None:
    settings.AURORA_STATEMENT_DUAL_CONTROL = False
    _, partner, _ = statement_with_a_line()
    statement = Statement.objects.get(partner=partner)
    preparer = finance("preparer")
    statement_submit(statement_id=statement.pk, actor=preparer)
    with pytest.raises(StatementError, match="preparer cannot approve"):
        statement_approve(statement_id=statement.pk, actor=preparer)

    approved = statement_approve(statement_id=statement.pk, actor=finance("approver"))

    assert approved.status == StatementStatus.APPROVED and approved.first_approved_by is None
