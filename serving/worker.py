"""gunicorn worker: gthread, but a request reaches a pool thread only once it has fully arrived.

Why (issue 10, point 3): gunicorn 27's gthread worker hands every new
connection to a pool thread, which waits up to 5 s for a first byte and then
parses the request with a blocking socket and no timeout: a client that sends
part of a header holds a thread for ever, and 16 of them (server.threads)
locked every other request out. gthread also closes a finished connection
"gracefully" on its event loop, lingering up to 2 s for the peer's FIN, so a
peer that never closes stalls the loop itself.

This worker keeps gthread's pool and keep-alive handling and changes the edges:
- the event loop reads the header block (and a Content-Length body up to
  ``BODY_PREREAD``) from non-blocking sockets into a per-connection buffer;
  a request that has not arrived within ``HEADER_TIMEOUT_S`` (``BODY_TIMEOUT_S``
  for its body) is closed by the loop; a header block over ``MAX_HEAD`` gets 431;
- the pool thread gets the buffered bytes back through the parser's unreader,
  and uses a socket timeout (``IO_TIMEOUT_S``) instead of a blocking socket,
  so a chunked body or a client that does not read its response cannot hold
  a thread for ever either;
- the half-close after the last response lingers in the loop, non-blocking.

Subclasses gunicorn internals (TConn, ThreadWorker.accept/handle/finish_request,
murder_pending, _cap_keepalive), so requirements.txt pins gunicorn to >=27,<28.
"""

from __future__ import annotations

import errno
import re
import selectors
import socket
import time
from functools import partial
from typing import Any

from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, TConn, ThreadWorker

from services.pools import started_pool

HEADER_TIMEOUT_S = 10.0  # a browser sends its whole header block in one packet; a trickle is an attack or a dead link
BODY_TIMEOUT_S = 30.0  # our bodies are small JSON objects (services/jsonbody.py: 64 KB at most)
BODY_PREREAD = 64 * 1024  # bodies up to this size are read in the loop too; bigger ones are refused by the app
IO_TIMEOUT_S = 30.0  # each recv in a pool thread (chunked bodies); sendall of a whole response
MAX_HEAD = 32 * 1024  # gunicorn allows 100 fields of 8 KB; no request of this app needs more than a few KB
LINGER_S = 2.0  # gunicorn's own close_graceful window, here without blocking the loop
_RECV = 64 * 1024
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length[ \t]*:[ \t]*(\d{1,18})[ \t]*\r\n", re.IGNORECASE)
_OTHER_FRAMING = re.compile(rb"\r\n(transfer-encoding|content-length)[ \t]*:", re.IGNORECASE)
_EXPECT_CONTINUE = re.compile(rb"\r\nexpect[ \t]*:[ \t]*100-continue[ \t]*\r\n", re.IGNORECASE)
_TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: application/json\r\n"
              b"Content-Length: 42\r\nConnection: close\r\n\r\n{\"error\": \"request header block too large\"}")


class PoolSocket(socket.socket):
    """A client socket whose "blocking" mode has a timeout: gunicorn sets blocking mode before each read."""

    def setblocking(self, flag: bool) -> None:
        """Blocking means: block at most IO_TIMEOUT_S per call (a timeout, as settimeout gives)."""
        if flag:
            self.settimeout(IO_TIMEOUT_S)
        else:
            super().setblocking(False)


class Conn(TConn):
    """gthread's connection plus the bytes read ahead by the loop and a non-blocking graceful close."""

    def __init__(self, cfg: Any, sock: socket.socket, client: Any, server: Any, worker: "HeaderFirstWorker") -> None:
        super().__init__(cfg, sock, client, server)
        self.worker = worker
        self.head = bytearray()
        self.head_end = -1  # index just past the blank line, once seen
        self.need = -1  # bytes the whole request takes (head + Content-Length body), once known

    def close(self, graceful: bool = False) -> None:
        """Close; a graceful close half-closes and lingers in the worker's loop instead of blocking it."""
        if self.sock.fileno() < 0:
            return  # handed to the WebSocket push server (web/ws.py detached it)
        if graceful:
            self.worker.linger(self)
        else:
            super().close()


