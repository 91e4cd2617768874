"""A lean HTTP/1.1 client for the load generators: GET over one kept-alive connection per client,
reconnecting when the server closes it. It runs on the same cores as the server it measures, so it
must cost as little as possible: httpx spent ~2 CPU-ms a request, this ~0.1 ms (like wrk, it does
not validate what it does not need: status, headers, a Content-Length or chunked body)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit


class HttpError(Exception):
    pass


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class LeanClient:
    base_url: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 30.0
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> LeanClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        return await asyncio.wait_for(self._get(path, headers or {}), self.timeout)

    async def _get(self, path: str, headers: dict[str, str]) -> Answer:
        parts = urlsplit(self.base_url)
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(parts.hostname, parts.port)
        reader = self._reader
        if reader is None:
            raise HttpError("not connected")
        lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{name}: {value}" for name, value in {**self.headers, **headers}.items()]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            await self.close()
            raise HttpError(f"connection lost: {error}") from error
        status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        answer_headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            answer_headers[name.strip().lower()] = value.strip()
        body = await self._body(reader, answer_headers, status)
        if answer_headers.get("connection", "").lower() == "close":
            await self.close()
        return Answer(status, answer_headers, body)

    async def _body(self, reader: asyncio.StreamReader, headers: dict[str, str], status: int) -> bytes:
        if status in (204, 304) or 100 <= status < 200:
            return b""
        if "content-length" in headers:
            return await reader.readexactly(int(headers["content-length"]))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    return b"".join(chunks)
                chunks.append(chunk[:-2])
        body = await reader.read()  # until the server closes
        headers["connection"] = "close"
        return body
