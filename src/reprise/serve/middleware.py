"""Two pure ASGI middlewares: request metrics, and a request-body size limit answered with a JSON 413.

They are plain ASGI (no ``BaseHTTPMiddleware``): a few microseconds per request, and the body limit can refuse a
request before any of it is parsed.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    from reprise.serve.metrics import ServiceMetrics

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = ["BodyLimitMiddleware", "MetricsMiddleware"]

_WITH_BODY: Final = frozenset({"POST", "PUT", "PATCH"})


class MetricsMiddleware:
    """Count every HTTP request and its latency under its route's path (``unmatched`` for unknown paths).

    Args:
        app: The wrapped application.
        metrics: Where requests are counted.
        paths: The application's route paths (a request refused before routing is counted under its path).
    """

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics, paths: frozenset[str]) -> None:
        self.app = app
        self._metrics = metrics
        self._paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on and count it once answered (or failed)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("route")
            path = str(scope.get("path", ""))
            endpoint = getattr(route, "path", None) or (path if path in self._paths else "unmatched")
            self._metrics.observe_request(endpoint, str(scope.get("method", "")), status, time.perf_counter() - start)


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413 and a JSON failure body, before anything parses them.

    Args:
        app: The wrapped application.
        max_bytes: The largest body accepted.
        reject: Builds the 413 body (JSON bytes) from the limit.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, reject: Callable[[int], bytes]) -> None:
        self.app = app
        self._max = max_bytes
        self._reject = reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the body up to the limit, then replay it to the app; past the limit, answer 413 instead."""
        if scope["type"] != "http" or scope.get("method") not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self._max:
            await self._refuse(send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = bytes(message.get("body", b""))
            size += len(chunk)
            if size > self._max:
                await self._refuse(send)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        body = self._reject(self._max)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        # The unread rest of the body is not wanted: close the connection rather than drain it.
        headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
