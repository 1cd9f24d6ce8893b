"""Push server: one thread owns every dashboard WebSocket; publishing only enqueues.

Why (issue 10): the snapshot used to be written to each socket from the poll
thread with a blocking send, so one tab that stopped reading (a phone asleep,
slow Wi-Fi) froze polling for the whole fleet; and each open socket held one
of gunicorn's request threads. Here a request thread only validates the
handshake and hands the raw socket over (web/ws.py); this module's single
thread completes the handshake and speaks WebSocket (RFC 6455, framed by
``wsproto``) with non-blocking sockets in one ``selectors`` loop.

Per client: messages wait in a small dict keyed by their ``type``, so a client
that falls behind gets only the newest snapshot (and newest discovery and
controller status), never a backlog; at most ``_LOW_WATER`` bytes plus one
framed message are buffered. A client with unsent data that takes none of it
for ``send_timeout_s``, or that says nothing (not even a pong) for
``idle_timeout_s``, is closed and its descriptor freed. Knows nothing of Flask.
"""

from __future__ import annotations

import logging
import os
import selectors
import socket
import struct
import threading
import time

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.utilities import LocalProtocolError, generate_accept_token

log = logging.getLogger(__name__)

MAX_CLIENTS = 200  # each costs one descriptor and at most ~64 KB + one message; a house has a few tabs
SEND_TIMEOUT_S = 30.0  # unsent data and no byte taken for this long: the client is stuck
PING_AFTER_S = 25.0  # silent this long: the server pings (the page itself sends "ping" every 20 s)
IDLE_TIMEOUT_S = 60.0  # silent this long despite the ping: gone
_LOW_WATER = 64 * 1024  # frame the next queued message only when less than this is still unsent
_MAX_INBOUND = 4096  # the page only ever sends "ping"; a longer message is refused (close 1009)
_RECV_CHUNK = 16 * 1024
_SNDBUF = 256 * 1024
_TICK_S = 1.0  # housekeeping granularity (timeouts, pings)
_HELLO = "\x00hello"  # the on-connect message: never replaced by a later snapshot (it carries "discovery")


def handshake_response(key: str) -> bytes:
    """The 101 reply to a validated handshake with ``Sec-WebSocket-Key: key``."""
    accept = generate_accept_token(key.encode("ascii")).decode("ascii")
    return ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode("ascii")


