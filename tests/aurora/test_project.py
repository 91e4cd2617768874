"""Project-level guarantees: migrations match the models, production settings pass the deploy
check with or without the demo app, every setting is documented, and the demo users work."""

import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from accounts.models import Role, User

ROOT = Path(settings.BASE_DIR)


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_models_and_migrations_agree() -> None:
    result = manage("makemigrations", "--check", "--dry-run")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout


def test_production_settings_pass_the_deploy_check() -> None:
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "ERROR",
        DEBUG="false",
        SECRET_KEY="x7Gq2-" + "kP9vRt4wLm8zQa1sDf6hJk3nBc5" * 2,
        ALLOWED_HOSTS="aurora.example.com",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    # HSTS preload (W021) is left to the operator: it commits the domain to browsers' lists.
    assert set(re.findall(r"\(([a-z_]+\.[WE]\d+)\)", result.stderr + result.stdout)) <= {"security.W021"}


def test_production_settings_leave_the_demo_app_out_and_still_pass_the_check() -> None:
    production = {
        "DEBUG": "false",
        "DEMO_APP": "false",
        "SECRET_KEY": "x7Gq2-" + "kP9vRt4wLm8zQa1sDf6hJk3nBc5" * 2,
    }
    check = manage("check", "--fail-level", "WARNING", **production)
    commands = manage("help", "--commands", **production)
    with_demo = manage("help", "--commands", **{**production, "DEMO_APP": "true"})

    assert check.returncode == 0, check.stdout + check.stderr
    assert "System check identified no issues" in check.stdout
    assert commands.returncode == 0, commands.stderr
    listed = set(commands.stdout.split())
    assert {"ingest", "normalize", "recompute", "sync_registry"} <= listed
    assert not listed & {"demo_users", "demo_agreements", "demo_ethereum", "record_simulation"}
    assert {"demo_users", "demo_agreements", "demo_statements", "demo_ethereum", "record_simulation"} <= set(
        with_demo.stdout.split()
    )


def test_production_settings_refuse_to_start_without_a_secret_key() -> None:
    env = {key: value for key, value in os.environ.items() if key != "SECRET_KEY"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**env, "DEBUG": "false", "AURORA_ENV_FILES": ""},
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    assert "SECRET_KEY is not set" in result.stderr


def test_every_setting_read_from_the_environment_is_documented() -> None:
    read = set(
        re.findall(
            r'env\.(?:str|bool|int|list|db|cache)\(\s*"([A-Z_]+)"', (ROOT / "aurora/settings.py").read_text()
        )
    )
    documented = set(re.findall(r"^#? ?([A-Z_]+)=", (ROOT / ".env.example").read_text(), flags=re.MULTILINE))

    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"} <= read
    assert read - documented == set()


def test_the_readme_opens_with_the_two_commands() -> None:
    opening = (ROOT / "README.md").read_text().split("## ")[0]

    assert "make demo" in opening
    assert "make test" in opening


@pytest.mark.django_db
def test_demo_users_cover_every_role_and_can_log_in(settings: pytest.FixtureRequest) -> None:
    settings.DEBUG = True
    for _ in range(2):  # the second run must not duplicate anything
        call_command("demo_users", password="demo-password-123", stdout=StringIO())

    users = User.objects.order_by("username")
    assert {user.role for user in users} == set(Role.values)
    assert users.count() == 8
    partner_users = users.filter(role=Role.PARTNER)
    assert {user.partner.partner_name for user in partner_users if user.partner} == {
        "Demo Partner",
        "Northwind Staking",
        "Helios Capital",
    }
    assert not any(user.is_staff for user in partner_users)
    portal = Client()
    signed_in = portal.post("/portal/login/", {"username": "northwind", "password": "demo-password-123"})
    assert signed_in.status_code == 302 and signed_in["Location"] == "/portal/"
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "admin", "password": "demo-password-123"}
    )
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_health_answers() -> None:
    response = Client().get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
