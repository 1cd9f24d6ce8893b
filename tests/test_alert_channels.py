"""Alert channels as the Settings page handles them, without the web layer: the safe label of many URL
shapes (never a token, password, user, path or query), opaque stable ids, scrubbed error texts, the
config writer's list edit (comments kept, validated as start-up), and the notifier swapping its
channel list in place with no thread or Apprise object left behind."""

from __future__ import annotations

import gc
import os
import threading
import time

import pytest
import yaml

from services import alert_channels as ch
from services.alerts.notifier import Notifier
from services.alerts.urls import why_unusable
from services.config_edit import ConfigEditError, ConfigEditor

KEY = b"per-install-key-for-tests"
TG_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
# (url, secrets that must never be in the label, the expected label)
SHAPES = [
    (f"tgram://{TG_TOKEN}/987654321", [TG_TOKEN, "123456789", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "987654321"],
     "Telegram"),
    ("ntfy://alice:hunter22@ntfy.example.com/miners-4f9a", ["alice", "hunter22", "miners-4f9a"],
     "ntfy · ntfy.example.com"),
    ("ntfys://ntfy.sh/my-secret-topic", ["my-secret-topic"], "ntfy · ntfy.sh"),
    ("ntfy://my-secret-topic", ["my-secret-topic"], "ntfy"),  # the topic is the host: hidden
    ("mailtos://me:smtp-pass-99@smtp.example.com?to=me@example.com", ["smtp-pass-99", "me@example.com", "me:"],
     "E-mail · smtp.example.com"),
    ("mailto://user:pw%2Fwith-slash@gmail.com", ["pw%2Fwith-slash", "user"], "E-mail · gmail.com"),
    ("json://127.86.12.2:8080/inbox/path-token-77", ["path-token-77", "inbox"], "JSON webhook · 127.86.12.2:8080"),
    ("jsons://bob:pw-x1@hooks.local:8123/miners?+Authorization=Bearer%20tok-abc", ["bob", "pw-x1", "tok-abc", "miners"],
     "JSON webhook · hooks.local:8123"),
    ("discord://112233445566/ab-webhook-token-cd", ["112233445566", "ab-webhook-token-cd"], "Discord"),
    ("json://hooks.example.org/x?token=query-secret-42", ["query-secret-42", "token"], "JSON webhook · hooks.example.org"),
    ("gotify://[::1]:8008/AbCdEfGhIjK", ["AbCdEfGhIjK"], "Gotify · [::1]:8008"),
    ("pover://user-key-0001@app-token-0002", ["user-key-0001", "app-token-0002"], "Pushover"),
    ("matrix://t2bot-token-abcdef", ["t2bot-token-abcdef"], "Matrix"),  # t2bot mode: the host is a token
    ("json://localhost/a", [], "JSON webhook · localhost"),
    ("tgram://${TELEGRAM_BOT_TOKEN}/${CHAT}", ["TELEGRAM_BOT_TOKEN", "CHAT"], "Telegram"),
    ("json://${HOOK_HOST}/x", ["HOOK_HOST"], "JSON webhook"),
    # A password with an unescaped "/" (or "?"): where the host starts is not plain, so none is shown.
    ("json://my.user:12/pw@host.example.com/x", ["my.user", "12/pw"], "JSON webhook"),
    ("json://my.user:12?pw@host.example.com", ["my.user"], "JSON webhook"),
    ("slack://TokenA/TokenB/TokenC/#general", ["TokenA", "TokenB", "TokenC", "general"], "Slack"),
    ("xyz://some.host.example/secret-path", ["secret-path", "some.host"], "xyz://"),
]


@pytest.mark.parametrize(("url", "secrets", "expected"), SHAPES)
def test_label_names_the_service_and_a_real_server_only(url, secrets, expected):
    label = ch.label(url)
    assert label == expected
    for secret in secrets:
        assert secret.lower() not in label.lower(), (url, label, secret)
    assert ch.scheme_of(url) == url.split("://")[0].lower()


def test_ids_are_opaque_stable_and_keyed_per_install():
    urls = [s[0] for s in SHAPES]
    ids = [v.id for v in ch.views(urls, KEY, from_env=False)]
    assert len(set(ids)) == len(ids) and all(len(i) == 16 and int(i, 16) >= 0 for i in ids)
    assert [v.id for v in ch.views(urls, KEY, from_env=False)] == ids  # stable
    assert [v.id for v in ch.views(urls[3:], KEY, from_env=False)] == ids[3:]  # removing others keeps them
    assert [v.id for v in ch.views(urls, b"another-install", from_env=False)] != ids
    for (url, secrets, _), cid in zip(SHAPES, ids):
        assert all(s.lower() not in cid for s in secrets if len(s) > 3)
    assert ch.index_of(urls, KEY, ids[5]) == 5 and ch.index_of(urls, KEY, "0" * 16) is None
    # The same URL twice (hand-edited file): two ids, each found.
    twice = ch.views([urls[0], urls[0]], KEY, from_env=True)
    assert twice[0].id != twice[1].id and twice[0].from_env is True
    assert ch.index_of([urls[0], urls[0]], KEY, twice[1].id) == 1


def test_public_view_has_exactly_the_documented_fields():
    view = ch.views(["ntfy://u:p@ntfy.example.com/t"], KEY, from_env=False)[0].public()
    assert set(view) == {"id", "scheme", "label", "from_env"} and view["scheme"] == "ntfy"


def test_scrub_removes_the_url_and_its_secret_pieces_but_keeps_the_server():
    url = "jsons://bob:pw-secret-1@hooks.local:8123/miners-path?+Authorization=Bearer%20tok-abc"
    text = f"A Connection error occurred sending JSON notification to hooks.local (bob pw-secret-1 tok-abc) {url}"
    clean = ch.scrub(text, url)
    for secret in ("bob", "pw-secret-1", "tok-abc", "miners-path", url):
        assert secret not in clean
    assert "hooks.local" in clean and "Connection error" in clean
    assert ch.scrub(None, url) is None


def test_check_new_refuses_repeats_spaces_and_too_many():
    assert ch.check_new("  json://localhost/a ", []) == "json://localhost/a"
    for bad, status in [("", 400), (None, 400), (5, 400), ("json://a b/c", 400), ("no-scheme", 400),
                        ("json://x/" + "a" * 1100, 400)]:
        with pytest.raises(ch.ChannelError) as info:
            ch.check_new(bad, [])
        assert info.value.status == status
    with pytest.raises(ch.ChannelError) as info:
        ch.check_new("json://localhost/a", ["json://localhost/a"])
    assert info.value.status == 409 and "localhost" not in str(info.value)
    with pytest.raises(ch.ChannelError):
        ch.check_new("json://localhost/z", [f"json://localhost/{i}" for i in range(ch.MAX_CHANNELS)])
    assert ch.from_environment({"ALERT_URLS": " json://a/b "}) and not ch.from_environment({"ALERT_URLS": "  "})


@pytest.mark.parametrize(("url", "secret", "says"), [
    ("discord://112233445566", "112233445566", "Discord Webhook Token"),
    ("tgram://not-a-bot-token-xyz/123", "not-a-bot-token-xyz", "Telegram"),
    ("pover://abcdefghijk", "abcdefghijk", "Pushover"),
    ("nosuchservice://host/secret-thing", "secret-thing", "not a service Apprise knows"),
    ("mailto://user:secretpw123@", "secretpw123", "E-Mail"),
])
def test_apprise_reason_for_an_unusable_url_never_holds_the_url(url, secret, says):
    reason = why_unusable(url)
    assert reason and says in reason, reason
    assert secret not in reason and url not in reason
    assert why_unusable("json://127.86.12.9:9/x") is None


CONFIG = """# my controller
alerts:
  # where alerts go
  urls:
    - json://127.86.12.9:9/first   # the first one
    - json://127.86.12.9:9/second  # the second one
  hold_min: 3  # a bit longer
"""


