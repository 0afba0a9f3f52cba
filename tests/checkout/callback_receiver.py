"""A real HTTP receiver on 127.0.0.1 for callback tests: records requests, answers as scripted."""

import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class ReceivedCallback:
    headers: dict[str, str]
    body: str


@dataclass
class CallbackReceiver:
    """Answers each POST with the next status of ``statuses`` (then 200), after waiting the
    next of ``delays`` seconds (then none; a wait ends early when the receiver stops)."""

    statuses: list[int] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    received: list[ReceivedCallback] = field(default_factory=list)
    url: str = ""
    body: bytes = b"ok"  # what every answer carries

    def __enter__(self) -> "CallbackReceiver":
        receiver = self
        self.stopped = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                receiver.received.append(ReceivedCallback(dict(self.headers.items()), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if receiver.delays:
                    receiver.stopped.wait(receiver.delays.pop(0))
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(receiver.body)))
                    self.end_headers()
                    self.wfile.write(receiver.body)
                except OSError:  # the sender hung up (or was killed) while we waited
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/checkout"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()


def unused_local_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused at once)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()
    return f"http://127.0.0.1:{port}/hooks"


@dataclass
class SlowDripReceiver:
    """Reads the request, then answers one byte every ``interval`` seconds and never finishes
    (until ``give_up_after`` seconds): a socket timeout alone never fires on it."""

    interval: float = 0.3
    give_up_after: float = 10.0
    url: str = ""

    def __enter__(self) -> "SlowDripReceiver":
        self.stopped = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hooks/slow"
        self.thread = threading.Thread(target=self._serve_one, daemon=True)
        self.thread.start()
        return self

    def _serve_one(self) -> None:
        connection, _address = self.listener.accept()
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                request += connection.recv(65536)
            answer = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000
            deadline = time.monotonic() + self.give_up_after
            for byte in answer:
                if self.stopped.wait(self.interval) or time.monotonic() > deadline:
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:  # the client hung up: what a deadline does
                    return

    def __exit__(self, *exc_info) -> None:
        self.stopped.set()
        self.listener.close()
        self.thread.join(timeout=5)