class HeaderFirstWorker(ThreadWorker):
    """gthread with request heads read in the event loop (see the module docstring)."""

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        """TLS is refused: the loop reads raw request bytes (put a TLS proxy in front, see README)."""
        if cfg.is_ssl:
            raise RuntimeError("serving.worker.HeaderFirstWorker does not terminate TLS; use a reverse proxy")
        super().check_config(cfg, log)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reading: dict[Conn, None] = {}  # insertion order = deadline order
        self.lingering: dict[Conn, None] = {}

    def get_thread_pool(self) -> Any:
        """gthread's request pool with every thread started (services/pools.py: threads flat from the start)."""
        return started_pool(self.cfg.threads, "http")

    # --- event loop: new and kept-alive connections ----------------------------------
    def accept(self, listener: socket.socket) -> None:
        """Accept, and read the request in the loop before any pool thread is used."""
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        sock = PoolSocket(client_sock.family, client_sock.type, client_sock.proto, fileno=client_sock.detach())
        conn = Conn(self.cfg, sock, client_addr, listener.getsockname(), self)
        self._start_reading(conn)

    def on_client_socket_readable(self, conn: Conn, client: Any) -> None:
        """A kept-alive connection has a new request coming: read it in the loop too."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._start_reading(conn)

    def _start_reading(self, conn: Conn) -> None:
        conn.head = bytearray()
        conn.head_end = conn.need = -1
        conn.data_ready = True  # gthread's own 5 s wait for a first byte is not needed any more
        conn.timeout = time.monotonic() + HEADER_TIMEOUT_S
        self.reading[conn] = None
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_request_readable, conn))
        self.on_request_readable(conn, conn.sock)  # a kept-alive socket is readable now; a new one usually is

    def on_request_readable(self, conn: Conn, _client: Any) -> None:
        """Take what has arrived; hand the connection to the pool once the request is complete."""
        try:
            data = conn.sock.recv(_RECV)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._stop_reading(conn, close=True)
            return
        if not data:  # EOF before a whole request: nothing to answer
            self._stop_reading(conn, close=True)
            return
        start = max(0, len(conn.head) - 3)
        conn.head += data
        if conn.head_end < 0:
            end = conn.head.find(b"\r\n\r\n", start)
            if end < 0:
                if len(conn.head) > MAX_HEAD:
                    self._refuse_too_large(conn)
                return
            conn.head_end = end + 4
            if conn.head_end > MAX_HEAD:
                self._refuse_too_large(conn)
                return
            conn.need = self._request_size(conn)
            if conn.need > len(conn.head):
                conn.timeout = time.monotonic() + BODY_TIMEOUT_S
        if conn.need <= len(conn.head):
            self._stop_reading(conn, close=False)
            self.enqueue_req(conn)

    def _request_size(self, conn: Conn) -> int:
        """Bytes to read before the pool: the head, plus a small Content-Length body (0: hand over now)."""
        head = bytes(conn.head[:conn.head_end])
        lengths = _CONTENT_LENGTH.findall(head)
        if len(lengths) != 1 or len(_OTHER_FRAMING.findall(head)) != 1:
            return 0  # no body, chunked or ambiguous framing: gunicorn's parser decides
        length = int(lengths[0])
        if length > BODY_PREREAD:
            return 0  # the app refuses it from the header (413) without reading it
        if _EXPECT_CONTINUE.search(head) and len(conn.head) < conn.head_end + length:
            # curl waits for this before sending a body over 1 KB; gunicorn sends its own
            # "100 Continue" again later, and a client takes any number of 1xx replies.
            try:
                conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            except OSError:
                pass
        return conn.head_end + length

    def _refuse_too_large(self, conn: Conn) -> None:
        try:
            conn.sock.send(_TOO_LARGE)  # a fresh socket's send buffer takes these few bytes at once
        except OSError:
            pass
        self._stop_reading(conn, close=True)

    def _stop_reading(self, conn: Conn, *, close: bool) -> None:
        self.reading.pop(conn, None)
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        if close:
            self.nr_conns -= 1
            TConn.close(conn)

    # --- pool thread ------------------------------------------------------------------
    def handle(self, conn: Conn) -> Any:
        """Give the bytes the loop read back to gunicorn's parser, then serve as gthread does."""
        head, conn.head = conn.head, bytearray()
        if head:
            conn.init()  # first request on this connection: makes the parser (and sets the timeout)
            conn.parser.unreader.unread(bytes(head))
        return super().handle(conn)

    # --- timers and closes (event loop) ---------------------------------------------------
    def murder_pending(self) -> None:
        """Also close requests that did not arrive in time, and end lingering closes."""
        super().murder_pending()
        now = time.monotonic()
        for table in (self.reading, self.lingering):
            for conn in [c for c in table if c.timeout <= now]:
                if table is self.reading:
                    self._stop_reading(conn, close=True)
                else:
                    self._end_linger(conn)

    def _cap_keepalive(self, deadline: float) -> None:
        """Stopping: requests still arriving get as long as kept-alive connections, no longer."""
        super()._cap_keepalive(deadline)
        for conn in self.reading:
            conn.timeout = min(conn.timeout, deadline)

    def linger(self, conn: Conn) -> None:
        """Half-close and wait in the loop (at most LINGER_S) for the peer's FIN, draining what it still sends."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
            conn.sock.setblocking(False)
            conn.timeout = time.monotonic() + (LINGER_S if self.alive else min(LINGER_S, STOP_KEEPALIVE_LINGER))
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_linger_readable, conn))
            self.lingering[conn] = None
        except (OSError, ValueError, KeyError):
            TConn.close(conn)

    def _on_linger_readable(self, conn: Conn, _client: Any) -> None:
        try:
            data = conn.sock.recv(_RECV)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._end_linger(conn)

    def _end_linger(self, conn: Conn) -> None:
        self.lingering.pop(conn, None)
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        TConn.close(conn)
