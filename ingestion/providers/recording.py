"""Record live provider responses to files, and replay them through the same adapters.

Only the transport changes between live, record and replay: the adapters and the HTTP layer
run the same code. Recordings live under `<recordings_dir>/<chain>/<provider>/<scope>.jsonl`,
where the scope is what the adapter said a request belongs to (`head`, `850`, `850/<vote>`),
so replay reads one small file at a time and memory does not grow with the number of periods.

Each line holds one call: the request (HTTP method, path, query, body; JSON-RPC calls without
their id, so a batch is recorded call by call and can be replayed in any batch size), the
status and the response body exactly as received.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import httpx

from aurora.common.hashing import canonical_json, parse_json
from ingestion.providers.errors import ProviderBadResponse, RecordingMissing
from ingestion.providers.http import SCOPE_EXTENSION

_SCOPE_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")
_CACHED_SCOPES = 4
_LISTED_UNREADABLE_LINES = 3

Entries = dict[str, dict[str, Any]]


def _recorded_call(raw: bytes) -> dict[str, Any]:
    """One line of a recording; ValueError saying why it is unusable."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 (byte 0x{raw[error.start]:02x} at column {error.start + 1})") from None
    try:
        entry = parse_json(text)
    except ValueError as error:
        raise ValueError(f"not JSON ({str(error)[:120]})") from None
    status = entry.get("status") if isinstance(entry, dict) else None
    if (
        not isinstance(entry, dict)
        or not isinstance(entry.get("request"), dict)
        or "response" not in entry
        or not isinstance(status, int)
        or isinstance(status, bool)
    ):
        raise ValueError("not a recorded call (an object with request, status and response)")
    return entry


def read_scope(path: Path) -> tuple[Entries, list[str]]:
    """The recorded calls of a scope file by request (the newest wins), and its unreadable lines
    as `line N: why`: one damaged line must not hide the calls recorded next to it."""
    entries: Entries = {}
    unreadable: list[str] = []
    if not path.exists():
        return entries, unreadable
    for number, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            entry = _recorded_call(raw)
        except ValueError as error:
            unreadable.append(f"line {number}: {error}")
            continue
        entries[canonical_json(entry["request"])] = entry
    return entries, unreadable


def scope_path(directory: Path, scope: str) -> Path:
    segments = scope.split("/")
    if not all(_SCOPE_SEGMENT.match(segment) and segment not in {".", ".."} for segment in segments):
        raise ValueError(f"unsafe recording scope {scope!r}")
    return directory.joinpath(*segments[:-1], f"{segments[-1]}.jsonl")


def _request_json(request: httpx.Request) -> Any:
    content = request.content
    return parse_json(content) if content else None


def _is_rpc_batch(body: Any) -> bool:
    """A JSON-RPC batch (a non-empty array of calls); other JSON arrays are REST bodies (the Beacon
    API's lists of validator indices)."""
    return (
        isinstance(body, list)
        and bool(body)
        and all(isinstance(call, dict) and "method" in call for call in body)
    )


def _rpc_key(path: str, call: dict[str, Any]) -> dict[str, Any]:
    return {"path": path, "rpc": call.get("method"), "params": call.get("params", [])}


