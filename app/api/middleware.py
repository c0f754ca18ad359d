"""ASGI middleware: request body size limit."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import problem_response


class BodySizeLimit:
    """Refuse bodies above ``max_bytes`` with 413, whether or not Content-Length is announced."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: tuple[tuple[str, int], ...] = ()) -> None:
        self.app = app
        self.default_bytes = max_bytes
        # (path fragment, limit): identity-document scans and CDA documents are larger than JSON bodies.
        self.larger = larger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        max_bytes = next((limit for fragment, limit in self.larger if fragment in path), self.default_bytes)
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > max_bytes:
                await self._refuse(scope, receive, send, max_bytes)
                return
        received = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    too_large = True
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(scope, receive, send, max_bytes)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, max_bytes: int) -> None:
        response = problem_response(
            None,
            status=413,
            code="payload-too-large",
            title="Request body too large",
            detail=f"The limit is {max_bytes} bytes",
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass
