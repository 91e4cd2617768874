"""The PostgreSQL that `scripts/services.sh` starts keeps every commit it reported through a crash.

A cluster of its own is started by the script (a copy of scripts/ in a temporary project root, on
a free port), so the test runs the configuration `make demo` runs. Many small transactions are
committed as fast as possible, the server is SIGKILLed the moment the last commit returns, and
after a restart every committed row is there: with `synchronous_commit = off` the last ones
would be lost (their WAL still in shared memory), and with `fsync = off` a machine crash would
lose more, so both are asserted on.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from django.conf import settings

COMMITS = 400
BASH = shutil.which("bash") or "/bin/bash"
pytestmark = pytest.mark.skipif(
    shutil.which("initdb") is None and not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")),
    reason="PostgreSQL server programs are not installed",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Cluster:
    root: Path
    env: dict[str, str]

    def services(self, action: str) -> None:
        completed = subprocess.run(
            [BASH, str(self.root / "scripts" / "services.sh"), action],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr

    def url(self) -> str:
        for line in (self.root / ".var" / "services.env").read_text().splitlines():
            if line.startswith("DATABASE_OWNER_URL="):
                return line.partition("=")[2]
        raise AssertionError("services.sh wrote no DATABASE_OWNER_URL")

    def data(self) -> Path:
        return (self.root / ".var" / "postgres").resolve() / "data"

    def crash(self) -> None:
        """SIGKILL the postmaster and every backend at once, as the kernel's OOM killer would."""
        postmaster = int((self.data() / "postmaster.pid").read_text().split()[0])
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
        for pid in [postmaster, *map(int, children)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{postmaster}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("durable-project")
    root.chmod(0o755)
    shutil.copytree(Path(settings.BASE_DIR) / "scripts", root / "scripts")
    env = {
        **{
            key: value
            for key, value in os.environ.items()
            if key not in ("DATABASE_URL", "DATABASE_OWNER_URL")
        },
        "AURORA_PG_PORT": str(_free_port()),
        "REDIS_URL": "redis://127.0.0.1:1/0",  # set: services.sh leaves Redis alone
    }
    made = Cluster(root, env)
    made.services("up")
    area = (root / ".var" / "postgres").resolve()
    try:
        yield made
    finally:
        subprocess.run([BASH, str(root / "scripts" / "services.sh"), "down"], env=env, capture_output=True)
        if area != root / ".var" / "postgres":
            shutil.rmtree(area, ignore_errors=True)


def test_commits_reported_before_a_sigkill_of_the_server_survive_its_restart(cluster: Cluster) -> None:
    url = cluster.url()
    with psycopg.connect(url, autocommit=True) as session:
        settings_in_force = {
            name: session.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in ("fsync", "synchronous_commit", "full_page_writes")
        }
        session.execute("CREATE TABLE committed (n integer PRIMARY KEY, note text NOT NULL)")
        for n in range(COMMITS):  # autocommit: each INSERT is a transaction reported committed
            session.execute("INSERT INTO committed VALUES (%s, %s)", [n, "x" * 200])
        cluster.crash()

    assert settings_in_force == {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
    cluster.services("up")  # crash recovery replays the WAL
    with psycopg.connect(url, autocommit=True) as session:
        count, highest = session.execute("SELECT count(*), max(n) FROM committed").fetchone()  # type: ignore[misc]
    assert (count, highest) == (COMMITS, COMMITS - 1)
    assert urlsplit(url).port == int(cluster.env["AURORA_PG_PORT"])
