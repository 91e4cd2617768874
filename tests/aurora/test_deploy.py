"""Deployment files: docker-compose.yml, the systemd units and the nginx site agree with the code and
the settings (commands that exist, modules that import, variables the settings read), and, where
the tools are installed, `systemd-analyze verify` and nginx itself accept them; nginx is also
started against a stand-in application to check the redirect, headers and static files."""

from __future__ import annotations

import configparser
import importlib
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands

ROOT = Path(settings.BASE_DIR)
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
APP_DIR = "/opt/aurora"
ENV_FILE = "/etc/aurora/aurora.env"
AURORA_SERVICES = ("migrate", "web", "worker", "beat")
LONG_RUNNING = ("aurora-web", "aurora-worker", "aurora-beat")
HARDENING = {
    "NoNewPrivileges": "true",
    "ProtectSystem": "strict",
    "ProtectHome": "true",
    "PrivateTmp": "true",
    "PrivateDevices": "true",
    "CapabilityBoundingSet": "",
}


def settings_variables() -> set[str]:
    """Variables aurora/settings.py reads from the environment."""
    source = (ROOT / "aurora/settings.py").read_text()
    return set(
        re.findall(r'[eE]nv\(?\)?\.(?:str|bool|int|float|list|db|cache)\(\s*"([A-Z_][A-Z0-9_]*)"', source)
    )


def documented_variables() -> set[str]:
    return set(
        re.findall(r"^#? ?([A-Z_][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), flags=re.MULTILINE)
    )


KNOWN = settings_variables() | documented_variables()


# ---- docker-compose.yml -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # resolves the `<<:` merges
    assert isinstance(loaded, dict)
    return loaded


def command_of(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def test_compose_has_the_whole_stack_with_the_right_commands(compose: dict[str, Any]) -> None:
    services = compose["services"]

    assert {"postgres", "redis", *AURORA_SERVICES} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["redis"]["image"].startswith("redis:")
    migrate = " ".join(command_of(services["migrate"]))
    assert "manage.py migrate --noinput" in migrate and "manage.py sync_registry" in migrate
    assert services["migrate"]["restart"] == "no"
    web = command_of(services["web"])
    assert web[:2] == ["gunicorn", "aurora.wsgi:application"]
    assert web[web.index("--config") + 1] == "deploy/gunicorn.conf.py"
    assert web[web.index("--bind") + 1] == "0.0.0.0:8000"
    worker = command_of(services["worker"])
    assert worker[:4] == ["celery", "-A", "aurora", "worker"]
    beat = command_of(services["beat"])
    assert beat[:4] == ["celery", "-A", "aurora", "beat"]
    assert beat[beat.index("--scheduler") + 1] == settings.CELERY_BEAT_SCHEDULER
    assert settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"
    # The Dockerfile's default command is the web one.
    cmd = re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), flags=re.MULTILINE)
    assert cmd is not None and json.loads(cmd.group(1)) == web


