"""A fault-injecting TCP proxy in front of the real MinIO, on 127.0.0.1.

The stages are pointed at the proxy (S3_ENDPOINT_URL); MinIO itself stays real and
untouched. The proxy passes traffic through until the test switches it to a fault:

- ``slowdown``: every new request is answered ``503 SlowDown`` with the S3 error body
  MinIO and AWS send when they shed load, and the connection is closed;
- ``reset``: every new connection is reset (TCP RST) as soon as it is accepted;
- ``stall``: connections are accepted and read from, and never answered.

A brown-out the stage should ride out is a script of faults, one per new connection,
after which traffic passes again (``brownout("slowdown", "reset", ...)``). Switching
aborts the connections already open, so a client's pooled keep-alive connection cannot
slip past a fault.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field

SLOWDOWN_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message>"
    b"<Resource>/</Resource><RequestId>fault-proxy</RequestId></Error>"
)
SLOWDOWN = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: "
    + str(len(SLOWDOWN_BODY)).encode()
    + b"\r\n\r\n"
    + SLOWDOWN_BODY
)
MODES = ("pass", "slowdown", "reset", "stall")


@dataclass
class FaultProxy:
    upstream_port: int
    mode: str = "pass"
    script: list[str] = field(default_factory=list)  # faults for the next connections
    faulted: int = 0  # connections that met a fault since the last switch
    _server: socket.socket | None = None
    _open: set = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _closing: threading.Event = field(default_factory=threading.Event)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.getsockname()[1]}"

    def __enter__(self) -> FaultProxy:
        self._server = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, name="fault-proxy", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._closing.set()
        self._server.close()
        self._abort_open()

    def set(self, mode: str) -> None:
        """Every new connection meets ``mode`` until the next switch."""
        self._switch(mode, [])

    def brownout(self, *faults: str) -> None:
        """The next connections meet ``faults`` in turn; traffic passes after them."""
        self._switch("pass", list(faults))

    def _switch(self, mode: str, script: list[str]) -> None:
        unknown = {mode, *script} - set(MODES)
        if unknown:
            raise ValueError(f"unknown fault mode(s) {sorted(unknown)}; one of {MODES}")
        with self._lock:
            self.mode, self.script, self.faulted = mode, script, 0
        self._abort_open()

    # ------------------------------------------------------------------ internals

    def _abort_open(self) -> None:
        with self._lock:
            open_now, self._open = list(self._open), set()
        for s in open_now:
            _reset(s)

    def _track(self, s: socket.socket) -> None:
        with self._lock:
            self._open.add(s)

    def _next_mode(self) -> str:
        with self._lock:
            mode = self.script.pop(0) if self.script else self.mode
            if mode != "pass":
                self.faulted += 1
            return mode

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        mode = self._next_mode()
        if mode == "reset":
            _reset(client)
            return
        if mode == "stall":
            self._track(client)  # held open: a switch must be able to abort it
            with contextlib.suppress(OSError):
                while client.recv(65536):
                    pass  # read everything, answer nothing
            return
        if mode == "slowdown":
            with contextlib.suppress(OSError):
                _read_request(client)
                client.sendall(SLOWDOWN)
                client.shutdown(socket.SHUT_RDWR)
            client.close()
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        except OSError:
            _reset(client)
            return
        self._track(client)
        self._track(upstream)
        back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
        back.start()
        _pump(client, upstream)
        back.join()
        with self._lock:
            self._open -= {client, upstream}
        client.close()
        upstream.close()


def _read_request(s: socket.socket) -> None:
    """Read one request's head, and its body unless the client waits for 100-continue."""
    s.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    headers = {
        k.strip().lower(): v.strip()
        for k, _, v in (line.partition(b":") for line in head.split(b"\r\n")[1:])
    }
    if headers.get(b"expect", b"").lower() == b"100-continue":
        return
    left = int(headers.get(b"content-length", b"0") or 0) - len(body)
    while left > 0:
        chunk = s.recv(min(left, 65536))
        if not chunk:
            return
        left -= len(chunk)


def _pump(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


def _reset(s: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), the way a dropped load balancer connection ends."""
    with contextlib.suppress(OSError):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        s.close()
