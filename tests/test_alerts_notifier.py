"""services/alerts/notifier.py against real local receivers: Apprise json:// to a stdlib HTTP
server, mailto:// to an aiosmtpd SMTP server, a dead port and a silent one (127.84.1.x only)."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import logging
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from services.alerts import urls as alert_urls
from services.alerts.labels import label
from services.alerts.notifier import ChannelState, Notification, Notifier, check_urls, expand_env

HTTP_HOST, SMTP_HOST, DEAD_HOST, SILENT_HOST, PACE_HOST, HOLE_HOST = (
    "127.84.1.10", "127.84.1.11", "127.84.1.12", "127.84.1.13", "127.84.1.14", "127.84.1.15")
JSON_PASSWORD = "Js0nPassw0rd-xyz"
MAIL_PASSWORD = "MailPa55word-abc"
NTFY_TOKEN = "tk_ntfyT0kenSecret42"
OFFLINE = Notification("rig-07 offline", "rig-07 (10.0.0.57) has not answered since 12:00.\nhttp://pi:8080/",
                       "critical", key="miner_offline:10.0.0.57")


def wait_for(predicate, timeout: float = 5.0) -> bool:
    """Poll ``predicate`` until true or ``timeout`` (the sender works in its own thread)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def free_port(host: str) -> int:
    """A port on ``host`` that nothing listens on (connection refused)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


class Receiver:
    """A stdlib HTTP server taking Apprise's JSON posts; answers the queued statuses, then 200."""

    def __init__(self, host: str, port: int = 0) -> None:
        self.posts: list[dict] = []  # every request: time, path, status answered, headers, JSON body
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.posts.append({"t": time.monotonic(), "path": self.path, "status": status,
                                           "auth": self.headers.get("Authorization"), "json": json.loads(body)})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def accepted(self) -> list[dict]:
        with self.lock:
            return [p for p in self.posts if p["status"] == 200]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class MailBox:
    """aiosmtpd handler: keeps every message and the credentials it was sent with."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.original_content, policy=email.policy.default))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password.decode() == MAIL_PASSWORD)


@pytest.fixture
def rx():
    receiver = Receiver(HTTP_HOST)
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def mailbox():
    box = MailBox()
    # Plain SMTP with AUTH allowed (loopback only), so mailto:// with a password logs in for real.
    controller = Controller(box, hostname=SMTP_HOST, port=free_port(SMTP_HOST), authenticator=box.authenticate,
                            auth_require_tls=False, ready_timeout=5)
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


@pytest.fixture
def notifiers():
    """Notifiers made by a test, closed at its end even when it fails."""
    made: list[Notifier] = []
    yield made
    for n in made:
        n.close()


# Every piece of a URL that its shown name hides is redacted from texts process-wide: a path of
# "hook" would blank the "hook" of Apprise's "Webhook" in other tests' error texts.
def json_url(rx: Receiver, path: str = "ctl-hook") -> str:
    return f"json://ctl:{JSON_PASSWORD}@{HTTP_HOST}:{rx.port}/{path}"


def test_json_post_carries_title_body_and_type(rx, notifiers):
    notifier = Notifier([json_url(rx)])
    notifiers.append(notifier)
    assert notifier.channels()[0]["ok"] is None  # never used yet
    for severity in ("critical", "warning", "info"):
        assert notifier.send(Notification(f"title {severity}", f"body {severity}", severity)) is True
    assert wait_for(lambda: len(rx.accepted()) == 3)
    got = [p["json"] for p in rx.accepted()]
    assert [(g["title"], g["message"], g["type"]) for g in got] == [
        ("title critical", "body critical", "failure"), ("title warning", "body warning", "warning"),
        ("title info", "body info", "info")]
    assert rx.accepted()[0]["path"] == "/ctl-hook"
    assert rx.accepted()[0]["auth"] == "Basic " + base64.b64encode(f"ctl:{JSON_PASSWORD}".encode()).decode()
    assert wait_for(lambda: notifier.channels()[0]["sent"] == 3)
    [channel] = notifier.channels()
    assert channel["ok"] is True and channel["last_error"] is None and channel["pending"] == 0
    assert channel["failed"] == 0 and channel["failing_since"] is None
    # Shown as the service and its server only: no user, password or path (services/alerts/labels.py).
    assert channel["url"] == f"JSON webhook · {HTTP_HOST}:{rx.port}"


def test_mail_reaches_the_smtp_server(mailbox, notifiers, caplog):
    caplog.set_level(logging.DEBUG)
    url = (f"mailto://ctl:{MAIL_PASSWORD}@{SMTP_HOST}:{mailbox.port}"
           "?to=owner@example.com&from=controller@example.com")
    notifier = Notifier([url])
    notifiers.append(notifier)
    before = len(mailbox.messages)
    assert notifier.send(OFFLINE)
    assert wait_for(lambda: len(mailbox.messages) == before + 1)
    message = mailbox.messages[-1]
    assert message["Subject"] == OFFLINE.title
    assert mailbox.envelopes[-1].rcpt_tos == ["owner@example.com"]
    assert mailbox.envelopes[-1].mail_from == "controller@example.com"
    text = message.get_body(preferencelist=("plain", "html")).get_content()
    assert "rig-07 (10.0.0.57) has not answered since 12:00." in text
    assert ("ctl", MAIL_PASSWORD) in mailbox.logins  # the password reached the server, and only the server
    assert wait_for(lambda: notifier.channels()[0]["sent"] == 1)
    assert not [r for r in caplog.records if MAIL_PASSWORD in _text(r)]


def test_a_receiver_failing_twice_gets_the_message_once_after_the_delays(rx, notifiers):
    rx.statuses = [500, 500]
    changes: list[ChannelState] = []
    notifier = Notifier([json_url(rx)], retry_delays_s=(0.3, 0.6, 5), fail_after=2, on_channel_change=changes.append)
    notifiers.append(notifier)
    assert notifier.send(OFFLINE)
    assert wait_for(lambda: len(rx.accepted()) == 1)
    time.sleep(0.3)  # no duplicate arrives afterwards
    assert [p["status"] for p in rx.posts] == [500, 500, 200]
    assert [p["json"]["title"] for p in rx.accepted()] == [OFFLINE.title]
    gaps = [b["t"] - a["t"] for a, b in zip(rx.posts, rx.posts[1:])]
    assert gaps[0] >= 0.3 and gaps[1] >= 0.6, gaps
    assert gaps[1] < 3, gaps  # the third delay (5 s) was not used
    assert wait_for(lambda: notifier.channels()[0]["sent"] == 1)
    [channel] = notifier.channels()
    assert channel["failed"] == 0 and channel["ok"] is True and channel["pending"] == 0
    # Two failures in a row made it "failing", the success made it well again: one call each.
    assert [c.ok for c in changes] == [False, True]
    assert "500" in changes[0].error


def test_a_dead_port_fails_the_channel_once_and_recovery_is_told_once(notifiers):
    port = free_port(DEAD_HOST)
    changes: list[ChannelState] = []
    t0 = time.time()
    notifier = Notifier([f"json://{DEAD_HOST}:{port}/"], retry_delays_s=(0.05, 0.05), fail_after=2,
                        on_channel_change=changes.append)
    notifiers.append(notifier)
    notifier.send(OFFLINE)
    notifier.send(OFFLINE)  # six failed attempts in all, still one "failing"
    assert wait_for(lambda: notifier.channels()[0]["failed"] == 2)
    assert [c.ok for c in changes] == [False]
    [channel] = notifier.channels()
    assert channel["ok"] is False and channel["pending"] == 0 and channel["sent"] == 0
    assert channel["failing_since"] is not None and channel["failing_since"] >= t0
    assert changes[0].since == channel["failing_since"] and changes[0].url == channel["url"]
    assert "Connection error" in channel["last_error"] and DEAD_HOST in channel["last_error"]

    revived = Receiver(DEAD_HOST, port)  # the host comes back on the same port
    try:
        notifier.send(OFFLINE)
        assert wait_for(lambda: len(revived.accepted()) == 1)
        assert wait_for(lambda: len(changes) == 2)
        notifier.send(OFFLINE)
        assert wait_for(lambda: notifier.channels()[0]["sent"] == 2)
    finally:
        revived.close()
    assert [c.ok for c in changes] == [False, True]
    assert changes[1].error is None and changes[1].since >= changes[0].since
    assert notifier.channels()[0]["failing_since"] is None


def test_a_callback_that_raises_does_not_stop_the_thread(notifiers, caplog):
    port = free_port(DEAD_HOST)

    def broken(state: ChannelState) -> None:
        raise RuntimeError("callback bug")

    notifier = Notifier([f"json://{DEAD_HOST}:{port}/"], retry_delays_s=(), fail_after=1, on_channel_change=broken)
    notifiers.append(notifier)
    notifier.send(OFFLINE)
    assert wait_for(lambda: notifier.channels()[0]["failed"] == 1)
    revived = Receiver(DEAD_HOST, port)
    try:
        notifier.send(OFFLINE)  # the recovery callback raises too
        notifier.send(OFFLINE)
        assert wait_for(lambda: len(revived.accepted()) == 2)
    finally:
        revived.close()
    assert sum("on_channel_change raised" in r.getMessage() for r in caplog.records) == 2


def test_a_full_queue_refuses_without_blocking_and_logs_once(notifiers, caplog):
    caplog.set_level(logging.WARNING, logger="services.alerts.notifier")
    port = free_port(DEAD_HOST)
    notifier = Notifier([f"json://{DEAD_HOST}:{port}/"], queue_size=3, retry_delays_s=(60,))
    notifiers.append(notifier)
    assert all(notifier.send(OFFLINE) for _ in range(3))  # the first waits 60 s for its retry, two behind it
    assert wait_for(lambda: notifier.channels()[0]["last_error"] is not None)
    started = time.monotonic()
    refused = [notifier.send(OFFLINE) for _ in range(20)]
    assert time.monotonic() - started < 0.5
    assert refused == [False] * 20
    assert notifier.dropped == 20
    assert notifier.channels()[0]["pending"] == 3
    full = [r for r in caplog.records if "queue full" in r.getMessage()]
    assert len(full) == 1 and "miner_offline:10.0.0.57" in full[0].getMessage()
    notifier.close()
    assert any("3 unsent message(s) dropped" in r.getMessage() for r in caplog.records)


def test_test_goes_ahead_of_the_queue_and_reports_each_channel(rx, notifiers):
    port = free_port(DEAD_HOST)
    dead = f"json://user:{JSON_PASSWORD}@{DEAD_HOST}:{port}/"
    notifier = Notifier([json_url(rx), dead], retry_delays_s=(60,))
    notifiers.append(notifier)
    notifier.send(OFFLINE)  # the dead channel now waits 60 s to retry this one
    assert wait_for(lambda: notifier.channels()[1]["ok"] is False)
    started = time.monotonic()
    results = notifier.test(timeout_s=5)
    assert time.monotonic() - started < 3
    assert [r["ok"] for r in results] == [True, False]
    assert results[0]["error"] is None and "Connection error" in results[1]["error"]
    assert [r["url"] for r in results] == [c["url"] for c in notifier.channels()]
    assert JSON_PASSWORD not in json.dumps(results)
    assert any(p["json"]["title"] == "Test from the mining controller" for p in rx.accepted())
    assert notifier.channels()[1]["pending"] == 1  # the alert still waits for its retry


def test_test_with_no_channels_and_a_silent_server_timeout(notifiers):
    assert Notifier([]).test() == []
    silent = socket.socket()
    silent.bind((SILENT_HOST, 0))
    silent.listen(8)  # accepts (the kernel does) and never answers
    try:
        notifier = Notifier([f"json://{SILENT_HOST}:{silent.getsockname()[1]}/?rto=2"])
        notifiers.append(notifier)
        results = notifier.test(timeout_s=0.5)  # test() gives up waiting before the read timeout
        assert results[0]["ok"] is False and "within 0.5 s" in results[0]["error"]
        started = time.monotonic()
        assert notifier.send(OFFLINE)
        # The attempt ends at the read timeout (2 s), it never hangs.
        assert wait_for(lambda: notifier.channels()[0]["failed"] == 1, timeout=8)
        assert time.monotonic() - started < 6
    finally:
        silent.close()


def test_close_ends_the_thread_and_frees_descriptors(rx):
    Notifier([json_url(rx)]).close()  # warm-up: apprise imported and its plugins loaded once
    threads_before = {t.ident for t in threading.enumerate()}
    fds_before = fd_count()
    notifier = Notifier([json_url(rx), json_url(rx, "second")])
    assert not [t for t in threading.enumerate() if t.name == "alerts-notify"]  # lazy: no thread yet
    notifier.send(OFFLINE)
    assert notifier.test(timeout_s=5)[0]["ok"]
    assert wait_for(lambda: len(rx.accepted()) == 4)
    assert [t.name for t in threading.enumerate() if t.ident not in threads_before] == ["alerts-notify"]
    notifier.close()
    assert not [t for t in threading.enumerate() if t.name == "alerts-notify"]
    assert {t.ident for t in threading.enumerate()} <= threads_before  # no Apprise pool thread either
    assert wait_for(lambda: fd_count() <= fds_before, timeout=2), (fds_before, fd_count())
    assert notifier.send(OFFLINE) is False  # closed: refused, no thread started again
    assert not [t for t in threading.enumerate() if t.name == "alerts-notify"]
    assert notifier.test(timeout_s=1)[0] == {"url": notifier.channels()[0]["url"], "ok": False,
                                               "error": "the notifier is closed"}


def test_env_expansion(rx, monkeypatch, notifiers):
    monkeypatch.setenv("ALERT_TEST_PASSWORD", JSON_PASSWORD)
    monkeypatch.delenv("ALERT_TEST_UNSET", raising=False)
    assert expand_env("json://u:${ALERT_TEST_PASSWORD}@h/x") == f"json://u:{JSON_PASSWORD}@h/x"
    assert expand_env("json://h/$notavar/${}") == "json://h/$notavar/${}"
    with pytest.raises(ValueError, match="ALERT_TEST_UNSET") as caught:
        expand_env("ntfy://${ALERT_TEST_UNSET}@ntfy.sh/topic")
    assert caught.value.name == "ALERT_TEST_UNSET"
    notifier = Notifier([f"json://ctl:${{ALERT_TEST_PASSWORD}}@{HTTP_HOST}:{rx.port}/env"])
    notifiers.append(notifier)
    notifier.send(OFFLINE)
    assert wait_for(lambda: len(rx.accepted()) == 1)
    assert base64.b64decode(rx.accepted()[0]["auth"].split()[1]).decode() == f"ctl:{JSON_PASSWORD}"
    assert JSON_PASSWORD not in notifier.channels()[0]["url"]


def test_check_urls_names_the_bad_entry(monkeypatch):
    monkeypatch.delenv("ALERT_TEST_UNSET", raising=False)
    check_urls(["ntfy://my-topic", "json://127.84.1.10:8080/x", "mailto://u:p@example.com?to=a@example.com",
                "tgram://123456789:AAHabcdefghijklmnopqrstuvwxyz012345/12345"])
    cases = {
        "nonsense://host/x": "urls[1]: Apprise cannot use this nonsense:// URL",
        "just words": "urls[1]: not a URL",
        "tgram://not-a-bot-token/": "urls[1]: Apprise cannot use this tgram:// URL",
        "json://u:${ALERT_TEST_UNSET}@h/": "urls[1]: environment variable ALERT_TEST_UNSET is not set",
        "  ": "urls[1]: must be an Apprise URL",
    }
    for bad, message in cases.items():
        with pytest.raises(ValueError) as caught:
            check_urls(["ntfy://fine", bad])
        assert str(caught.value).startswith(message), (bad, str(caught.value))
    with pytest.raises(ValueError, match=r"^urls\[0\]: Apprise cannot use"):
        Notifier(["nonsense://x"])
    # The config loader's environment mapping can stand in for os.environ.
    check_urls(["ntfy://${ALERT_TEST_UNSET}@ntfy.sh/t"], environ={"ALERT_TEST_UNSET": "tk_x"})
    assert expand_env("${A}/${B}", {"A": "1", "B": "2"}) == "1/2"


def test_a_channel_label_never_shows_a_secret(monkeypatch):
    monkeypatch.setenv("ALERT_TEST_TOKEN", NTFY_TOKEN)
    # ${VAR} is not expanded for the shown name, and the ntfy topic (enough to read the alerts) is not shown.
    assert label("ntfy://${ALERT_TEST_TOKEN}@ntfy.example/topic") == "ntfy · ntfy.example"
    masked = {url: label(url) for url in (
        f"json://ctl:{JSON_PASSWORD}@h/x?+Authorization=Bearer%20HdrS3cret&:apikey=PayloadS3cret",
        f"ntfy://{NTFY_TOKEN}@ntfy.example/topic",
        "ntfy://my-private-topic",
        f"mailtos://ctl:{MAIL_PASSWORD}@smtp.example.com?to=a@example.com",
        "tgram://123456789:AAHabcdefghijklmnopqrstuvwxyz012345/12345",
        "nonsense://Secret1234@x")}
    for url, shown in masked.items():
        for secret in (JSON_PASSWORD, "HdrS3cret", "PayloadS3cret", NTFY_TOKEN, MAIL_PASSWORD,
                       "AAHabcdefghijklmnopqrstuvwxyz012345", "Secret1234", "my-private-topic", "topic", "12345",
                       "ctl"):
            assert secret not in shown, (url, shown)
    assert masked["ntfy://my-private-topic"] == "ntfy"
    assert masked["tgram://123456789:AAHabcdefghijklmnopqrstuvwxyz012345/12345"] == "Telegram"
    assert masked["nonsense://Secret1234@x"] == "nonsense://"


def test_two_channels_of_one_service_are_told_apart_by_number(rx, notifiers):
    notifier = Notifier([f"ntfy://{HTTP_HOST}:{rx.port}/topic-a", f"ntfy://{HTTP_HOST}:{rx.port}/topic-b",
                         json_url(rx)])
    notifiers.append(notifier)
    names = [c["url"] for c in notifier.channels()]
    assert names == [f"ntfy · {HTTP_HOST}:{rx.port}", f"ntfy · {HTTP_HOST}:{rx.port} (2)",
                     f"JSON webhook · {HTTP_HOST}:{rx.port}"]
    notifier.set_urls([f"ntfy://{HTTP_HOST}:{rx.port}/topic-b"])  # the second one alone is now the first
    assert [c["url"] for c in notifier.channels()] == [f"ntfy · {HTTP_HOST}:{rx.port}"]


@pytest.mark.parametrize("apprise_level", [None, 1])  # 1: below TRACE, as if someone turned Apprise's logger up
def test_no_secret_in_any_log_record(rx, notifiers, caplog, apprise_level):
    caplog.set_level(logging.DEBUG)
    if apprise_level is not None:
        caplog.set_level(apprise_level, logger="apprise")
    rx.statuses = [500] * 10
    dead = free_port(DEAD_HOST)
    urls = [json_url(rx), f"ntfy://{NTFY_TOKEN}@{HTTP_HOST}:{rx.port}/topic",
            f"mailto://ctl:{MAIL_PASSWORD}@{DEAD_HOST}:{dead}?to=owner@example.com",
            f"json://ctl:{JSON_PASSWORD}@{DEAD_HOST}:{dead}/"]
    notifier = Notifier(urls, retry_delays_s=(), fail_after=1)
    notifiers.append(notifier)
    notifier.send(OFFLINE)
    # The test after the alert's one attempt: ntfy's and e-mail's pacing (5.5 s) does not apply to tests.
    assert wait_for(lambda: all(c["failed"] == 1 for c in notifier.channels()), timeout=20)
    results = notifier.test(timeout_s=10)
    assert wait_for(lambda: all(c["failed"] == 2 for c in notifier.channels()), timeout=20)
    assert not any(r["ok"] for r in results)
    assert rx.posts[1]["auth"] == f"Bearer {NTFY_TOKEN}"  # the token was sent, to the receiver only
    if apprise_level is not None:  # Apprise really did log the secrets: the filter rewrote them
        assert any("***" in _text(r) for r in caplog.records if r.name == "apprise")
    out = json.dumps([results, notifier.channels()])
    records = [_text(r) for r in caplog.records]
    assert records
    for secret in (JSON_PASSWORD, MAIL_PASSWORD, NTFY_TOKEN):
        assert secret not in out
        assert not [r for r in records if secret in r], secret


def test_a_black_holed_port_holds_an_attempt_for_the_connect_timeout_only(notifiers):
    # A listener with a full accept queue drops further SYNs: a connect hangs as to a firewalled host.
    hole = socket.socket()
    hole.bind((HOLE_HOST, 0))
    hole.listen(0)
    port = hole.getsockname()[1]
    fillers = []
    try:
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex((HOLE_HOST, port))
            fillers.append(filler)
        # Two notifiers (two threads) so both are timed at once: JSON's default connect timeout (4 s)
        # and SMTP's, which Apprise sets to 15 s and urls.py caps at MAX_TIMEOUT_S.
        web = Notifier([f"json://{HOLE_HOST}:{port}/"], retry_delays_s=())
        mail = Notifier([f"mailto://u:{MAIL_PASSWORD}@{HOLE_HOST}:{port}?to=a@example.com"], retry_delays_s=())
        notifiers.extend([web, mail])
        started = time.monotonic()
        web.send(OFFLINE)
        mail.send(OFFLINE)
        assert wait_for(lambda: web.channels()[0]["failed"] == 1, timeout=8)
        web_s = time.monotonic() - started
        assert wait_for(lambda: mail.channels()[0]["failed"] == 1, timeout=15)
        mail_s = time.monotonic() - started
        assert 3.5 <= web_s < 6, web_s
        assert alert_urls.MAX_TIMEOUT_S - 0.5 <= mail_s < alert_urls.MAX_TIMEOUT_S + 2.5, mail_s
        assert "Connection error" in mail.channels()[0]["last_error"]
    finally:
        for filler in fillers:
            filler.close()
        hole.close()


def test_timeouts_are_capped_and_throttle_is_not_slept(rx, notifiers):
    assert alert_urls.MAX_TIMEOUT_S <= 15
    mail = alert_urls.build("mailto://u:p@127.84.1.11:25?to=a@example.com")
    assert mail.plugin.socket_connect_timeout == alert_urls.MAX_TIMEOUT_S  # Apprise's SMTP default is 15 s
    slow = alert_urls.build("json://127.84.1.10/x?cto=60&rto=600")
    assert (slow.plugin.socket_connect_timeout, slow.plugin.socket_read_timeout) == (10, 10)
    fast = alert_urls.build("json://127.84.1.10/x?cto=1&rto=2")
    assert (fast.plugin.socket_connect_timeout, fast.plugin.socket_read_timeout) == (1, 2)
    # ntfy's own throttle (5.5 s between requests) is paced by the notifier, never slept in its thread:
    # both topics of one message go at once, the other channel gets both messages at once, and
    # ntfy's second message follows one interval after its first.
    paced = Receiver(PACE_HOST)
    try:
        notifier = Notifier([f"ntfy://{PACE_HOST}:{paced.port}/topic1/topic2", json_url(rx)])
        notifiers.append(notifier)
        interval = notifier._runs[0].channel.min_interval_s
        assert interval >= 5
        notifier.send(Notification("one", "1", "info"))
        notifier.send(Notification("two", "2", "info"))
        assert wait_for(lambda: len(rx.accepted()) == 2, timeout=2)
        assert len(paced.accepted()) == 2
        assert wait_for(lambda: len(paced.accepted()) == 4, timeout=interval + 3)
        got = [(p["json"]["title"], p["json"]["topic"]) for p in paced.posts]
        assert sorted(got[:2]) == [("one", "topic1"), ("one", "topic2")]
        assert sorted(got[2:]) == [("two", "topic1"), ("two", "topic2")]
        assert paced.posts[1]["t"] - paced.posts[0]["t"] < 1
        assert interval - 0.2 <= paced.posts[2]["t"] - paced.posts[0]["t"] < interval + 2
    finally:
        paced.close()


def test_notification_rejects_an_unknown_severity():
    with pytest.raises(ValueError, match="severity"):
        Notification("t", "b", "urgent")


def _text(record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_info:
        text += logging.Formatter().formatException(record.exc_info)
    return text + (record.exc_text or "")
