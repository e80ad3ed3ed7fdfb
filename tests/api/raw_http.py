"""Requests through the app itself with header bytes exactly as given, as an HTTP server passes
them on (the test client re-encodes header values as UTF-8, so it cannot send a Latin-1 byte)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import anyio


def raw_request(
    app, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> tuple[int, bytes]:
    """(status, body) of one request; ``path`` may carry a query string."""
    path, _, query = path.partition("?")
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
        "root_path": "", "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
        "headers": [(b"host", b"testserver"), *headers],
    }  # fmt: skip
    # In a thread of its own: a test run in any order may hold an event loop in this thread
    # already (the browser tests' Playwright does), and anyio.run refuses to nest in one.
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(anyio.run, app, scope, receive, send).result()
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
