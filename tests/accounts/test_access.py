"""Access control: the URL authorization matrix, partner scoping, row-level security, the audit
chain, sign-in protections."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.admin.sites import site
from django.contrib.auth.models import AnonymousUser, Group
from django.contrib.contenttypes.models import ContentType
from django.db import ProgrammingError, connection, transaction
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from accounts.access import POLICY, Capability, scoped
from accounts.audit import audit_record, verify_chain
from accounts.backends import model_permission
from accounts.models import AuditAction, AuditLog, Role, User
from accounts.services import partner_access_sync, user_access_changed
from accounts.url_policy import UrlPolicy, policy_for
from aurora.common.dbscope import set_database_scope
from aurora.common.middleware import DatabaseScopeMiddleware
from commissions.models import CommissionLine, Statement
from tests import factories as f
from tests.factories.by_model import FACTORIES

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-test-password-1"

THIRD_PARTY: dict[str, Callable[[], Any]] = {
    "auth.group": lambda: Group.objects.create(name=f"group-{uuid.uuid4().hex[:8]}"),
    "django_celery_beat.intervalschedule": lambda: _beat("IntervalSchedule", every=10, period="minutes"),
    "django_celery_beat.crontabschedule": lambda: _beat("CrontabSchedule", minute="0", hour="1"),
    "django_celery_beat.solarschedule": lambda: _beat(
        "SolarSchedule", event="sunrise", latitude=1, longitude=1
    ),
    "django_celery_beat.clockedschedule": lambda: _beat("ClockedSchedule", clocked_time=timezone.now()),
    "django_celery_beat.periodictask": lambda: _beat(
        "PeriodicTask",
        name=f"task-{uuid.uuid4().hex[:8]}",
        task="aurora.ping",
        interval=_beat("IntervalSchedule", every=10, period="minutes"),
    ),
    "axes.accessattempt": lambda: _axes("AccessAttempt", failures_since_start=1),
    "axes.accesslog": lambda: _axes("AccessLog"),
    "axes.accessfailurelog": lambda: _axes("AccessFailureLog", locked_out=False),
}


def _beat(model: str, **values: Any) -> Any:
    from django_celery_beat import models

    return getattr(models, model).objects.create(**values)


def _axes(model: str, **values: Any) -> Any:
    from axes import models

    return getattr(models, model).objects.create(
        username="someone", ip_address="127.0.0.1", user_agent="test", **values
    )


def patterns(resolvers: list[Any], prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str]]:
    """Every (name, route) the project serves, discovered from the URL conf."""
    for entry in resolvers:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}:{entry.namespace}".strip(":") if entry.namespace else namespace
            yield from patterns(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            route = prefix + str(entry.pattern)
            name = entry.name or ("root" if route == "" else "None")
            yield (f"{namespace}:{name}" if namespace and name != "root" else name), route


ALL_URLS = sorted(set(patterns(get_resolver().url_patterns)))


def test_every_url_the_project_serves_has_a_policy() -> None:
    missing = [(name, route) for name, route in ALL_URLS if policy_for(name, route) is None]
    assert not missing, f"URLs without an access policy (accounts/url_policy.py): {missing}"
    assert len(ALL_URLS) > 150  # the discovery walks the admin too


def test_the_written_policy_is_the_enforced_one() -> None:
    table = Path(settings.BASE_DIR / "docs" / "rbac_policy.md").read_text(encoding="utf-8")
    header = next(line for line in table.splitlines() if line.startswith("| capability |"))
    roles = [cell.strip() for cell in header.strip("|").split("|")[2:]]
    written = {}
    for line in table.splitlines():
        match = re.match(r"^\| `(\w+)` \|", line)
        if match:
            marks = [cell.strip() for cell in line.strip("|").split("|")[2:]]
            written[match[1]] = {role for role, mark in zip(roles, marks, strict=True) if mark == "✓"}
    enforced = {cap.value: {role for role, caps in POLICY.items() if cap in caps} for cap in Capability}
    assert written == enforced


# ---- the matrix ---------------------------------------------------------------------------------


def make_users() -> dict[str, User]:
    partner_a, partner_b = (
        f.PartnerFactory(partner_name="Partner A"),
        f.PartnerFactory(partner_name="Partner B"),
    )
    users = {
        "admin": f.UserFactory(username="u-admin", role=Role.ADMIN, is_staff=True),
        "finance": f.UserFactory(username="u-finance", role=Role.FINANCE, is_staff=True),
        "ops": f.UserFactory(username="u-ops", role=Role.OPS, is_staff=True),
        "auditor": f.UserFactory(
            username="u-auditor",
            role=Role.AUDITOR,
            is_staff=True,
            access_expires_at=timezone.now() + timedelta(days=30),
        ),
        "expired_auditor": f.UserFactory(
            username="u-expired",
            role=Role.AUDITOR,
            is_staff=True,
            access_expires_at=timezone.now() - timedelta(days=1),
        ),
        "partner": f.UserFactory(username="u-partner", role=Role.PARTNER, partner=partner_a, is_staff=False),
        "other_partner": f.UserFactory(
            username="u-other", role=Role.PARTNER, partner=partner_b, is_staff=False
        ),
    }
    for user in users.values():
        user.set_password(PASSWORD)
        user.save()
        partner_access_sync(user)
    return users


def objects_for_urls() -> dict[str, Any]:
    made = {label: make() for label, make in {**FACTORIES, **THIRD_PARTY}.items()}
    return made


def concrete(name: str, route: str, objects: dict[str, Any]) -> str | None:
    """A URL to request for the pattern, or None when it needs an object we do not have."""
    policy = policy_for(name, route)
    assert policy is not None
    if name == "admin:app_list":
        return None  # checked per app below
    if name == "admin:view_on_site":
        line = objects["commissions.commissionline"]
        return reverse(name, args=[ContentType.objects.get_for_model(line).pk, line.pk])
    if route == "admin/(?P<url>.*)$":
        return "/admin/no-such-page/"
    if name.startswith("portal:") and policy.model:  # a partner's object (here another partner's)
        kwargs: dict[str, Any] = {"pk": objects[policy.model].pk}
        if name == "portal:statement_document":
            kwargs["export_format"] = "pdf"
        return reverse(name, kwargs=kwargs)
    if name.endswith("_simple_history"):  # an object's past version
        obj = objects[policy.model]
        version = obj.history.latest()
        return reverse(name, args=[obj.pk, version.history_id])
    if name == "api:not_found":
        return "/v1/no-such-endpoint"
    for parameter, value in ROUTE_PARAMETERS.get(name, {}).items():
        route = route.replace(parameter, value)
    for parameter, value in api_parameters(objects).items():
        route = route.replace(parameter, value)
    if policy.model and ("<path:object_id>" in route or "<id>" in route):
        obj = objects[policy.model]
        return "/" + route.replace("<path:object_id>", str(obj.pk)).replace("<id>", str(obj.pk))
    return "/" + route


# Values for the routes' other parameters (a step or status that exists, so a page answers).
ROUTE_PARAMETERS: dict[str, dict[str, str]] = {
    "admin:commissions_agreement_status": {"<slug:action>": "suspend"},
    "admin:commissions_commissionline_override_step": {"<str:step>": "clear"},
    "admin:commissions_statement_step": {"<str:step>": "submit"},
}


def api_parameters(objects: dict[str, Any]) -> dict[str, str]:
    """Values for the REST API's path parameters: objects of the matrix's "other" partner."""
    line = objects["commissions.commissionline"]
    return {
        "<str:chain_id>": line.chain_id,
        "<str:validator_key>": "Vote" + "1" * 40,
        "<uuid:partner_id>": str(line.partner_id),
        "<str:month>": "2025-09",
        "<uuid:agreement_id>": str(objects["commissions.agreement"].pk),
        "<uuid:line_id>": str(line.pk),
        "<uuid:job_id>": "00000000-0000-0000-0000-000000000000",
    }


def allowed(user: User | None, policy: UrlPolicy) -> bool:
    """The policy's answer, narrowed by what the model's admin allows at all (read-only admins)."""
    assert policy.model and policy.action
    if not model_permission(user, policy.action, policy.model):
        return False
    model_admin = next(a for m, a in site._registry.items() if m._meta.label_lower == policy.model)
    request = RequestFactory().get("/")
    request.user = user
    checks = {"add": model_admin.has_add_permission, "delete": model_admin.has_delete_permission}
    return policy.action not in checks or bool(checks[policy.action](request))


def expected(user_kind: str, user: User | None, policy: UrlPolicy, name: str) -> set[int]:
    from accounts.access import has_capability

    if policy.post_only:
        return {405}
    if policy.public:
        return {200, 302, 404}  # /v1/ answers an unknown path 404 in its envelope
    if policy.api is not None:
        if user is None or user_kind == "expired_auditor":
            return {401}
        granted = not policy.api or any(has_capability(user, c) for c in policy.api)
        # 404: an object outside the user's scope (another partner's, a chain it may not see)
        return {200, 404, 405} if granted else {403}
    if policy.partner:  # partners reach their own pages; the objects here are another partner's
        if user is not None and has_capability(user, Capability.VIEW_OWN_PARTNER):
            return {404} if policy.model else {200}
        return {302}  # to the sign-in page, or staff to the back office
    staff = user is not None and user.is_staff and user_kind != "expired_auditor"
    if name.startswith("admin:") and not staff:
        return {302}  # to the admin's login page
    if policy.staff:
        return {200, 302, 403, 404, 405}  # logout wants POST; autocomplete parameters; no such page
    if name == "admin:None":
        return {302}  # the admin redirects an object's URL to its change page
    if policy.capability is not None:  # a custom admin page asks the capability itself
        return {200} if has_capability(user, policy.capability) else {403}
    if allowed(user, policy):
        return {200}
    # Refused: 403, or for an object page the object is out of the user's scope and the admin
    # answers as for one that does not exist (a redirect), which leaks nothing.
    return {302, 403}


@pytest.mark.parametrize(
    "user_kind",
    ["anonymous", "admin", "finance", "ops", "auditor", "expired_auditor", "partner", "other_partner"],
)
def test_authorization_matrix(user_kind: str) -> None:
    users = make_users()
    objects = objects_for_urls()
    client = Client()
    user = users.get(user_kind)
    if user is not None:  # partners sign in to the portal, staff to the back office
        login = "portal:login" if user.role == Role.PARTNER else "admin:login"
        client.post(reverse(login), {"username": user.username, "password": PASSWORD})
        assert user_kind == "expired_auditor" or client.session.get("_auth_user_id") == str(user.pk)
    wrong = []
    for name, route in ALL_URLS:
        url = concrete(name, route, objects)
        if url is None:
            continue
        policy = policy_for(name, route)
        assert policy is not None
        status = client.get(url).status_code
        if status not in expected(user_kind, user, policy, name):
            wrong.append((user_kind, name, url, status, sorted(expected(user_kind, user, policy, name))))
    for app in sorted({model._meta.app_label for model in site._registry}):
        status = client.get(reverse("admin:app_list", args=[app])).status_code
        staff = user is not None and user.is_staff and user_kind != "expired_auditor"
        may = staff and any(
            model_permission(user, "view", m._meta.label_lower)
            for m in site._registry
            if m._meta.app_label == app
        )
        if status != (200 if may else 404 if staff else 302):
            wrong.append((user_kind, "admin:app_list", app, status, "200/404/302"))
    assert not wrong, "\n".join(map(str, wrong[:40]))


# ---- partner scoping ----------------------------------------------------------------------------


def test_a_partner_user_sees_its_own_partner_s_rows_only_and_others_are_narrowed_by_scope() -> None:
    users = make_users()
    mine = f.CommissionLineFactory(partner=users["partner"].partner)
    theirs = f.CommissionLineFactory(partner=users["other_partner"].partner)
    lines = CommissionLine.objects.all()

    assert list(scoped(lines, users["partner"])) == [mine]
    assert list(scoped(lines, users["other_partner"])) == [theirs]
    assert set(scoped(lines, users["finance"])) == {mine, theirs}
    assert not scoped(lines, users["ops"]).exists()  # operations staff do not read partner money
    assert not scoped(lines, users["expired_auditor"]).exists()
    narrowed = users["finance"]
    narrowed.allowed_chain_ids = ["ethereum-mainnet"]
    assert not scoped(lines, narrowed).exists()


def test_partner_membership_follows_the_user_s_partner_and_is_audited() -> None:
    users = make_users()
    user, admin = users["partner"], users["admin"]
    other = users["other_partner"].partner
    before = {"partner_id": str(user.partner_id)}
    user.partner = other
    user.save()

    user_access_changed(user=user, before=before, actor=admin)

    assert list(scoped(Statement.objects.all(), user).values_list("partner", flat=True)) == []
    f.StatementFactory(partner=other)
    assert scoped(Statement.objects.all(), user).get().partner == other
    entry = AuditLog.objects.filter(action=AuditAction.CHANGE_USER_ACCESS).latest("sequence")
    assert entry.user == admin and entry.after_snapshot["partner_id"] == str(other.pk)


# ---- row-level security -------------------------------------------------------------------------


def raw_partner_ids(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT partner_id::text FROM {table}")  # noqa: S608 (a constant table name)
        return {row[0] for row in cursor.fetchall()}


def test_raw_sql_as_a_partner_session_cannot_read_another_partner_s_rows() -> None:
    users = make_users()
    a, b = users["partner"].partner, users["other_partner"].partner
    for partner in (a, b):
        f.AgreementFactory(partner=partner)
        f.CommissionLineFactory(partner=partner)
        f.StatementFactory(partner=partner)
        f.PartnerClientFactory(partner=partner)
    try:
        set_database_scope(role=Role.PARTNER, partner_id=a.pk)
        for table in (
            "partner_commission_lines",
            "partner_commission_statements",
            "partner_clients",
            "agreements",
        ):
            assert raw_partner_ids(table) == {str(a.pk)}, table
        with pytest.raises(Exception, match="row-level security"), transaction.atomic():
            f.StatementFactory(partner=b)  # nor write one
        set_database_scope(role="ANONYMOUS")
        assert raw_partner_ids("partner_commission_lines") == set()
        set_database_scope(role=Role.FINANCE)
        assert raw_partner_ids("partner_commission_lines") == {str(a.pk), str(b.pk)}
    finally:
        set_database_scope(role="SYSTEM")


def test_a_request_runs_with_its_user_s_database_scope_and_system_after() -> None:
    users = make_users()
    seen: list[str] = []

    def view(request: Any) -> HttpResponse:
        seen.append(database_scope())
        return HttpResponse("ok")

    for kind in ("finance", "partner"):
        request = RequestFactory().get("/")
        request.user = users[kind]
        DatabaseScopeMiddleware(view)(request)
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    DatabaseScopeMiddleware(view)(request)

    assert seen == ["every partner", str(users["partner"].partner_id), "none"]
    assert database_scope() == "every partner"  # SYSTEM again after the request


def database_scope() -> str:
    """Whom the database believes the session works for (aurora_scope_partner())."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT aurora_scope_partner()")
        partner = cursor.fetchone()[0]
    return "none" if partner is None else "every partner" if partner.int == 0 else str(partner)


