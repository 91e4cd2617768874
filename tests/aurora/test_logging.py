"""Structured logs: the JSON line's fields, the request's correlation id in its lines and in the
Celery tasks it queues (through the message headers, to a real worker), a new id for tasks queued
outside a request, secrets redacted, and LOG_FORMAT."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
import redis
from django.conf import settings
from django.test import Client
from rest_framework.response import Response

from aurora import logs
from aurora.celery import app as celery_app
from aurora.common import context

ROOT = Path(__file__).resolve().parents[2]
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@celery_app.task(name="tests.aurora.test_logging.log_a_line")
def log_a_line(message: str) -> str | None:
    logging.getLogger("aurora.tests").info(message, extra={"chain_id": "solana-mainnet", "period": "850"})
    return logs.current_correlation_id()


def handler(formatter: logging.Formatter) -> tuple[logging.Handler, io.StringIO]:
    stream = io.StringIO()
    made = logging.StreamHandler(stream)
    made.addFilter(logs.CorrelationId())
    made.addFilter(logs.RedactSecrets())
    made.setFormatter(formatter)
    return made, stream


@pytest.fixture
def json_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON lines logged (root logger, INFO and up) while the test runs."""
    made, stream = handler(logs.JsonFormatter())
    root = logging.getLogger()
    root.addHandler(made)
    level = root.level
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(made)
    root.setLevel(level)


def test_a_json_line_has_the_documented_fields(json_lines: Callable[[], list[dict[str, Any]]]) -> None:
    logging.getLogger("ingestion.runs").info(
        "staged %d payloads", 4, extra={"chain_id": "solana-mainnet", "period": "850", "run_id": "r-1"}
    )

    [line] = json_lines()

    assert list(line)[:5] == ["timestamp", "level", "logger", "event", "correlation_id"]
    assert ISO_UTC.match(line["timestamp"]), line["timestamp"]
    assert line == {
        "timestamp": line["timestamp"],
        "level": "INFO",
        "logger": "ingestion.runs",
        "event": "staged 4 payloads",
        "correlation_id": None,  # outside a request or task
        "chain_id": "solana-mainnet",
        "period": "850",
        "run_id": "r-1",
    }