class PushClient:
    """One WebSocket: its socket, protocol state, queued messages and unsent bytes."""

    def __init__(self, sock: socket.socket, key: str, hello: str, peer: str, then_close: bool) -> None:
        self.sock = sock
        self.peer = peer
        self.conn = Connection(ConnectionType.SERVER)
        self.out = bytearray(handshake_response(key))
        self.pending: dict[str, str] = {_HELLO: hello}  # kind -> newest text; insertion order = send order
        self.then_close = then_close  # refuse politely: the hello (an error message), then a close frame
        now = time.monotonic()
        self.heard_at = now
        self.progress_at = now  # last time the socket took bytes (or the buffer went from empty to full)
        self.pinged = False
        self.closing = False  # a close frame is queued: end the TCP connection once it is out
        self.inbound: list[str] = []
        self.inbound_len = 0
        self.registered = False  # in the loop's selector (only the loop thread reads or writes this)
        self.closed = threading.Event()

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Block until the push server has let go of this client (werkzeug's dev server needs it)."""
        return self.closed.wait(timeout)


class PushServer:
    """Owns the WebSocket clients; ``publish`` returns at once whatever they do."""

    def __init__(self, *, max_clients: int = MAX_CLIENTS, send_timeout_s: float = SEND_TIMEOUT_S,
                 ping_after_s: float = PING_AFTER_S, idle_timeout_s: float = IDLE_TIMEOUT_S) -> None:
        self.max_clients = max_clients
        self.send_timeout_s = send_timeout_s
        self.ping_after_s = ping_after_s
        self.idle_timeout_s = idle_timeout_s
        self._tick = min(_TICK_S, ping_after_s / 3, send_timeout_s / 3)  # timers fire within a third of their time
        self._lock = threading.Lock()
        self._clients: set[PushClient] = set()
        self._new: list[PushClient] = []
        self._dirty: set[PushClient] = set()
        self._thread: threading.Thread | None = None
        self._selector: selectors.BaseSelector | None = None
        self._wake_r = self._wake_w = -1
        self._woken = False
        self._stopping = False
        self.dropped_stuck = 0  # clients closed because they stopped reading (for tests and the log)

    # --- called from any thread ---------------------------------------------------
    def count(self) -> int:
        """Number of open WebSocket clients."""
        with self._lock:
            return len(self._clients)

    def has_room(self) -> bool:
        """Whether one more client would be accepted now."""
        with self._lock:
            return not self._stopping and len(self._clients) < self.max_clients

    def attach(self, sock: socket.socket, key: str, hello: str, peer: str = "?",
               then_close: bool = False) -> PushClient | None:
        """Take ownership of ``sock`` (a validated handshake); None (socket closed) when full or stopping."""
        with self._lock:
            if self._stopping or len(self._clients) >= self.max_clients:
                client = None
            else:
                if self._thread is None:
                    self._start()
                client = PushClient(sock, key, hello, peer, then_close)
                self._clients.add(client)
                self._new.append(client)
        if client is None:
            _close_socket(sock, abort=True)
            return None
        self._wake()
        return client

    def publish(self, kind: str, text: str) -> None:
        """Queue ``text`` for every client, replacing an unsent message of the same ``kind``."""
        with self._lock:
            if not self._clients:
                return
            for client in self._clients:
                client.pending.pop(kind, None)  # the newest goes last, after older other kinds
                client.pending[kind] = text
            self._dirty.update(self._clients)
        self._wake()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread; every client gets a "going away" close frame (best effort) and is closed."""
        with self._lock:
            self._stopping = True
            thread = self._thread
        if thread is None:
            return
        self._wake()
        thread.join(timeout)

    # --- the loop -------------------------------------------------------------------
    def _start(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread = threading.Thread(target=self._run, name="ws-push", daemon=True)
        self._thread.start()

    def _wake(self) -> None:
        with self._lock:
            if self._woken or self._wake_w < 0:
                return
            self._woken = True
        try:
            os.write(self._wake_w, b"\0")
        except OSError:
            pass  # pipe full: the loop is awake anyway

    def _run(self) -> None:
        selector = self._selector
        assert selector is not None
        last_tick = 0.0
        try:
            while True:
                with self._lock:
                    stopping = self._stopping
                    new, self._new = self._new, []
                    dirty, self._dirty = self._dirty, set()
                if stopping:
                    break
                for client in new:
                    self._register(client)
                for client in dirty | set(new):
                    self._refill(client)
                for key, mask in selector.select(self._tick):
                    client = key.data
                    if client is None:
                        self._drain_wake()
                        continue
                    if mask & selectors.EVENT_READ:
                        self._read(client)
                    if mask & selectors.EVENT_WRITE:
                        self._write(client)
                now = time.monotonic()
                if now - last_tick >= self._tick / 2:
                    last_tick = now
                    self._housekeeping(now)
        except Exception:  # noqa: BLE001 - a bug here must not leave sockets open behind a dead thread
            log.exception("push server failed; closing every WebSocket")
        finally:
            self._shutdown_all()

    def _register(self, client: PushClient) -> None:
        assert self._selector is not None
        try:
            client.sock.setblocking(False)
            # A fixed send buffer (no autotuning up to tcp_wmem's 4 MB): kernel memory per client stays
            # bounded, and a client that stops reading shows as stuck after a few snapshots, not a hundred.
            client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SNDBUF)
            self._selector.register(client.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)
            client.registered = True
        except (OSError, ValueError):
            self._drop(client, abort=True)

    def _drain_wake(self) -> None:
        with self._lock:
            self._woken = False
        try:
            while os.read(self._wake_r, 4096):
                pass
        except OSError:
            pass

    def _interest(self, client: PushClient) -> None:
        assert self._selector is not None
        mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if client.out else 0)
        try:
            if self._selector.get_key(client.sock).events != mask:
                self._selector.modify(client.sock, mask, client)
        except (KeyError, ValueError, OSError):
            pass  # already dropped

    def _queue(self, client: PushClient, data: bytes | bytearray) -> None:
        if not client.out:
            client.progress_at = time.monotonic()  # the send timeout counts from when data waits
        client.out += data

    def _refill(self, client: PushClient) -> None:
        """Frame queued messages while less than the low-water mark is unsent."""
        if not client.registered:
            return
        if client.closing or client.conn.state is not ConnectionState.OPEN:
            return
        while len(client.out) < _LOW_WATER:
            with self._lock:
                if not client.pending:
                    break
                kind = next(iter(client.pending))
                text = client.pending.pop(kind)
            self._queue(client, client.conn.send(TextMessage(data=text)))
            if kind == _HELLO and client.then_close:
                self._send_close(client, 1008, "authentication required")
                break
        self._write(client)

    def _send_close(self, client: PushClient, code: int, reason: str | None = None) -> None:
        try:
            self._queue(client, client.conn.send(CloseConnection(code=code, reason=reason)))
        except LocalProtocolError:
            pass
        client.closing = True

    def _write(self, client: PushClient) -> None:
        if not client.registered:
            return
        if client.out:
            try:
                sent = client.sock.send(client.out)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._drop(client, abort=True)
                return
            if sent:
                del client.out[:sent]
                client.progress_at = time.monotonic()
        if not client.out:
            if client.closing:
                self._drop(client, abort=False)
                return
            with self._lock:
                more = bool(client.pending)
            if more and client.conn.state is ConnectionState.OPEN:
                self._refill(client)
                return
        self._interest(client)

    def _read(self, client: PushClient) -> None:
        if not client.registered:
            return
        try:
            data = client.sock.recv(_RECV_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(client, abort=True)
            return
        if not data:  # the peer went without a close frame
            self._drop(client, abort=False)
            return
        client.heard_at = time.monotonic()
        client.pinged = False
        if client.conn.state is ConnectionState.CLOSED:
            return
        client.conn.receive_data(data)
        for event in client.conn.events():
            if isinstance(event, TextMessage | BytesMessage):
                if not self._inbound(client, event):
                    return
            elif isinstance(event, Ping):
                if len(client.out) < _LOW_WATER and client.conn.state is ConnectionState.OPEN:
                    self._queue(client, client.conn.send(event.response()))  # else: a ping flood that does not read
            elif isinstance(event, CloseConnection):
                if client.conn.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
                    self._send_close(client, event.code)  # the answer to its close, or to a protocol error
                else:
                    self._drop(client, abort=False)  # the answer to our own close
                    return
        self._write(client)

    def _inbound(self, client: PushClient, event: TextMessage | BytesMessage) -> bool:
        """Collect a message from the page; answer "ping" with "pong". False once the client is refused."""
        data = event.data if isinstance(event.data, str) else ""
        client.inbound_len += len(event.data)
        if client.inbound_len > _MAX_INBOUND:
            self._send_close(client, 1009, "message too big")
            self._write(client)
            return False
        client.inbound.append(data)
        if event.message_finished:
            text = "".join(client.inbound)
            client.inbound, client.inbound_len = [], 0
            if text == "ping":
                with self._lock:
                    client.pending.pop("pong", None)
                    client.pending["pong"] = "pong"
                self._refill(client)
        return True

    def _housekeeping(self, now: float) -> None:
        with self._lock:
            clients = [client for client in self._clients if client.registered]
        for client in clients:
            if client.out and now - client.progress_at > self.send_timeout_s:
                self.dropped_stuck += 1
                log.info("WebSocket %s: took no data for %.0f s; closed", client.peer, now - client.progress_at)
                self._drop(client, abort=True)
            elif now - client.heard_at > self.idle_timeout_s:
                log.info("WebSocket %s: silent for %.0f s; closed", client.peer, now - client.heard_at)
                self._drop(client, abort=True)
            elif (now - client.heard_at > self.ping_after_s and not client.pinged
                  and client.conn.state is ConnectionState.OPEN and len(client.out) < _LOW_WATER):
                client.pinged = True
                self._queue(client, client.conn.send(Ping()))
                self._write(client)

    def _drop(self, client: PushClient, *, abort: bool) -> None:
        """Forget a client and close its socket; ``abort`` resets it (nothing more is owed to it)."""
        client.registered = False
        if self._selector is not None:
            try:
                self._selector.unregister(client.sock)
            except (KeyError, ValueError):
                pass
        with self._lock:
            self._clients.discard(client)
            self._dirty.discard(client)
            client.pending.clear()
        client.out.clear()
        _close_socket(client.sock, abort=abort)
        client.closed.set()

    def _shutdown_all(self) -> None:
        with self._lock:
            self._stopping = True
            clients = list(self._clients)
        for client in clients:
            if client.conn.state is ConnectionState.OPEN and not client.out:
                try:
                    client.sock.send(client.conn.send(CloseConnection(code=1001, reason="server stopping")))
                except (OSError, LocalProtocolError):
                    pass
            self._drop(client, abort=bool(client.out))
        if self._selector is not None:
            self._selector.close()
        with self._lock:
            for fd in (self._wake_r, self._wake_w):
                if fd >= 0:
                    os.close(fd)
            self._wake_r = self._wake_w = -1


def _close_socket(sock: socket.socket, *, abort: bool) -> None:
    """Close ``sock``; the shutdown also ends a duplicate another thread holds (werkzeug's dev server)."""
    try:
        if abort:  # RST: the kernel frees the unsent buffer now instead of retrying a peer that never reads
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass

