"""A local HTTP file server with the failure modes downloads meet in the wild.

`GET /{mode}/{name}` serves the bytes registered under `name`, shaped by `mode`:
  normal     200, or 206 for a `Range: bytes=N-` request
  norange    always 200 with the whole body (a server that ignores Range)
  missing    404
  truncated  Content-Length of the whole body, but only the first half is sent before the close
  wrong      the body with its last byte changed (a corrupt or replaced file)
Every request's path and Range header is recorded, so tests can see whether a resume happened.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_RANGE = re.compile(r"bytes=(\d+)-$")


@dataclass
class FileServer:
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    port: int = 0

    def url(self, name: str, mode: str = "normal") -> str:
        return f"http://127.0.0.1:{self.port}/{mode}/{name}"


def _handler(server: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            rng = self.headers.get("Range")
            server.requests.append((self.path, rng))
            _, mode, name = self.path.split("/", 2)
            body = server.files.get(name)
            if body is None or mode == "missing":
                self._send(404, b"not found")
                return
            if mode == "wrong":
                body = body[:-1] + bytes([body[-1] ^ 0xFF])
            if mode == "truncated":
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            m = _RANGE.match(rng or "")
            if mode == "normal" and m:
                start = int(m.group(1))
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(body[start:])
                return
            self._send(200, body)

        def _send(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def serve(files: dict[str, bytes]) -> Iterator[FileServer]:
    """Run a FileServer on 127.0.0.1 (a free port) in a background thread for the `with` block."""
    state = FileServer(files=dict(files))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