def test_the_config_writer_edits_the_list_keeping_comments_and_validating(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    editor = ConfigEditor(path, {})
    result = editor.set_list("alerts.urls", ["json://127.86.12.9:9/second", "json://127.86.12.9:9/third"])
    assert result.changed == ("alerts.urls",) and result.backup
    text = path.read_text()
    assert "# the second one" in text and "# the first one" not in text and "# where alerts go" in text
    assert "# a bit longer" in text and "# my controller" in text
    assert yaml.safe_load(text)["alerts"]["urls"] == ["json://127.86.12.9:9/second", "json://127.86.12.9:9/third"]
    assert editor.load().alerts.urls == ("json://127.86.12.9:9/second", "json://127.86.12.9:9/third")
    before = path.read_bytes()
    with pytest.raises(ConfigEditError) as info:  # start-up's own check (Apprise) refuses it: nothing written
        editor.set_list("alerts.urls", ["json://127.86.12.9:9/second", "discord://112233"])
    assert str(info.value).startswith("alerts.urls[1]: Apprise cannot use") and "112233" not in str(info.value)
    assert path.read_bytes() == before
    with pytest.raises(ConfigEditError):
        editor.set_list("alerts.disabled", ["x"])
    assert editor.set_list("alerts.urls", []).config.alerts.urls == ()
    assert yaml.safe_load(path.read_text())["alerts"]["urls"] == []
    # A file without the key gets the list made.
    other = tmp_path / "other.yaml"
    other.write_text("polling:\n  interval_sec: 30\n")
    ConfigEditor(other, {}).set_list("alerts.urls", ["json://127.86.12.9:9/x"])
    assert yaml.safe_load(other.read_text()) == {"polling": {"interval_sec": 30},
                                                 "alerts": {"urls": ["json://127.86.12.9:9/x"]}}


def _threads(name: str) -> int:
    return sum(1 for t in threading.enumerate() if t.name == name)


def _apprise_objects() -> int:
    import apprise

    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, apprise.Apprise))


def test_notifier_swaps_channels_in_place_without_leaking_threads_or_apprise_objects():
    a, b, c = "json://127.86.12.9:9/a", "json://127.86.12.9:9/b", "json://127.86.12.9:9/c"
    threads_before = threading.active_count()
    fds_before = len(os.listdir("/proc/self/fd"))
    notifier = Notifier([a, b], retry_delays_s=(600,))
    try:
        kept = notifier._runs[0]
        notifier.test(0.0)  # starts the one sender thread
        assert _threads("alerts-notify") == 1
        base_objects = _apprise_objects()
        for _ in range(15):
            notifier.set_urls([a, c])
            notifier.set_urls([a, b, c])
        notifier.set_urls([a, c])
        assert notifier._runs[0] is kept  # a kept channel keeps its queue and health
        assert [r.source for r in notifier._runs] == [a, c]
        assert _threads("alerts-notify") == 1
        assert _apprise_objects() <= base_objects  # the removed channels' Apprise objects are gone
        with pytest.raises(ValueError):
            notifier.set_urls([a, "discord://1"])
        assert [r.source for r in notifier._runs] == [a, c]  # a refused list changes nothing
        assert notifier.test(0.0, source="json://127.86.12.9:9/nope") == []
        assert len(notifier.test(5.0, source=c)) == 1
        notifier.set_urls([])
        assert notifier.channels() == [] and notifier.test(0.0) == []
        assert _threads("alerts-notify") == 1  # idle, kept for the next channel
    finally:
        notifier.close()
    deadline = time.monotonic() + 5
    while threading.active_count() > threads_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= threads_before
    assert len(os.listdir("/proc/self/fd")) <= fds_before + 1


def test_a_removed_channel_drops_its_queue_and_answers_its_waiting_test():
    a, b = "json://127.86.12.9:9/a", "json://127.86.12.9:9/b"
    notifier = Notifier([a, b], retry_delays_s=(600,))
    try:
        from services.alerts.notifier import Notification

        with notifier._cond:  # hold the sender off: the message stays queued
            notifier.send(Notification("t", "b", "info"))
            queued = notifier._runs[1].queue
            assert len(queued) == 1
        notifier.set_urls([a])
        assert len(queued) == 0 and [r.source for r in notifier._runs] == [a]
    finally:
        notifier.close()
