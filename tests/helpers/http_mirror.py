"""Test helper: a tiny HTTP mirror on 127.0.0.1, served from a thread.

Each file is served in a mode: ``"ok"``, ``"corrupt"`` (one byte flipped, same
length), ``"drop"`` (announces the full length, sends half, then closes the
connection), ``"missing"`` (HTTP 404), ``"error"`` (HTTP 503) or ``"stall"``
(sends the headers, then nothing for ``stall_seconds``).

Example (in a test)::

    with HttpMirror({"a.bin": b"..."}, modes={"a.bin": "drop"}) as mirror:
        fetch_file("a.bin", ..., mirrors=[mirror.url])
    assert mirror.requests == ["/a.bin", ...]
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
from types import TracebackType

__all__ = ["HttpMirror", "refused_url"]


class HttpMirror:
    """Serves ``files`` (name -> bytes) at ``self.url`` while in a ``with`` block."""

    def __init__(
        self,
        files: dict[str, bytes],
        *,
        mode: str = "ok",
        modes: dict[str, str] | None = None,
        stall_seconds: float = 2.0,
    ) -> None:
        self.files = dict(files)
        self.mode = mode
        self.modes = dict(modes or {})
        self.stall_seconds = stall_seconds
        self.requests: list[str] = []
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                mirror.requests.append(self.path)
                name = self.path.rsplit("/", 1)[-1]
                mode = mirror.modes.get(name, mirror.mode)
                if name not in mirror.files or mode == "missing":
                    self.send_error(404, "Not Found")
                    return
                if mode == "error":
                    self.send_error(503, "Service Unavailable")
                    return
                body = mirror.files[name]
                if mode == "corrupt":
                    middle = len(body) // 2
                    body = body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :]
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode == "stall":
                    self.wfile.flush()
                    time.sleep(mirror.stall_seconds)
                    return
                if mode == "drop":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        """The base URL, ending in ``/``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def __enter__(self) -> HttpMirror:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def refused_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
