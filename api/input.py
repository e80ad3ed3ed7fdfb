"""Request hygiene before any route runs: a URL whose path or query holds a character Spacecast
refuses in text (``pipeline.text``: control characters such as NUL, noncharacters, bidirectional
overrides) is answered 400 naming it, so no route, query or database ever sees one. Request
bodies are checked field by field by the schemas (``api.schemas.InputModel``)."""

from __future__ import annotations

import json
from urllib.parse import unquote

from starlette.types import ASGIApp, Receive, Scope, Send

from pipeline.text import refused_class, text_problem


def url_problem(path: str, query: bytes) -> str | None:
    decoded_query = unquote(query.decode("latin-1"), errors="replace")
    for part, value in (("path", path), ("query", decoded_query)):
        problem = text_problem(value)
        if problem:
            return f"the URL's {part} {problem}"
    return None


class CleanURL:
    """ASGI middleware refusing URLs with refused characters (400)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = url_problem(scope.get("path", ""), scope.get("query_string", b""))
            if problem:
                await send_refusal(send, 400, problem)
                return
        await self.app(scope, receive, send)


def declare_clean_parameters(openapi: dict) -> dict:
    """Say in the OpenAPI schema what :class:`CleanURL` refuses: every string path and query
    parameter without a pattern of its own gets one that excludes the refused characters."""
    pattern = f"^[^{refused_class()}]*$"
    for operations in openapi.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                schema = parameter.get("schema", {})
                for variant in schema.get("anyOf", [schema]):
                    if variant.get("type") == "string" and "pattern" not in variant:
                        variant["pattern"] = pattern
    return openapi


async def send_refusal(send: Send, status: int, detail: str) -> None:
    """Answer ``{"detail": ...}`` from ASGI middleware, before the request reaches a route."""
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
