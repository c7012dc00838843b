"""Webhook receivers that misbehave, on raw loopback sockets: one that trickles
its answer a byte at a time, one whose body never ends, one that never answers.
(``tests.support.WebhookReceiver`` is the well-behaved one.)"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable

Answer = Callable[[socket.socket, "RawReceiver"], None]


class RawReceiver:
    """Accepts connections on loopback; reads each one's request, then lets
    ``answer`` write what it likes, in a thread of its own. ``connections``
    counts the requests, ``sent`` the bytes answers got out. Closing it hangs
    up every connection still open."""

    def __init__(self, answer: Answer) -> None:
        self.connections = 0
        self.sent = 0
        self.closing = threading.Event()
        self._answer = answer
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> RawReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        self._thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            for conn in self._open:
                conn.close()

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with self._lock:
                self._open.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if conn.recv(65536):
                with self._lock:
                    self.connections += 1
                self._answer(conn, self)
        except OSError:  # the client hung up
            pass

    def send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        with self._lock:
            self.sent += len(data)

    async def until_connected(self, count: int, timeout: float = 20) -> None:
        async with asyncio.timeout(timeout):
            while self.connections < count:  # noqa: ASYNC110 - counted in another thread
                await asyncio.sleep(0.02)


def trickling(conn: socket.socket, receiver: RawReceiver) -> None:
    """A 200 whose head comes a byte every 0.1 s (each well within any read
    timeout): a minute in all."""
    head = b"HTTP/1.1 200 OK\r\nx-slow: " + b"x" * 600 + b"\r\ncontent-length: 0\r\n\r\n"
    for byte in head:
        if receiver.closing.wait(0.1):
            return
        receiver.send(conn, bytes([byte]))


def flooding(conn: socket.socket, receiver: RawReceiver) -> None:
    """A 200 at once, then a chunked body of 64 KiB chunks that never ends."""
    receiver.send(conn, b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    chunk = b"x" * 65536
    while not receiver.closing.is_set():
        receiver.send(conn, b"%x\r\n%s\r\n" % (len(chunk), chunk))


def hanging(conn: socket.socket, receiver: RawReceiver) -> None:
    """Never answers; the connection stays open until the receiver closes."""
    receiver.closing.wait()
