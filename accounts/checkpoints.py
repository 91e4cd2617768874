"""Checkpoints of the audit chain's head, kept outside the database.

The hash chain shows an entry changed or removed in the middle; it cannot show a chain cut short
at its end, emptied, or rewritten and rehashed from some entry on, because the table alone holds
it. So every few minutes (and on demand) the head it has reached, after checking every link since
the previous checkpoint, is appended to a file as one line of JSON signed with HMAC-SHA256 by a key
that lives with the application, never in the database (AURORA_AUDIT_CHECKPOINT_KEY, default
derived from SECRET_KEY). `verify_audit_chain` then holds the table against every checkpoint:

- the table ends before a checkpoint's entry: its tail was deleted (or it was truncated);
- a checkpoint's entry has another hash: the chain was rewritten up to there;
- a line whose signature fails: the checkpoint file itself was edited.

What it does not cover: entries appended and removed between two checkpoints, and someone who has
both the database and the key. Keep the file where the database's administrators cannot rewrite
it (another host, an append-only or versioned bucket), and the key with the application's secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.audit import ChainBreak, verify_chain
from accounts.chain import GENESIS
from accounts.models import AuditLog
from aurora.common.hashing import canonical_json

VERSION = 1


class CheckpointError(Exception):
    """A checkpoint cannot be taken or read; the message says why."""


@dataclass(frozen=True)
class Checkpoint:
    sequence: int  # the head entry (0: the chain was empty)
    change_hash: str
    taken_at: str
    database: str
    line: int = 0  # where it is in the file, for messages

    def fields(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "database": self.database,
            "sequence": self.sequence,
            "change_hash": self.change_hash,
            "taken_at": self.taken_at,
        }


@dataclass(frozen=True)
class Finding:
    sequence: int | None
    problem: str


def checkpoint_key() -> bytes:
    secret = settings.AURORA_AUDIT_CHECKPOINT_KEY or settings.SECRET_KEY
    return hmac.new(secret.encode(), b"aurora.audit-checkpoint", hashlib.sha256).digest()


def _mac(fields: dict[str, Any]) -> str:
    return hmac.new(checkpoint_key(), canonical_json(fields).encode(), hashlib.sha256).hexdigest()


def checkpoint_file() -> Path:
    return Path(settings.AURORA_AUDIT_CHECKPOINT_FILE)


def _database() -> str:
    return str(connection.settings_dict["NAME"])


def read_checkpoints(path: Path | None = None) -> tuple[list[Checkpoint], list[Finding]]:
    """This database's checkpoints in file order, and the lines that could not be trusted."""
    path = path or checkpoint_file()
    checkpoints: list[Checkpoint] = []
    findings: list[Finding] = []
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], []
    except (OSError, UnicodeDecodeError) as error:
        raise CheckpointError(f"the checkpoint file {path} cannot be read: {error}") from error
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            document = json.loads(raw)
            mac = document.pop("mac")
            checkpoint = Checkpoint(
                sequence=int(document["sequence"]),
                change_hash=str(document["change_hash"]),
                taken_at=str(document["taken_at"]),
                database=str(document["database"]),
                line=number,
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            findings.append(Finding(None, f"checkpoint line {number} of {path} is not a checkpoint"))
            continue
        if not hmac.compare_digest(str(mac), _mac(checkpoint.fields())):
            findings.append(
                Finding(
                    checkpoint.sequence, f"checkpoint line {number} of {path} fails its signature: edited"
                )
            )
            continue
        if checkpoint.database == _database():
            checkpoints.append(checkpoint)
    return checkpoints, findings


def _head() -> tuple[int, str]:
    head = AuditLog.objects.order_by("-sequence").values_list("sequence", "change_hash").first()
    return (head[0], head[1]) if head else (0, GENESIS)


def take_checkpoint(path: Path | None = None) -> tuple[Checkpoint, bool]:
    """Check the chain since the last checkpoint and append its head: (the checkpoint, whether a
    line was written: none when the head has not moved). CheckpointError if the chain or the
    checkpoints already disagree: a broken chain is never signed."""
    path = path or checkpoint_file()
    checkpoints, untrusted = read_checkpoints(path)
    if untrusted:
        raise CheckpointError(f"not checkpointing: {untrusted[0].problem}")
    last = checkpoints[-1] if checkpoints else None
    problems = compare(checkpoints)
    if problems:
        raise CheckpointError(f"not checkpointing: {problems[0].problem}")
    since = (last.sequence, last.change_hash) if last is not None and last.sequence else None
    _checked, broken = verify_chain(since=since)
    if broken is not None:
        raise CheckpointError(f"not checkpointing: entry {broken.sequence} {broken.problem}")
    sequence, change_hash = _head()
    if last is not None and (last.sequence, last.change_hash) == (sequence, change_hash):
        return last, False
    checkpoint = Checkpoint(
        sequence=sequence,
        change_hash=change_hash,
        taken_at=timezone.now().isoformat(),
        database=_database(),
    )
    line = canonical_json({**checkpoint.fields(), "mac": _mac(checkpoint.fields())})
    _append(path, line)
    return checkpoint, True


def _append(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, (line + "\n").encode("utf-8"))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def compare(checkpoints: list[Checkpoint]) -> list[Finding]:
    """Where the table disagrees with the checkpoints, by sequence number."""
    if not checkpoints:
        return []
    head_sequence, _head_hash = _head()
    wanted = {checkpoint.sequence for checkpoint in checkpoints if checkpoint.sequence}
    stored = dict(AuditLog.objects.filter(sequence__in=wanted).values_list("sequence", "change_hash"))
    findings: list[Finding] = []
    reached = max(checkpoints, key=lambda checkpoint: checkpoint.sequence)
    if reached.sequence > head_sequence:
        first_missing = head_sequence + 1
        findings.append(
            Finding(
                first_missing,
                f"entries {first_missing}-{reached.sequence} are missing: the checkpoint of "
                f"{reached.taken_at} saw the chain reach entry {reached.sequence}, the table ends "
                + (f"at entry {head_sequence}" if head_sequence else "empty")
                + " (its tail was deleted or the table truncated)",
            )
        )
    for checkpoint in checkpoints:
        if not checkpoint.sequence or checkpoint.sequence not in stored:
            continue
        if stored[checkpoint.sequence] != checkpoint.change_hash:
            findings.append(
                Finding(
                    checkpoint.sequence,
                    f"entry {checkpoint.sequence} differs from the checkpoint of {checkpoint.taken_at}: the "
                    f"chain was rewritten and rehashed up to entry {checkpoint.sequence}",
                )
            )
            break  # every later checkpoint differs for the same reason
    return findings


@dataclass(frozen=True)
class Verification:
    entries: int
    broken: ChainBreak | None
    findings: list[Finding]
    last_checkpoint: Checkpoint | None

    @property
    def intact(self) -> bool:
        return self.broken is None and not self.findings


def verify_with_checkpoints(path: Path | None = None) -> Verification:
    """Every link of the chain, and the table against every checkpoint of this database."""
    entries, broken = verify_chain()
    checkpoints, untrusted = read_checkpoints(path)
    findings = untrusted + compare(checkpoints)
    return Verification(entries, broken, findings, checkpoints[-1] if checkpoints else None)
