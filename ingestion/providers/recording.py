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
from ingestion.providers.errors import RecordingMissing
from ingestion.providers.http import SCOPE_EXTENSION

_SCOPE_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")
_CACHED_SCOPES = 4


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
        self._cache: OrderedDict[Path, dict[str, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def _entries(self, path: Path) -> dict[str, dict[str, Any]]:
        with self._lock:
            if path in self._cache:
                self._cache.move_to_end(path)
                return self._cache[path]
            entries: dict[str, dict[str, Any]] = {}
            if path.exists():
                with path.open(encoding="utf-8") as handle:
                    for line in handle:
                        if line.strip():
                            entry = parse_json(line)
                            entries[canonical_json(entry["request"])] = entry  # the newest wins
            self._cache[path] = entries
            while len(self._cache) > _CACHED_SCOPES:
                self._cache.popitem(last=False)
            return entries

    def _lookup(self, entries: dict[str, dict[str, Any]], key: dict[str, Any], path: Path) -> dict[str, Any]:
        entry = entries.get(canonical_json(key))
        if entry is None:
            what = key.get("rpc") or f"{key.get('http')} {key.get('path')}"
            raise RecordingMissing(
                provider=self.provider,
                endpoint=str(what),
                reason=f"no recording of {canonical_json(key)[:160]} in {path}",
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
                entry = self._lookup(entries, key, path)
                answers.append({**entry["response"], "id": call.get("id")})
            return _json_response(200, answers)
        entry = self._lookup(entries, keys[0], path)
        body = entry["response"]
        if isinstance(sent, dict) and sent.get("jsonrpc") == "2.0":
            body = {**body, "id": sent.get("id")}
        return _json_response(int(entry["status"]), body)
