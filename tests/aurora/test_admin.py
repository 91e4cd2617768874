"""Every model is browsable in the admin; list pages and inline change pages do not grow queries with rows."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib import admin
from django.db import connection
from django.db.models import Model
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Role
from tests import factories as f
from tests.factories.by_model import CHAIN_IDS, FACTORIES

pytestmark = pytest.mark.django_db

OUR_APPS = {"chains", "partners", "accounts", "ingestion", "canonical", "commissions", "operations"}

REGISTERED = sorted(
    (model for model in admin.site._registry if model._meta.app_label in OUR_APPS),
    key=lambda m: m._meta.label_lower,
)


@pytest.fixture
def staff_client() -> Client:
    client = Client()
    client.force_login(f.UserFactory(username="root", role=Role.ADMIN, is_superuser=True, is_staff=True))
    return client


def test_every_model_of_the_apps_is_registered() -> None:
    assert {model._meta.label_lower for model in REGISTERED} == set(FACTORIES)


def url(model: type[Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m._meta.label_lower)
def test_list_change_and_add_pages_render(staff_client: Client, model: type[Model]) -> None:
    make = FACTORIES[model._meta.label_lower]
    objects = [make() for _ in range(3)]

    listing = staff_client.get(url(model, "changelist"))
    detail = staff_client.get(url(model, "change", objects[0].pk))

    assert listing.status_code == 200
    assert detail.status_code == 200
    assert str(objects[0].pk) in listing.content.decode()
    if admin.site._registry[model].has_add_permission(listing.wsgi_request):
        assert staff_client.get(url(model, "add")).status_code == 200


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m._meta.label_lower)
def test_list_page_queries_do_not_grow_with_rows(
    staff_client: Client, model: type[Model], django_assert_max_num_queries: Any
) -> None:
    make = FACTORIES[model._meta.label_lower]
    for _ in range(3):
        make()
    staff_client.get(url(model, "changelist"))  # warm the session and content types
    with CaptureQueriesContext(connection) as three_rows:
        assert staff_client.get(url(model, "changelist")).status_code == 200

    for _ in range(7):
        make()
    with django_assert_max_num_queries(len(three_rows)):
        assert staff_client.get(url(model, "changelist")).status_code == 200


INLINE_PAGES: list[tuple[str, Callable[[], Model], Callable[[Any], Any]]] = [
    (
        "chain",
        lambda: f.ChainFactory(id=f"chain-{next(CHAIN_IDS)}"),
        lambda chain: f.ChainProviderMappingFactory(chain=chain),
    ),
    ("partner", f.PartnerFactory, lambda partner: f.PartnerClientFactory(partner=partner)),
    (
        "reconciliation report",
        f.ReconciliationReportFactory,
        lambda report: f.ReconciliationFindingFactory(report=report),
    ),
    (
        "agreement",
        f.AgreementFactory,
        lambda agreement: f.AgreementVersionFactory(agreement=agreement, created_by=f.UserFactory()),
    ),
    (
        "statement",
        f.StatementFactory,
        lambda statement: f.CommissionLineFactory(
            statement=statement,
            chain=statement.chain,
            rule__agreement__partner=statement.partner,
            adjusts_statement=f.StatementFactory(partner=statement.partner, chain=statement.chain),
        ),
    ),
]


@pytest.mark.parametrize(
    "make_parent, make_child", [p[1:] for p in INLINE_PAGES], ids=[p[0] for p in INLINE_PAGES]
)
def test_change_page_queries_do_not_grow_with_inline_rows(
    staff_client: Client,
    make_parent: Callable[[], Model],
    make_child: Callable[[Any], Any],
    django_assert_max_num_queries: Any,
) -> None:
    parent = make_parent()
    for _ in range(3):
        make_child(parent)
    page = url(type(parent), "change", parent.pk)
    staff_client.get(page)
    with CaptureQueriesContext(connection) as three_rows:
        assert staff_client.get(page).status_code == 200

    for _ in range(7):
        make_child(parent)
    with django_assert_max_num_queries(len(three_rows)):
        assert staff_client.get(page).status_code == 200
