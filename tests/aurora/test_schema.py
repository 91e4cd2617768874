"""The database itself refuses rows that break the schema's integrity rules.

Django does not validate on `save()`, so every write below reaches PostgreSQL, and each
assertion proves a constraint exists in the database, not only in a form.
"""

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone

from accounts.models import Role
from aurora.common.fields import NativeAmountField
from canonical.models import CanonicalStakeReward, CanonicalValidatorFees
from chains.models import Period, Provider
from ingestion.models import IngestionRun
from tests import factories as f

pytestmark = pytest.mark.django_db

WEI_30_DIGITS = Decimal("123456789012345678901234567890.123456789012345678")


@contextmanager
def refused(error: type[Exception] = IntegrityError) -> Iterator[None]:
    """The write inside must fail in the database; deferred constraints are checked at once."""
    with pytest.raises(error), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        yield


def same_key(row: Any) -> dict[str, Any]:
    """Keyword arguments for another row on the same (chain, period, validator)."""
    return {"chain": row.chain, "period": row.period, "validator_key": row.validator_key}


def same_request(payload: Any) -> dict[str, Any]:
    """Keyword arguments for the same staged request of the same run."""
    fields = ("run", "provider", "data_type", "request_key")
    return {**same_key(payload), **{name: getattr(payload, name) for name in fields}}


NEGATIVE_AMOUNTS: list[tuple[str, Callable[[], Any]]] = [
    ("fees", lambda: f.CanonicalValidatorFeesFactory(total_fees_native=Decimal(-1))),
    ("mev", lambda: f.CanonicalValidatorMevFactory(total_mev_native=Decimal("-0.000000000000000001"))),
    ("stake rewards", lambda: f.CanonicalStakeRewardFactory(rewards_native=Decimal(-5))),
    ("stake commission", lambda: f.CanonicalStakeRewardFactory(commission_native=Decimal(-5))),
    ("meta stake", lambda: f.CanonicalValidatorMetaFactory(total_stake_native=Decimal(-1))),
    ("pnl", lambda: f.ValidatorPnlFactory(exec_fees_native=Decimal(-1), total_revenue_native=Decimal(-1))),
    ("rule floor", lambda: f.AgreementRuleFactory(floor_amount_native=Decimal(-1))),
    ("line base", lambda: f.CommissionLineFactory(base_amount_native=Decimal(-1))),
]


@pytest.mark.parametrize("make", [make for _, make in NEGATIVE_AMOUNTS], ids=[n for n, _ in NEGATIVE_AMOUNTS])
def test_negative_amounts_are_refused(make: Callable[[], Any]) -> None:
    with refused():
        make()


@pytest.mark.parametrize(
    "make",
    [
        lambda: f.AgreementRuleFactory(commission_rate_bps=10_001),
        lambda: f.AgreementRuleFactory(commission_rate_bps=-1),
        lambda: f.CommissionLineFactory(commission_rate_bps=10_001),
        lambda: f.CanonicalValidatorMetaFactory(commission_rate_bps=10_001),
        lambda: f.CanonicalValidatorMetaFactory(mev_commission_bps=10_001),
    ],
    ids=["rule", "rule-negative", "line", "meta", "meta-mev"],
)
def test_rates_above_10000_bps_are_refused(make: Callable[[], Any]) -> None:
    with refused():
        make()


def test_rates_at_the_bounds_are_accepted() -> None:
    assert f.AgreementRuleFactory(commission_rate_bps=10_000).commission_rate_bps == 10_000
    assert f.AgreementRuleFactory(commission_rate_bps=0).commission_rate_bps == 0


@pytest.mark.parametrize("length", [timedelta(0), timedelta(hours=-1)], ids=["empty", "inverted"])
def test_inverted_or_empty_periods_are_refused(length: timedelta) -> None:
    start = timezone.now()
    with refused():
        f.PeriodFactory(period_start=start, period_end=start + length)


def test_inverted_effective_dates_are_refused() -> None:
    start = timezone.now()
    with refused():
        f.AgreementFactory(effective_from=start, effective_until=start - timedelta(days=1))
    with refused():
        f.AgreementVersionFactory(effective_from=start, effective_until=start)
    with refused():
        f.PartnerClientFactory(effective_from=start, effective_until=start - timedelta(seconds=1))


def test_a_second_current_canonical_row_for_the_same_key_is_refused() -> None:
    first = f.CanonicalValidatorFeesFactory(total_fees_native=Decimal(100))

    with refused():
        f.CanonicalValidatorFeesFactory(
            **same_key(first),
            source_payload=first.source_payload,
            source_provider=first.source_provider,
        )


def test_a_superseded_row_makes_room_for_the_new_current_one() -> None:
    first = f.CanonicalValidatorFeesFactory(total_fees_native=Decimal(100))
    # Superseded in one step, pointing at the row about to be written (the FK is checked at commit).
    first.superseded_at = timezone.now()
    first.superseded_by_id = uuid.uuid4()
    first.save(update_fields=["superseded_at", "superseded_by"])

    second = f.CanonicalValidatorFeesFactory(
        **same_key(first),
        id=first.superseded_by_id,
        source_payload=first.source_payload,
        source_provider=first.source_provider,
        total_fees_native=Decimal(120),
    )

    current = CanonicalValidatorFees.objects.filter(
        validator_key=first.validator_key, superseded_at__isnull=True
    )
    assert list(current) == [second]
    assert CanonicalValidatorFees.objects.filter(validator_key=first.validator_key).count() == 2


def test_superseded_by_without_a_time_is_refused() -> None:
    first = f.CanonicalValidatorFeesFactory()
    first.superseded_at = timezone.now()
    first.save(update_fields=["superseded_at"])
    second = f.CanonicalValidatorFeesFactory(
        chain=first.chain, period=first.period, validator_key=first.validator_key
    )
    first.superseded_at = None
    first.superseded_by = second
    with refused():
        first.save(update_fields=["superseded_at", "superseded_by"])


def test_validator_level_stake_rewards_are_unique_although_staker_is_null() -> None:
    aggregate = f.CanonicalStakeRewardFactory(staker_address=None)
    stake_account = f.CanonicalStakeRewardFactory(
        **same_key(aggregate),
        staker_address="StakeAcct1111",
    )

    with refused():
        f.CanonicalStakeRewardFactory(
            **same_key(aggregate),
            staker_address=None,
        )
    assert CanonicalStakeReward.objects.filter(validator_key=stake_account.validator_key).count() == 2


def test_the_same_response_to_the_same_request_is_stored_once_whichever_run_fetched_it() -> None:
    payload = f.StagingPayloadFactory(request_key="getInflationReward#1")
    later_run = f.IngestionRunFactory(chain=payload.chain, period=payload.period)

    with refused():
        f.StagingPayloadFactory(**{**same_request(payload), "run": later_run})
    other_page = f.StagingPayloadFactory(
        **{**same_request(payload), "request_key": "getInflationReward#2"},
    )
    corrected = f.StagingPayloadFactory(
        **{
            **same_request(payload),
            "run": later_run,
            "raw_payload": {"jsonrpc": "2.0", "id": 1, "result": []},
        },
    )
    assert len({payload.pk, other_page.pk, corrected.pk}) == 3


def test_a_response_hash_that_is_not_sha256_hex_is_refused() -> None:
    with refused():
        f.StagingPayloadFactory(response_hash="not-a-hash")


def test_a_wei_amount_with_30_integer_digits_and_18_decimals_round_trips_exactly() -> None:
    fees = f.CanonicalValidatorFeesFactory(total_fees_native=WEI_30_DIGITS)

    reloaded = CanonicalValidatorFees.objects.get(pk=fees.pk).total_fees_native
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT total_fees_native::text FROM canonical_validator_fees WHERE fee_id = %s", [fees.pk]
        )
        (as_text,) = cursor.fetchone()

    assert reloaded == WEI_30_DIGITS
    assert str(reloaded) == str(WEI_30_DIGITS)
    assert as_text == "123456789012345678901234567890.123456789012345678"