def request_entries(
    request: httpx.Request, ignored_params: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """The recording keys of a request: one per JSON-RPC call, or one for a REST call."""
    path = request.url.path
    body = _request_json(request)
    if _is_rpc_batch(body):
        return [_rpc_key(path, call) for call in body]
    if isinstance(body, dict) and body.get("jsonrpc") == "2.0":
        return [_rpc_key(path, body)]
    query = {
        key: value for key, value in sorted(request.url.params.multi_items()) if key not in ignored_params
    }
    key: dict[str, Any] = {"path": path, "http": request.method}
    if query:
        key["query"] = query
    if body is not None:
        key["body"] = body
    return [key]


def _scope(request: httpx.Request) -> str:
    return str(request.extensions.get(SCOPE_EXTENSION) or "unscoped")


def _json_response(status: int, body: Any) -> httpx.Response:
    # httpx's json= goes through the standard library; orjson is several times faster on the
    # megabyte bodies replay serves, and canonical_json keeps integers beyond 64 bits exact.
    return httpx.Response(
        status, content=canonical_json(body).encode("utf-8"), headers={"content-type": "application/json"}
    )


class RecordingTransport(httpx.BaseTransport):
    """Passes requests to the real transport and appends every successful answer to its scope file."""

    def __init__(
        self, inner: httpx.BaseTransport, directory: Path, *, ignored_params: frozenset[str] = frozenset()
    ) -> None:
        self.inner = inner
        self.directory = directory
        self.ignored_params = ignored_params
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        scope_path(self.directory, _scope(request))  # refuse an unsafe scope before calling out
        response = self.inner.handle_request(request)
        response.read()
        if 200 <= response.status_code < 300:
            try:
                body = parse_json(response.content)
            except ValueError:
                return response  # not JSON: nothing worth replaying
            self._write(request, response.status_code, body)
        return response

    def _write(self, request: httpx.Request, status: int, body: Any) -> None:
        keys = request_entries(request, self.ignored_params)
        sent = _request_json(request)
        lines = []
        if _is_rpc_batch(sent) and isinstance(body, list):
            answers = {item.get("id"): item for item in body if isinstance(item, dict)}
            for call, key in zip(sent, keys, strict=True):
                answer = {k: v for k, v in answers.get(call.get("id"), {}).items() if k != "id"}
                lines.append({"request": key, "status": status, "response": answer})
        elif isinstance(sent, dict) and sent.get("jsonrpc") == "2.0" and isinstance(body, dict):
            lines.append(
                {
                    "request": keys[0],
                    "status": status,
                    "response": {k: v for k, v in body.items() if k != "id"},
                }
            )
        else:
            lines.append({"request": keys[0], "status": status, "response": body})
        path = scope_path(self.directory, _scope(request))
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as handle:
                for line in lines:
                    handle.write(canonical_json(line) + "\n")

    def close(self) -> None:
        self.inner.close()


class ReplayTransport(httpx.BaseTransport):
    """Answers requests from recordings; a request never recorded is a RecordingMissing error."""

    def __init__(
        self, directory: Path, *, provider: str, ignored_params: frozenset[str] = frozenset()
    ) -> None:
        self.directory = directory
        self.provider = provider
        self.ignored_params = ignored_params
        self._cache: OrderedDict[Path, tuple[Entries, list[str]]] = OrderedDict()
        self._lock = threading.Lock()

    def _entries(self, path: Path) -> Entries:
        with self._lock:
            if path in self._cache:
                self._cache.move_to_end(path)
                return self._cache[path][0]
            self._cache[path] = read_scope(path)
            while len(self._cache) > _CACHED_SCOPES:
                self._cache.popitem(last=False)
            return self._cache[path][0]

    def _unreadable(self, path: Path) -> list[str]:
        with self._lock:
            cached = self._cache.get(path)
        return cached[1] if cached else []

    def _lookup(self, entries: Entries, key: dict[str, Any], path: Path, *, rpc: bool) -> dict[str, Any]:
        entry = entries.get(canonical_json(key))
        what = str(key.get("rpc") or f"{key.get('http')} {key.get('path')}")
        unreadable = self._unreadable(path) if entry is None else []
        if unreadable:
            # The call may be on a damaged line: the recorded answer is unusable, not absent.
            listed = "; ".join(unreadable[:_LISTED_UNREADABLE_LINES])
            more = len(unreadable) - _LISTED_UNREADABLE_LINES
            raise ProviderBadResponse(
                provider=self.provider,
                endpoint=what,
                reason=f"unreadable recording {path} ({listed}{f'; {more} more' if more > 0 else ''})",
            )
        if entry is None:
            raise RecordingMissing(
                provider=self.provider,
                endpoint=what,
                reason=f"no recording of {canonical_json(key)[:160]} in {path}",
            )
        if rpc and not isinstance(entry["response"], dict):
            raise ProviderBadResponse(
                provider=self.provider,
                endpoint=what,
                reason=f"recording in {path} holds no JSON-RPC answer object",
            )
        return entry

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = scope_path(self.directory, _scope(request))
        entries = self._entries(path)
        keys = request_entries(request, self.ignored_params)
        sent = _request_json(request)
        if _is_rpc_batch(sent):
            answers = []
            for call, key in zip(sent, keys, strict=True):
                entry = self._lookup(entries, key, path, rpc=True)
                answers.append({**entry["response"], "id": call.get("id")})
            return _json_response(200, answers)
        rpc = isinstance(sent, dict) and sent.get("jsonrpc") == "2.0"
        entry = self._lookup(entries, keys[0], path, rpc=rpc)
        body = entry["response"]
        if rpc:
            body = {**body, "id": sent.get("id")}
        return _json_response(int(entry["status"]), body)
