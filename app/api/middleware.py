"""ASGI middleware: request body size limit."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import problem_response


class BodySizeLimit:
    """Refuse bodies above ``max_bytes`` with 413, whether or not Content-Length is announced."""

    def __init__(self, app: ASGIApp, max_bytes: int, document_max_bytes: int | None = None) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        self.document_max_bytes = document_max_bytes or max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Document uploads (embedded PDFs, received CDA) get their own, larger limit.
        limit = self.document_max_bytes if "/documents" in scope.get("path", "") else self.default_max_bytes
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._refuse(scope, receive, send, limit)
                return
        received = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(scope, receive, send, limit)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem_response(
            None,
            status=413,
            code="payload-too-large",
            title="Request body too large",
            detail=f"The limit is {limit} bytes",
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass
