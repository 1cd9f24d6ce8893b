"""miners/http.py against miners that lie about their size and speed: one deadline for the whole
exchange (status line and headers included) and a 2 MB cap, on real loopback sockets."""

from __future__ import annotations

import socket
import threading
import time
import tracemalloc

import pytest

from miners import http
from miners.base import MinerProtocolError, MinerUnreachable

HOST = "127.163.3.1"


class RawServer:
    """Accepts connections and answers each request with ``reply(conn)`` (one thread per connection)."""

    def __init__(self, reply) -> None:
        self.reply = reply
        self.stop = threading.Event()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> RawServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                self.reply(conn, self.stop)
            except OSError:
                pass


def drip_everything(conn: socket.socket, stop: threading.Event) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}":
        if stop.is_set():
            return
        conn.sendall(bytes([byte]))
        time.sleep(0.1)


def chunked_megabytes(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    piece = b"0" * 65536
    for _ in range(128):  # 8 MB
        if stop.is_set():
            return
        conn.sendall(b"10000\r\n" + piece + b"\r\n")
    conn.sendall(b"0\r\n\r\n")


def announced_megabytes(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 8388608\r\n\r\n" + b" " * 65536)
    stop.wait(5)


def test_a_dripped_status_line_is_cut_at_the_deadline():
    with RawServer(drip_everything) as server, http.new_session() as session:
        start = time.monotonic()
        with pytest.raises(MinerUnreachable):
            http.request(session, "GET", f"http://{HOST}:{server.port}/api/system/info", timeout=0.6)
        elapsed = time.monotonic() - start
    assert elapsed < 0.9, elapsed  # per-read timeouts alone: ~7 s for these 70 bytes


def test_a_session_made_elsewhere_gets_the_deadline_too():
    import requests

    with RawServer(drip_everything) as server, requests.Session() as session:
        session.trust_env = False
        start = time.monotonic()
        with pytest.raises(MinerUnreachable):
            http.request(session, "GET", f"http://{HOST}:{server.port}/", timeout=0.4, cache=False)
        assert time.monotonic() - start < 0.8


@pytest.mark.parametrize("reply", [chunked_megabytes, announced_megabytes])
def test_megabyte_replies_stop_at_the_cap_without_holding_them(reply):
    with RawServer(reply) as server, http.new_session() as session:
        tracemalloc.start()
        try:
            with pytest.raises(MinerProtocolError, match="larger than"):
                http.request(session, "GET", f"http://{HOST}:{server.port}/", timeout=3.0)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < http.MAX_BODY_BYTES + 512 * 1024, peak


def test_the_deadline_ends_with_the_call():
    """A later read on the same thread (no request() running) is not cut by an old deadline."""
    def fine(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")

    with RawServer(fine) as server, http.new_session() as session:
        reply = http.request(session, "GET", f"http://{HOST}:{server.port}/", timeout=0.3)
        assert reply.json() == {}
        time.sleep(0.35)
        assert http._deadline.at is None
        assert http.request(session, "GET", f"http://{HOST}:{server.port}/", timeout=0.3).status == 200



def test_cut_exchanges_leave_no_descriptor_or_thread_behind():
    """10 dripped and 10 oversized replies cut short: the client keeps no socket and no thread."""
    import os

    def fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    with http.new_session() as session:
        before_fds, before_threads = fds(), threading.active_count()
        with RawServer(drip_everything) as dripping, RawServer(announced_megabytes) as huge:
            for _ in range(10):
                with pytest.raises(MinerUnreachable):
                    http.request(session, "GET", f"http://{HOST}:{dripping.port}/", timeout=0.2)
                with pytest.raises(MinerProtocolError):
                    http.request(session, "GET", f"http://{HOST}:{huge.port}/", timeout=0.5)
        # The fake servers' per-connection threads end once they see the stop or the closed socket.
        deadline = time.monotonic() + 5
        while (fds() > before_fds or threading.active_count() > before_threads) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fds() <= before_fds, (before_fds, fds())
        assert threading.active_count() <= before_threads