# ---- the audit chain ----------------------------------------------------------------------------


def test_the_audit_log_is_append_only_and_its_chain_verifies() -> None:
    for index in range(3):
        audit_record(
            actor=None, action=AuditAction.REGISTRY_SYNC, resource_type="chains.chain", resource_id=str(index)
        )
    entry = AuditLog.objects.get(sequence=2)

    # The application's role may only read and append (the owner meets the trigger: test_database_walls).
    with pytest.raises(ProgrammingError, match="permission denied"), transaction.atomic():
        AuditLog.objects.filter(pk=entry.pk).update(reason="edited")
    with pytest.raises(ProgrammingError, match="permission denied"), transaction.atomic():
        AuditLog.objects.filter(pk=entry.pk).delete()

    checked, broken = verify_chain()
    assert (checked, broken) == (3, None)
    entries = list(AuditLog.objects.order_by("sequence"))
    assert [e.previous_hash for e in entries[1:]] == [e.change_hash for e in entries[:-1]]


def test_logins_failed_logins_and_correlation_ids_are_audited() -> None:
    make_users()
    client = Client()
    request_id = str(uuid.uuid4())

    response = client.post(
        reverse("admin:login"), {"username": "u-finance", "password": "wrong"}, HTTP_X_REQUEST_ID=request_id
    )
    assert response["X-Request-ID"] == request_id
    client.post(
        reverse("admin:login"),
        {"username": "u-finance", "password": PASSWORD},
        HTTP_USER_AGENT="pytest-browser",
    )

    failed = AuditLog.objects.get(action=AuditAction.LOGIN_FAILED)
    login = AuditLog.objects.get(action=AuditAction.LOGIN)
    assert (str(failed.correlation_id), failed.resource_id) == (request_id, "u-finance")
    assert login.user.username == "u-finance" and login.user_agent == "pytest-browser"
    assert login.ip_address == "127.0.0.1"
    generated = client.get("/health")["X-Request-ID"]
    assert uuid.UUID(generated) and generated != request_id


