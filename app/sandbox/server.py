"""Run an ASGI sandbox on a loopback port in a background thread (port 0: the system picks one)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Literal

import uvicorn


class BackgroundServer:
    """``with BackgroundServer(app) as server: server.url``."""

    def __init__(
        self, app: Any, host: str = "127.0.0.1", port: int = 0, lifespan: Literal["auto", "on", "off"] = "off"
    ) -> None:
        self.config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan=lifespan)
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def _run(self) -> None:
        asyncio.run(self.server.serve())

    def start(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the sandbox did not start")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
