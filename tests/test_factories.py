"""Every factory makes rows the database accepts, twice in a row, in the model's own table.

Deferred constraints (the rule -> agreement version composite key, mapping priorities) are
checked at once with SET CONSTRAINTS ALL IMMEDIATE: the test transaction is rolled back, so
they would otherwise never be checked.
"""

from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.db import connection
from django.db.models import Model
from factory.django import DjangoModelFactory

from accounts.models import Role, User
from aurora.common.hashing import sha256_hex
from chains.models import Chain
from tests import factories as f

pytestmark = pytest.mark.django_db

OUR_APPS = {"chains", "partners", "accounts", "ingestion", "canonical", "commissions", "operations"}
FACTORIES: list[type[DjangoModelFactory[Any]]] = [getattr(f, name) for name in f.__all__]


def check_deferred_constraints() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def stored_count(model: type[Model], objects: list[Model]) -> int:
    """How many of `objects` are in the model's table, read with SQL (not through the ORM)."""
    table = connection.ops.quote_name(model._meta.db_table)
    pk_column = connection.ops.quote_name(model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {table} WHERE {pk_column} = ANY(%s)",  # noqa: S608 (identifiers)
            [[obj.pk for obj in objects]],
        )
        (count,) = cursor.fetchone()
    return int(count)


def test_every_factory_is_exported() -> None:
    models = {factory._meta.model for factory in FACTORIES}
    ours = {
        m
        for m in apps.get_models()
        if m._meta.app_label in OUR_APPS
        and not m.__name__.startswith("Historical")  # written by simple-history
    }
    assert models == ours
    assert len(FACTORIES) == len(models) + 1  # UserFactory and PartnerUserFactory both make users


@pytest.mark.parametrize("factory", FACTORIES, ids=lambda factory: factory.__name__)
def test_the_factory_creates_valid_rows(factory: type[DjangoModelFactory[Any]]) -> None:
    model = factory._meta.model

    objects = factory.create_batch(2)
    check_deferred_constraints()

    assert all(isinstance(obj, model) for obj in objects)
    if model is Chain:
        # get_or_create on the id: the default chain is one row, fetched the second time.
        assert objects[0].pk == objects[1].pk == "solana-mainnet"
    else:
        assert objects[0].pk != objects[1].pk
    assert stored_count(model, objects) == len({obj.pk for obj in objects})


def test_partner_users_have_the_partner_role_and_a_partner() -> None:
    user = f.PartnerUserFactory()
    assert (user.role, user.partner is not None, user.is_staff) == (Role.PARTNER, True, False)
    assert f.UserFactory().role == Role.FINANCE
    assert user.check_password("correct-horse-battery")
    assert User.objects.filter(partner=user.partner).count() == 1


def test_a_staging_payload_hash_is_the_sha256_of_the_stored_payload() -> None:
    payload = f.StagingPayloadFactory()
    payload.refresh_from_db()

    assert payload.response_hash == sha256_hex(payload.raw_payload)
    assert (payload.chain, payload.period) == (payload.run.chain, payload.run.period)


@pytest.mark.parametrize(
    "factory",
    [
        f.CanonicalValidatorFeesFactory,
        f.CanonicalValidatorMevFactory,
        f.CanonicalStakeRewardFactory,
        f.CanonicalValidatorMetaFactory,
    ],
    ids=lambda factory: factory.__name__,
)
def test_canonical_rows_trace_to_a_payload_of_the_same_chain_period_and_validator(
    factory: type[DjangoModelFactory[Any]],
) -> None:
    row = factory(chain=f.ChainFactory(ethereum=True))
    payload = row.source_payload

    assert row.superseded_at is None
    assert (payload.chain, payload.period, payload.validator_key) == (
        row.chain,
        row.period,
        row.validator_key,
    )
    assert (payload.run.chain, payload.run.period) == (row.chain, row.period)
    assert payload.provider == row.source_provider
    assert row.period.chain == row.chain


def test_rules_attach_to_an_existing_version_of_their_agreement() -> None:
    version = f.AgreementVersionFactory()
    later = f.AgreementVersionFactory(agreement=version.agreement)

    on_latest = f.AgreementRuleFactory.create_batch(2, agreement=version.agreement)
    on_first = f.AgreementRuleFactory(version=version)
    check_deferred_constraints()

    assert later.version_number == version.version_number + 1
    assert {rule.version_number for rule in on_latest} == {later.version_number}
    assert (on_first.agreement, on_first.version_number) == (version.agreement, version.version_number)


def test_an_overridden_line_pays_the_override_and_says_why() -> None:
    line = f.CommissionLineFactory(override_amount_native=Decimal(7))
    line.refresh_from_db()

    assert line.final_amount_native == 7
    assert line.override_reason
    assert line.override_timestamp is not None
    assert (line.partner, line.agreement_version) == (line.agreement.partner, line.rule.version_number)
