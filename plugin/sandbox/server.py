"""Run the sandbox over HTTPS: in a thread for tests (``start_sandbox``) or in the foreground
for ``salescoach sandbox serve``."""

from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from plugin.sandbox.app import create_sandbox_app
from plugin.sandbox.config import SandboxPaths, sandbox_paths


def ssl_context(paths: SandboxPaths) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(paths.cert), str(paths.key))
    return ctx


@dataclass
class SandboxHandle:
    """A running sandbox: ``base_url``, ``ca_path``, the Flask ``app`` and ``stop()``."""

    base_url: str
    ca_path: str
    app: Any
    server: BaseWSGIServer
    paths: SandboxPaths
    thread: threading.Thread | None = None
    _stopped: bool = field(default=False)

    @property
    def admin_token(self) -> str:
        return str(self.app.config["SANDBOX_ADMIN_TOKEN"])

    @property
    def admin_headers(self) -> dict[str, str]:
        """Headers the admin API (``/_sandbox/*``) wants."""
        return {"Authorization": f"Bearer {self.admin_token}"}

    @property
    def state(self) -> Any:
        return self.app.extensions["sandbox"]

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.thread is not None:  # a foreground serve_forever has already returned
            self.server.shutdown()
        self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=10)
        _forget_running(self.paths, self.base_url)


class QuietHandler(WSGIRequestHandler):
    """No access log (tests); errors still reach stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


def build_server(instance_path: Path, host: str = "127.0.0.1", port: int = 0,
                 quiet: bool = True, admin_token: str = "") -> SandboxHandle:
    paths = sandbox_paths(instance_path)
    app = create_sandbox_app(instance_path, admin_token)
    server = make_server(host, port, app, threaded=True, ssl_context=ssl_context(paths),
                         request_handler=QuietHandler if quiet else None)
    shown = "127.0.0.1" if host in ("127.0.0.1", "0.0.0.0", "") else host
    base_url = f"https://{shown}:{server.server_port}"
    paths.running.write_text(json.dumps({"base_url": base_url}))
    return SandboxHandle(base_url=base_url, ca_path=str(paths.ca), app=app, server=server,
                         paths=paths)


def start_sandbox(instance_path: Path, port: int = 0, host: str = "127.0.0.1") -> SandboxHandle:
    """Start the sandbox in a daemon thread (port 0 = a free port); call ``.stop()`` after."""
    handle = build_server(instance_path, host, port)
    thread = threading.Thread(target=handle.server.serve_forever, name="crm-sandbox",
                              daemon=True)
    thread.start()
    handle.thread = thread
    return handle


def _forget_running(paths: SandboxPaths, base_url: str) -> None:
    try:
        if json.loads(paths.running.read_text()).get("base_url") == base_url:
            paths.running.unlink()
    except (OSError, ValueError):
        pass