def test_an_amount_beyond_30_integer_digits_is_refused() -> None:
    with refused(DataError), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE canonical_validator_fees SET total_fees_native = %s WHERE fee_id = %s",
            [Decimal("1" + "0" * 30), f.CanonicalValidatorFeesFactory().pk],
        )


def test_every_amount_column_is_numeric_48_18() -> None:
    amount_columns = [
        (model._meta.db_table, field.column)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, NativeAmountField)
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, data_type, numeric_precision, numeric_scale "
            "FROM information_schema.columns WHERE table_name = ANY(%s)",
            [sorted({table for table, _ in amount_columns})],
        )
        types = {
            (table, column): tuple(rest)
            for table, column, *rest in cursor.fetchall()
            if (table, column) in amount_columns
        }

    assert len(amount_columns) >= 19  # every *_native amount of the schema
    assert set(types) == set(amount_columns)
    assert set(types.values()) == {("numeric", 48, 18)}


def test_deleting_a_provider_referenced_by_canonical_data_is_refused() -> None:
    fees = f.CanonicalValidatorFeesFactory()
    provider = fees.source_provider

    with pytest.raises(RestrictedError):
        provider.delete()
    with refused(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM providers WHERE provider_id = %s", [provider.pk])
    assert Provider.objects.filter(pk=provider.pk).exists()


def test_deleting_a_staging_payload_behind_canonical_data_is_refused() -> None:
    fees = f.CanonicalValidatorFeesFactory()

    with pytest.raises(RestrictedError):
        fees.source_payload.delete()


def test_a_partner_with_commission_lines_cannot_be_deleted() -> None:
    line = f.CommissionLineFactory()

    with pytest.raises(ProtectedError):
        line.partner.delete()


def test_deleting_a_period_keeps_its_ingestion_runs_without_the_period() -> None:
    run = f.IngestionRunFactory()
    period = run.period
    assert period is not None

    Period.objects.filter(pk=period.pk).delete()

    run.refresh_from_db()
    assert run.period_id is None
    assert IngestionRun.objects.filter(pk=run.pk).exists()


def test_a_user_with_audit_entries_cannot_be_deleted_only_deactivated() -> None:
    entry = f.AuditLogFactory()
    with pytest.raises(ProtectedError), transaction.atomic():
        entry.user.delete()

    entry.refresh_from_db()
    assert entry.user_id is not None


def test_values_outside_an_enumeration_are_refused_by_the_database() -> None:
    run = f.IngestionRunFactory()
    with refused(), connection.cursor() as cursor:
        cursor.execute("UPDATE ingestion_runs SET status = 'BOGUS' WHERE run_id = %s", [run.pk])
    with refused():
        f.AgreementRuleFactory(revenue_component="TIPS")


def test_payable_amounts_must_be_whole_base_units() -> None:
    with refused():
        f.CommissionLineFactory(
            pre_override_amount_native=Decimal("10.5"), final_amount_native=Decimal("10.5")
        )
    with refused():
        f.StatementFactory(total_commission_native=Decimal("0.1"))
    line = f.CommissionLineFactory(base_amount_native=Decimal("1000.123456789"))
    assert line.base_amount_native == Decimal("1000.123456789")


def override_line(*, final: int, reason: str = "correction") -> Any:
    """A line computed at 10 base units and overridden to 7, with `final` as stored."""
    return f.CommissionLineFactory(
        pre_override_amount_native=Decimal(10),
        override_amount_native=Decimal(7),
        final_amount_native=Decimal(final),
        override_reason=reason,
        override_timestamp=timezone.now(),
    )


def test_final_amount_is_the_override_or_the_computed_amount() -> None:
    with refused():
        f.CommissionLineFactory(pre_override_amount_native=Decimal(10), final_amount_native=Decimal(11))
    with refused():
        override_line(final=10)
    assert override_line(final=7).final_amount_native == 7


def test_an_override_without_a_reason_is_refused() -> None:
    with refused():
        override_line(final=7, reason="")


def test_validator_pnl_total_must_be_the_sum_of_its_components() -> None:
    with refused():
        f.ValidatorPnlFactory(
            exec_fees_native=Decimal(1),
            mev_tips_native=Decimal(2),
            vote_rewards_native=Decimal(3),
            commission_native=Decimal(4),
            total_revenue_native=Decimal(11),
        )


def test_a_rule_floor_above_its_cap_is_refused() -> None:
    with refused():
        f.AgreementRuleFactory(floor_amount_native=Decimal(10), cap_amount_native=Decimal(9))


def test_a_rule_must_belong_to_an_existing_agreement_version() -> None:
    version = f.AgreementVersionFactory()
    with refused():
        f.AgreementRuleFactory(agreement=version.agreement, version_number=version.version_number + 1)


def test_statement_approvals_need_two_people_other_than_the_preparer() -> None:
    preparer, approver = f.UserFactory(), f.UserFactory()
    with refused():
        f.StatementFactory(first_approved_by=approver, approved_by=approver)
    with refused():
        f.StatementFactory(prepared_by=preparer, first_approved_by=preparer)
    statement = f.StatementFactory(
        prepared_by=preparer, first_approved_by=approver, approved_by=f.UserFactory()
    )
    assert statement.approved_by_id not in {preparer.pk, approver.pk}


def test_a_statement_month_must_be_yyyy_mm_and_unique_per_partner_and_chain() -> None:
    with refused():
        f.StatementFactory(month="2026-13")
    statement = f.StatementFactory(month="2026-10")
    with refused():
        f.StatementFactory(partner=statement.partner, chain=statement.chain, month="2026-10")


def test_two_partners_cannot_claim_the_same_address_over_overlapping_dates() -> None:
    start = timezone.now()
    claim = f.PartnerClientFactory(effective_from=start, effective_until=start + timedelta(days=30))

    with refused():
        f.PartnerClientFactory(
            chain=claim.chain,
            address=claim.address,
            effective_from=start + timedelta(days=29),
            effective_until=None,
        )
    later = f.PartnerClientFactory(
        chain=claim.chain,
        address=claim.address,
        effective_from=start + timedelta(days=30),
        effective_until=None,
    )
    assert later.partner_id != claim.partner_id


def test_only_partner_users_carry_a_partner() -> None:
    with refused():
        f.UserFactory(role=Role.FINANCE, partner=f.PartnerFactory())
    assert f.PartnerUserFactory().partner is not None


def test_staging_payloads_have_a_gin_index_on_the_raw_payload_and_compress_it_with_lz4() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'staging_payloads'")
        definitions = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT attcompression FROM pg_attribute "
            "WHERE attrelid = 'staging_payloads'::regclass AND attname = 'raw_payload'"
        )
        compression = cursor.fetchone()[0]

    assert any("USING gin (raw_payload jsonb_path_ops)" in d for d in definitions), definitions
    assert compression == "l"  # lz4; this PostgreSQL build has it


def test_only_adjustment_lines_and_statement_totals_may_be_negative() -> None:
    frozen = f.StatementFactory(total_commission_native=Decimal(100))
    clawback = f.CommissionLineFactory(
        adjusts_statement=frozen,
        base_amount_native=Decimal(-7),
        pre_override_amount_native=Decimal(-7),
        statement=f.StatementFactory(
            partner=frozen.partner, chain=frozen.chain, total_commission_native=Decimal(-7)
        ),
    )

    assert clawback.final_amount_native == Decimal(-7)
    assert clawback.statement.total_commission_native == Decimal(-7)