def test_compose_starts_the_application_after_the_release_step_and_healthy_services(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]

    assert services["migrate"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    assert "/health" in " ".join(services["web"]["healthcheck"]["test"])


def test_compose_environment_matches_the_settings(compose: dict[str, Any]) -> None:
    services = compose["services"]
    text = (ROOT / "docker-compose.yml").read_text()

    for name in AURORA_SERVICES:
        environment = services[name]["environment"]
        assert set(environment) - KNOWN == set(), name
        assert environment["DEBUG"] == "false"
        assert environment["DATABASE_URL"].startswith("postgres://aurora:")
        assert environment["DATABASE_URL"].endswith("@postgres:5432/aurora")
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
    # Every ${VARIABLE} the file interpolates is documented (.env.example) or read by the settings.
    interpolated = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    assert {"SECRET_KEY", "AURORA_DB_PASSWORD", "POSTGRES_PASSWORD"} <= interpolated
    assert interpolated - KNOWN == set()
    # Every process counts into one shared directory, emptied by the release step before they start.
    metrics_dir = services["web"]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    for name in AURORA_SERVICES:
        assert services[name]["environment"]["PROMETHEUS_MULTIPROC_DIR"] == metrics_dir
        assert f"metrics:{metrics_dir}" in services[name]["volumes"]
    assert command_of(services["migrate"])[-1].startswith(f"rm -rf {metrics_dir}/* && ")
    assert "metrics" in compose["volumes"]
    # The init script's variables reach the postgres container, and it creates the role the
    # application connects as: no superuser, no BYPASSRLS (row-level security binds it).
    init = (DEPLOY / "postgres-init/10-aurora-role.sh").read_text()
    assert set(re.findall(r"\$([A-Z_]+)", init)) <= set(services["postgres"]["environment"])
    assert "CREATE ROLE aurora LOGIN" in init and "NOSUPERUSER NOBYPASSRLS" in init


# ---- systemd --------------------------------------------------------------------------------------


class _MultiDict(dict):  # type: ignore[type-arg]
    """Keeps every value of a key systemd allows more than once (ExecStart of a oneshot)."""

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(value, list) and key in self:
            self[key].extend(value)
        else:
            super().__setitem__(key, value)


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(
        strict=False, interpolation=None, dict_type=_MultiDict, empty_lines_in_values=False
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string((UNITS / name).read_text())
    return parser


def exec_lines(parsed: configparser.ConfigParser, key: str = "ExecStart") -> list[list[str]]:
    return [shlex.split(line) for line in parsed["Service"][key].splitlines() if line]


def env_example() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / "aurora.env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


def test_the_services_run_the_real_entry_points() -> None:
    web = exec_lines(unit("aurora-web.service"))
    worker = exec_lines(unit("aurora-worker.service"))
    beat = exec_lines(unit("aurora-beat.service"))
    migrate = exec_lines(unit("aurora-migrate.service"))

    assert web == [
        [
            f"{APP_DIR}/.venv/bin/gunicorn",
            "aurora.wsgi:application",
            "--config",
            "deploy/gunicorn.conf.py",
            "--bind",
            "127.0.0.1:8000",
        ]
    ]
    module, attribute = web[0][1].split(":")
    assert callable(getattr(importlib.import_module(module), attribute))
    assert (ROOT / web[0][3]).is_file()
    assert worker[0][:4] == [f"{APP_DIR}/.venv/bin/celery", "--app", "aurora", "worker"]
    assert beat[0][:4] == [f"{APP_DIR}/.venv/bin/celery", "--app", "aurora", "beat"]
    assert importlib.import_module("aurora.celery").app.main == "aurora"
    scheduler = beat[0][beat[0].index("--scheduler") + 1]
    assert scheduler == settings.CELERY_BEAT_SCHEDULER
    scheduler_module, scheduler_class = scheduler.split(":")
    assert hasattr(importlib.import_module(scheduler_module), scheduler_class)
    commands = get_commands()
    assert [line[2] for line in migrate] == ["migrate", "sync_registry", "collectstatic"]
    for line in migrate:
        assert line[:2] == [f"{APP_DIR}/.venv/bin/python", "manage.py"]
        assert line[2] in commands
        assert "--noinput" in line or line[2] == "sync_registry"
    backup = exec_lines(unit("aurora-backup.service"))
    assert backup == [[f"{APP_DIR}/scripts/backup"]]
    assert os.access(ROOT / "scripts/backup", os.X_OK)


def test_every_unit_runs_as_the_dedicated_user_with_the_environment_file_and_hardening() -> None:
    sysusers = (UNITS / "aurora.sysusers.conf").read_text().split("\n")
    assert any(line.split()[:2] == ["u", "aurora"] for line in sysusers if line.strip() and line[0] != "#")

    for name in (*LONG_RUNNING, "aurora-migrate", "aurora-backup"):
        service = unit(f"{name}.service")["Service"]
        assert (service["User"], service["Group"]) == ("aurora", "aurora"), name
        assert service["WorkingDirectory"] == APP_DIR
        assert service["EnvironmentFile"] == ENV_FILE
        for key, value in HARDENING.items():
            assert service[key] == value, f"{name}: {key}"
        assert "/var/lib/aurora" in service["ReadWritePaths"].split()
    for name in LONG_RUNNING:
        parsed = unit(f"{name}.service")
        assert parsed["Service"]["Restart"] == "on-failure", name
        assert parsed["Unit"]["Requires"] == "aurora-migrate.service"
        assert "aurora-migrate.service" in parsed["Unit"]["After"].split()
        assert parsed["Install"]["WantedBy"] == "aurora.target"
    migrate = unit("aurora-migrate.service")["Service"]
    assert (migrate["Type"], migrate["RemainAfterExit"]) == ("oneshot", "yes")
    assert unit("aurora-web.service")["Service"]["Type"] == "notify"  # gunicorn tells systemd it is up
    wanted = unit("aurora.target")["Unit"]["Wants"].split()
    assert {f"{name}.service" for name in (*LONG_RUNNING, "aurora-migrate")} == set(wanted)
    assert unit("aurora-backup.timer")["Timer"]["OnCalendar"]


def test_the_environment_file_holds_only_known_settings_and_points_where_nginx_looks() -> None:
    values = env_example()
    nginx = (DEPLOY / "nginx/aurora.conf").read_text()

    assert set(values) - KNOWN == set()
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "STATIC_ROOT"} <= set(values)
    assert values["DEBUG"] == "false"
    assert values["SECURE_PROXY_SSL_HEADER"] == "true" and values["HTTPS_ONLY"] == "true"
    assert values["AURORA_ENV_FILES"] == ""  # nothing read from the checkout
    alias = re.search(r"location /static/ \{\s*alias ([^;]+);", nginx)
    assert alias is not None and alias.group(1).rstrip("/") == values["STATIC_ROOT"]
    assert settings.STATIC_URL == "/static/"
    for name in ("aurora-web", "aurora-migrate"):
        assert values["STATIC_ROOT"].startswith(unit(f"{name}.service")["Service"]["ReadWritePaths"])
    metrics_dir = values["PROMETHEUS_MULTIPROC_DIR"]
    for name in LONG_RUNNING:
        assert metrics_dir.startswith(unit(f"{name}.service")["Service"]["ReadWritePaths"])
    assert exec_lines(unit("aurora-migrate.service"), "ExecStartPre") == [
        ["/bin/rm", "-rf", metrics_dir],
        ["/bin/mkdir", "-p", metrics_dir],
    ]


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    # The checkout stands in for /opt/aurora, so the commands are checked to exist and be executable.
    names = [p.name for p in UNITS.iterdir() if p.suffix in {".service", ".timer", ".target"}]
    for name in names:
        text = (UNITS / name).read_text().replace(APP_DIR, str(ROOT))
        (tmp_path / name).write_text(text.replace(ENV_FILE, str(DEPLOY / "aurora.env.example")))

    if not (ROOT / ".venv/bin/gunicorn").exists():
        pytest.skip("no .venv in the checkout to stand in for /opt/aurora/.venv")

    result = subprocess.run(
        [
            str(shutil.which("systemd-analyze")),
            "verify",
            "--man=no",
            *sorted(str(tmp_path / name) for name in names),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if "aurora" in line] == []


# ---- nginx ----------------------------------------------------------------------------------------


def nginx_site() -> str:
    return (DEPLOY / "nginx/aurora.conf").read_text()


def test_the_nginx_site_matches_gunicorn_and_the_proxy_settings() -> None:
    site = nginx_site()
    gunicorn: dict[str, Any] = {}
    exec(compile((DEPLOY / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), gunicorn)  # noqa: S102

    assert re.search(r"upstream aurora_app \{\s*server 127\.0\.0\.1:8000\b", site)
    assert re.search(r"listen 80;.*?return 301 https://\$host\$request_uri;", site, flags=re.DOTALL)
    assert re.search(r"listen 443 ssl", site)
    assert "ssl_certificate /etc/letsencrypt/live/aurora.example.com/fullchain.pem;" in site
    assert "ssl_certificate_key /etc/letsencrypt/live/aurora.example.com/privkey.pem;" in site
    hsts = re.findall(r'add_header Strict-Transport-Security "max-age=(\d+)[^"]*" always;', site)
    assert hsts and {int(seconds) for seconds in hsts} == {31_536_000}
    # Django trusts X-Forwarded-Proto when SECURE_PROXY_SSL_HEADER=true: nginx must set it itself.
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in site
    assert "proxy_set_header Host $host;" in site
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in site
    read_timeout = re.search(r"proxy_read_timeout (\d+)s;", site)
    assert read_timeout is not None and int(read_timeout.group(1)) >= gunicorn["timeout"]
    assert re.search(r"client_max_body_size \d+m;", site)


@pytest.fixture
def stand_in_app() -> Iterator[tuple[int, list[dict[str, str]]]]:
    """An HTTP server on a free port that answers like the application and records the headers."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
            body = b'{"status": "ok"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
            self.send_header("X-Request-ID", self.headers.get("X-Request-ID", ""))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    subprocess.run(
        [
            str(shutil.which("openssl")),
            *("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"),
            *("-days", "1", "-subj", "/CN=aurora.example.com"),
            *("-keyout", str(key_path), "-out", str(cert_path)),
        ],
        capture_output=True,
        check=True,
        timeout=30,
    )
    return cert_path, key_path


def test_nginx_redirects_to_https_and_proxies_with_the_headers_django_trusts(
    tmp_path: Path, stand_in_app: tuple[int, list[dict[str, str]]]
) -> None:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        pytest.skip("nginx is not installed")
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (for a test certificate)")
    app_port, seen = stand_in_app
    http_port, https_port = free_port(), free_port()
    cert, key = self_signed(tmp_path)
    static = tmp_path / "static"
    (static / "aurora").mkdir(parents=True)
    (static / "aurora/app.css").write_text("body { color: black }")
    (tmp_path / "logs").mkdir()
    site = (
        nginx_site()
        .replace("/etc/letsencrypt/live/aurora.example.com/fullchain.pem", str(cert))
        .replace("/etc/letsencrypt/live/aurora.example.com/privkey.pem", str(key))
        .replace("/var/log/nginx", str(tmp_path / "logs"))
        .replace("/var/lib/aurora/static/", f"{static}/")
        .replace("server 127.0.0.1:8000", f"server 127.0.0.1:{app_port}")
        .replace("listen 80;", f"listen 127.0.0.1:{http_port};")
        .replace("listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl")
    )
    site = "\n".join(line for line in site.splitlines() if "listen [::]" not in line)
    (tmp_path / "site.conf").write_text(site)
    # Temporary directories compiled into the binary may not be writable here: point them at tmp.
    built = subprocess.run([nginx, "-V"], capture_output=True, text=True, check=False).stderr
    temp_paths = "".join(
        f"{kind.replace('-', '_')}_temp_path {tmp_path / kind};\n"
        for kind in re.findall(r"--http-([a-z-]+)-temp-path=", built)
    )
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers read the static files in tmp
    (tmp_path / "nginx.conf").write_text(
        f"{user}daemon off;\npid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'logs/error.log'};\n"
        f"events {{}}\nhttp {{\n{temp_paths}include /etc/nginx/mime.types;\n"
        f"include {tmp_path / 'site.conf'};\n}}\n"
    )
    process = subprocess.Popen(
        [nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=0.2).close()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                time.sleep(0.05)
        host = {"Host": "aurora.example.com"}
        with httpx.Client(verify=False, timeout=5) as client:  # noqa: S501 (a self-signed test certificate)
            plain = client.get(f"http://127.0.0.1:{http_port}/admin/?next=x", headers=host)
            app = client.get(f"https://127.0.0.1:{https_port}/portal/", headers=host)
            static_file = client.get(f"https://127.0.0.1:{https_port}/static/aurora/app.css", headers=host)
            metrics = client.get(f"https://127.0.0.1:{https_port}/metrics", headers=host)
            challenge = client.get(f"http://127.0.0.1:{http_port}/.well-known/acme-challenge/x", headers=host)
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert plain.status_code == 301
    assert plain.headers["location"] == "https://aurora.example.com/admin/?next=x"
    assert challenge.status_code == 404  # served from the webroot, not redirected
    assert app.status_code == 200 and app.json() == {"status": "ok"}
    request = seen[0]
    assert request["path"] == "/portal/"
    assert request["x-forwarded-proto"] == "https"  # what SECURE_PROXY_SSL_HEADER looks for
    assert request["host"] == "aurora.example.com"
    assert request["x-forwarded-for"] == "127.0.0.1"
    assert re.fullmatch(r"[0-9a-f]{32}", request["x-request-id"])  # a UUID to Django
    assert app.headers.get_list("strict-transport-security") == ["max-age=31536000; includeSubDomains"]
    assert static_file.status_code == 200 and static_file.text == "body { color: black }"
    assert "max-age=31536000" in static_file.headers["strict-transport-security"]
    assert static_file.headers["cache-control"].startswith("max-age=")
    # /metrics goes to the application, marked as proxied: it asks for METRICS_TOKEN then.
    assert metrics.status_code == 200 and seen[-1]["path"] == "/metrics"
    assert seen[-1]["x-forwarded-for"] == "127.0.0.1"
    assert [request["path"] for request in seen] == ["/portal/", "/metrics"]  # not the static file
