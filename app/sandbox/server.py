"""Run an ASGI sandbox on a loopback port in a background thread (port 0: the system picks one), over plain
HTTP or over TLS requiring a client certificate of the sandbox's throwaway CA."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from typing import Any, Literal

import uvicorn

from app.sandbox.pki import Pki


class BackgroundServer:
    """``with BackgroundServer(app) as server: server.url``. The port is bound at once, so it is known
    (``server.port``) before the server starts."""

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        lifespan: Literal["auto", "on", "off"] = "off",
        *,
        name: str = "sandbox",
        mutual_tls: Pki | None = None,
        http: Any = None,
    ) -> None:
        self.name = name
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        options: dict[str, Any] = {}
        if mutual_tls is not None:
            options = {
                "ssl_certfile": str(mutual_tls.server_cert),
                "ssl_keyfile": str(mutual_tls.server_key),
                "ssl_ca_certs": str(mutual_tls.ca_cert),
                "ssl_cert_reqs": ssl.CERT_REQUIRED,
            }
        if http is not None:
            options["http"] = http
        self.scheme = "https" if mutual_tls is not None else "http"
        self.config = uvicorn.Config(
            app,
            host=host,
            port=self.port,
            log_level="warning",
            lifespan=lifespan,
            timeout_graceful_shutdown=1,
            access_log=False,
            **options,
        )
        self.server = uvicorn.Server(self.config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self) -> BackgroundServer:
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._socket]}, name=self.name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the {self.name} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