def test_an_exception_is_in_the_line_with_its_secrets_redacted(
    json_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    try:
        raise ConnectionError("could not connect to postgres://aurora:s3cret-pw@db:5432/aurora")
    except ConnectionError:
        logging.getLogger("aurora.tests").exception("database down")

    [line] = json_lines()

    assert line["level"] == "ERROR" and line["event"] == "database down"
    assert "ConnectionError" in line["exc_info"]
    assert "postgres://aurora:[REDACTED]@db:5432/aurora" in line["exc_info"]
    assert "s3cret-pw" not in json.dumps(line)


@pytest.mark.django_db
def test_a_request_s_lines_carry_its_x_request_id(json_lines: Callable[[], list[dict[str, Any]]]) -> None:
    from api.views import ChainListView

    def get(view: Any, request: Any) -> Response:
        logging.getLogger("api.chains").info("listing chains", extra={"chain_id": "solana-mainnet"})
        return Response([])

    correlation_id = str(uuid.uuid4())
    with (
        mock.patch.object(ChainListView, "get", get),
        mock.patch.object(ChainListView, "permission_classes", []),
    ):
        response = Client().get("/v1/chains", HTTP_X_REQUEST_ID=correlation_id)

    assert response.status_code == 200 and response["X-Request-ID"] == correlation_id
    [line] = [line for line in json_lines() if line["logger"] == "api.chains"]
    assert line["correlation_id"] == correlation_id
    assert line["chain_id"] == "solana-mainnet"


@pytest.mark.django_db
def test_django_s_lines_about_an_answered_request_carry_its_id_too(
    json_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    """Django logs a 4xx after the middleware has returned; the line still has the request's id."""
    correlation_id = str(uuid.uuid4())
    assert Client().get("/v1/chains", HTTP_X_REQUEST_ID=correlation_id).status_code == 401

    [line] = [line for line in json_lines() if line["logger"] == "django.request"]
    assert line["event"] == "Unauthorized: /v1/chains"
    assert line["correlation_id"] == correlation_id
    assert line["status_code"] == 401


# ---- Celery -------------------------------------------------------------------------------------


def test_publishing_puts_the_current_correlation_id_in_the_message_headers() -> None:
    correlation_id = uuid.uuid4()
    headers: dict[str, Any] = {}
    token = context.enter(context.RequestContext(correlation_id=correlation_id))
    try:
        logs.task_published(headers=headers)
    finally:
        context.leave(token)
    assert headers == {logs.CORRELATION_HEADER: str(correlation_id)}

    outside: dict[str, Any] = {}
    logs.task_published(headers=outside)  # beat, a command: nothing to carry
    assert outside == {}


def test_a_task_runs_under_the_id_it_was_sent_with_and_leaves_it_after(
    json_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    sent = uuid.uuid4()
    task = SimpleNamespace(request=SimpleNamespace(**{logs.CORRELATION_HEADER: str(sent)}, is_eager=False))

    logs.task_starting(task_id="t-1", task=task)
    logging.getLogger("operations.tasks").info("running")
    logs.task_ended(task_id="t-1")
    logging.getLogger("operations.tasks").info("after")

    running, after = json_lines()
    assert running["correlation_id"] == str(sent)
    assert after["correlation_id"] is None


def test_a_task_sent_without_an_id_gets_a_new_one_each_time() -> None:
    seen = []
    for task_id in ("beat-1", "beat-2"):
        task = SimpleNamespace(request=SimpleNamespace(headers=None, is_eager=False))
        logs.task_starting(task_id=task_id, task=task)
        seen.append(logs.current_correlation_id())
        logs.task_ended(task_id=task_id)
    assert None not in seen and seen[0] != seen[1]
    assert logs.current_correlation_id() is None


def test_a_task_run_eagerly_inside_a_request_keeps_the_request_s_id() -> None:
    correlation_id = uuid.uuid4()
    token = context.enter(context.RequestContext(correlation_id=correlation_id))
    try:
        assert log_a_line.apply(args=["eager"]).get() == str(correlation_id)
    finally:
        context.leave(token)
    sent = uuid.uuid4()
    assert log_a_line.apply(
        args=["with a header"], headers={logs.CORRELATION_HEADER: str(sent)}
    ).get() == str(sent)


@pytest.fixture
def private_queue() -> Iterator[str]:
    """A queue no other worker listens to; its Redis keys are removed after."""
    name = f"test-logging-{uuid.uuid4().hex}"
    yield name
    prefix = (celery_app.conf.broker_transport_options or {}).get("global_keyprefix", "")
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        for key in client.scan_iter(f"{prefix}{name}*"):
            client.delete(key)
    finally:
        client.close()


def test_the_id_travels_in_the_message_headers_through_redis(private_queue: str) -> None:
    """Published to the real broker (no worker on this queue): the message carries the id."""
    correlation_id = uuid.uuid4()
    token = context.enter(context.RequestContext(correlation_id=correlation_id))
    try:
        log_a_line.apply_async(args=["queued"], queue=private_queue)
    finally:
        context.leave(token)

    prefix = (celery_app.conf.broker_transport_options or {}).get("global_keyprefix", "")
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        [raw] = client.lrange(f"{prefix}{private_queue}", 0, -1)
    finally:
        client.close()
    message = json.loads(raw)
    assert message["headers"]["task"] == "tests.aurora.test_logging.log_a_line"
    assert message["headers"][logs.CORRELATION_HEADER] == str(correlation_id)


def test_a_worker_logs_a_queued_task_under_the_request_s_id(private_queue: str) -> None:
    """End to end: a real worker (in a thread, on a private queue) runs the task the request queued."""
    from celery.contrib.testing.worker import start_worker

    correlation_id = uuid.uuid4()
    with start_worker(celery_app, queues=[private_queue], perform_ping_check=False, shutdown_timeout=20):
        made, stream = handler(logs.JsonFormatter())  # after the worker set up logging
        logging.getLogger().addHandler(made)
        try:
            token = context.enter(context.RequestContext(correlation_id=correlation_id))
            try:
                result = log_a_line.apply_async(args=["in the worker"], queue=private_queue)
            finally:
                context.leave(token)
            assert result.get(timeout=20) == str(correlation_id)
        finally:
            logging.getLogger().removeHandler(made)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    [line] = [line for line in lines if line["event"] == "in the worker"]
    assert line["correlation_id"] == str(correlation_id)
    assert (line["chain_id"], line["period"]) == ("solana-mainnet", "850")


# ---- redaction ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("headers {'Authorization': 'Bearer abc.def-123456'}", "abc.def-123456"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        ("HTTP_AUTHORIZATION=Token 9f8e7d6c5b4a", "9f8e7d6c5b4a"),
        ("login with password=hunter2hunter2 failed", "hunter2hunter2"),
        ('{"username": "jane", "password": "correct horse"}', "correct"),
        ("GET https://rpc.example.com/?api-key=KEY123456789&x=1", "KEY123456789"),
        ("GET https://api.example.com/v1?apikey=K2K2K2K2K2", "K2K2K2K2K2"),
        ("client_secret: 's3cr3t-value'", "s3cr3t-value"),
        ("refresh_token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcDEF123", "eyJzdWIiOiIxIn0"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjo3fQ.sig_nature-1 issued", "eyJ1c2VyX2lkIjo3fQ"),
        ("broker redis://:r3dis-pass@127.0.0.1:6379/0 down", "r3dis-pass"),
        ("database postgres://aurora:pg-pass@db/aurora", "pg-pass"),
    ],
)
def test_secrets_are_redacted_from_text(text: str, secret: str) -> None:
    redacted = logs.redact_text(text)
    assert secret not in redacted
    assert logs.REDACTED in redacted


def test_ordinary_text_is_left_alone() -> None:
    text = "ingested 4 payloads for solana-mainnet epoch 850 in 1.2 s; tokens: 3; max_tokens=5"
    assert logs.redact_text(text) == text
    assert logs.redact_text("postgres://db.example.com/aurora") == "postgres://db.example.com/aurora"


def test_secret_environment_values_are_redacted_wherever_they_appear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOLANABEACH_API_KEY", "sb-key-in-a-path-0042")
    logs.forget_secret_values()
    try:
        assert logs.redact_text("GET https://api.example.com/sb-key-in-a-path-0042/epoch/850") == (
            "GET https://api.example.com/[REDACTED]/epoch/850"
        )
    finally:
        monkeypatch.undo()
        logs.forget_secret_values()


def test_log_lines_are_redacted_in_the_message_its_arguments_and_the_extras(
    json_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    logging.getLogger("providers").warning(
        "request to %s failed",
        "https://rpc.example.com/?api-key=KEY123456789",
        extra={
            "headers": {"Authorization": "Bearer abcdefghijkl", "Accept": "application/json"},
            "password": "hunter2hunter2",
            "dsn": "postgres://u:p4ss@db/x",
            "attempts": 3,
        },
    )

    [line] = json_lines()

    assert line["event"] == "request to https://rpc.example.com/?api-key=[REDACTED] failed"
    assert line["headers"] == {"Authorization": "[REDACTED]", "Accept": "application/json"}
    assert line["password"] == "[REDACTED]" and line["dsn"] == "[REDACTED]"
    assert line["attempts"] == 3
    assert not {"KEY123456789", "abcdefghijkl", "hunter2", "p4ss"} & set(
        re.findall(r"[\w]+", json.dumps(line))
    )


def test_objects_passed_as_extras_are_shown_as_redacted_text(
    json_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    from django.test import RequestFactory

    request = RequestFactory().get("/v1/chains?api_key=KEY123456789&limit=5")
    logging.getLogger("django.request").warning("Bad Request: /v1/chains", extra={"request": request})

    [line] = json_lines()
    assert line["request"] == "<WSGIRequest: GET '/v1/chains?api_key=[REDACTED]&limit=5'>"


def test_the_plain_format_shows_the_correlation_id_and_redacts_too() -> None:
    made, stream = handler(logs.PlainFormatter())
    logger = logging.getLogger("aurora.tests.plain")
    logger.addHandler(made)
    logger.setLevel(logging.INFO)
    correlation_id = uuid.uuid4()
    token = context.enter(context.RequestContext(correlation_id=correlation_id))
    try:
        logger.info(
            "connecting with password=hunter2hunter2",
            extra={"chain_id": "solana-mainnet", "request": object()},
        )
    finally:
        context.leave(token)
        logger.removeHandler(made)
    line = stream.getvalue()
    assert f"[{str(correlation_id)[:8]}]" in line
    assert "password=[REDACTED]" in line and "hunter2" not in line
    assert line.rstrip().endswith("chain_id=solana-mainnet")


# ---- LOG_FORMAT ---------------------------------------------------------------------------------


def log_format(**environment: str) -> str:
    """LOG_FORMAT as the settings read it from this environment (a fresh interpreter)."""
    base = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "LOG_FORMAT"}}
    completed = subprocess.run(
        [sys.executable, "-c", "from aurora import settings; print(settings.LOG_FORMAT)"],
        env={**base, "SECRET_KEY": "x" * 50, **environment},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return completed.stdout.strip() or completed.stderr.strip().splitlines()[-1]


def test_log_format_is_json_in_production_and_plain_in_development() -> None:
    assert log_format(DEBUG="false") == "json"
    assert log_format(DEBUG="true") == "plain"
    assert log_format(DEBUG="false", LOG_FORMAT="plain") == "plain"
    assert "LOG_FORMAT must be json or plain" in log_format(LOG_FORMAT="xml")
    assert settings.LOGGING["handlers"]["console"]["formatter"] == settings.LOG_FORMAT
    assert settings.LOGGING["handlers"]["console"]["filters"] == ["correlation_id", "redact_secrets"]