# ---- sign-in ------------------------------------------------------------------------------------


def test_an_expired_auditor_is_refused() -> None:
    make_users()
    client = Client()
    response = client.post(reverse("admin:login"), {"username": "u-expired", "password": PASSWORD})
    assert response.status_code == 200 and "_auth_user_id" not in client.session  # the form again
    assert client.get(reverse("admin:index")).status_code == 302


def test_repeated_failed_logins_lock_the_account() -> None:
    make_users()
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("admin:login"), {"username": "u-finance", "password": "wrong"})

    locked = client.post(reverse("admin:login"), {"username": "u-finance", "password": PASSWORD})

    assert locked.status_code in (403, 429)
    assert "_auth_user_id" not in client.session
    assert AuditLog.objects.filter(action=AuditAction.LOGIN_FAILED).count() >= settings.AXES_FAILURE_LIMIT


def test_passwords_are_hashed_with_argon2() -> None:
    from django.test import override_settings

    from aurora import settings as configured  # the tests themselves use a fast hasher

    assert configured.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    user = User(username="x", email="x@example.com", role=Role.FINANCE)
    with override_settings(PASSWORD_HASHERS=configured.PASSWORD_HASHERS):
        user.set_password(PASSWORD)
    assert user.password.startswith("argon2")


def test_the_database_check_passes_for_a_role_bound_by_row_level_security() -> None:
    from aurora.common.checks import application_role_is_bound_by_row_level_security

    assert application_role_is_bound_by_row_level_security(databases=["default"]) == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone()[0] is False
