"""Where the replay provider reads its recordings from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings

from chains.models import Provider
from ingestion.services import replay_recordings

PRINT_SETTINGS = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.AURORA_RECORDINGS_DIR_FROM_ENV, settings.AURORA_RECORDINGS_DIR)"
)


def _settings_in_a_fresh_process(**environment: str) -> str:
    env = {key: value for key, value in os.environ.items() if key != "AURORA_RECORDINGS_DIR"}
    env.update(DJANGO_SETTINGS_MODULE="aurora.settings", AURORA_ENV_FILES="", DEBUG="true", **environment)
    result = subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_the_environment_variable_is_noticed_when_set(tmp_path: Path) -> None:
    assert _settings_in_a_fresh_process(AURORA_RECORDINGS_DIR=str(tmp_path)) == f"True {tmp_path}"
    default = Path(django_settings.BASE_DIR) / "ingestion" / "recordings"
    assert _settings_in_a_fresh_process() == f"False {default}"


@pytest.mark.django_db
def test_an_explicit_environment_variable_wins_over_the_providers_option(
    registry: None, settings: Any, tmp_path: Path
) -> None:
    Provider.objects.filter(provider_name="replay").update(options={"recordings_dir": "elsewhere"})
    settings.AURORA_RECORDINGS_DIR = tmp_path
    settings.AURORA_RECORDINGS_DIR_FROM_ENV = True

    assert replay_recordings("replay") == tmp_path


@pytest.mark.django_db
def test_without_the_environment_variable_the_providers_option_is_used(
    registry: None, settings: Any, tmp_path: Path
) -> None:
    Provider.objects.filter(provider_name="replay").update(options={"recordings_dir": "elsewhere"})
    settings.AURORA_RECORDINGS_DIR = tmp_path
    settings.AURORA_RECORDINGS_DIR_FROM_ENV = False

    assert replay_recordings("replay") == Path(settings.BASE_DIR) / "elsewhere"
