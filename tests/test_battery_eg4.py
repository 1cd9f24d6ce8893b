"""EG4/Luxpower portal source: login, session expiry and re-login, refresh before 2 h, backoff, parsing."""

from __future__ import annotations

import pytest
import requests
import requests_mock as rm

from services.battery import BatteryError
from services.battery.config import EG4Config
from services.battery.eg4 import LOGIN_PATH, RUNTIME_PATH, EG4Source

BASE = "https://portal.test"
SECRET = "hunter2-secret"
T0 = 1_700_000_000.0


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def runtime_body(soc=80, **extra):
    body = {"success": True, "soc": soc, "ppv1": 1000, "ppv2": 500, "ppv3": 0, "pCharge": 300, "pDisCharge": 0,
            "consumptionPower": 1200, "pToUser": 0, "pToGrid": 0, "lost": False,
            "deviceTime": "2024-06-01 12:00:00", "serverTime": "2024-06-01 12:00:15"}
    body.update(extra)
    return body


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def mock():
    with rm.Mocker() as m:
        yield m


def make(clock, **cfg):
    cfg = {"base_url": BASE, "username": "me@example.com", "password": SECRET, "serial": "1234567890", **cfg}
    return EG4Source(EG4Config(**cfg), max_age_sec=300, clock=clock, rand=lambda: 1.0)


def login_ok(mock):
    return mock.post(BASE + LOGIN_PATH, json={"success": True, "plants": []}, cookies={"JSESSIONID": "abc"})


def test_login_then_runtime_parsed_to_our_signs(clock, mock):
    login = login_ok(mock)
    rt = mock.post(BASE + RUNTIME_PATH, json=runtime_body(pToUser=200, pToGrid=0))
    src = make(clock)
    r = src.read()
    assert login.call_count == 1 and rt.call_count == 1
    assert "account=me%40example.com" in login.last_request.text and "language=ENGLISH" in login.last_request.text
    assert rt.last_request.text == "serialNum=1234567890"
    assert rt.last_request.headers["X-Requested-With"] == "XMLHttpRequest"
    assert r.soc_pct == 80 and r.pv_w == 1500 and r.load_w == 1200
    assert r.battery_w == -300  # charging 300 W -> negative in our convention
    assert r.grid_w == 200  # importing
    assert r.measured_at == T0 and r.measured_at_from == "device_change"
    st = src.status()
    assert st.connected and st.last_error == "" and st.session_age_sec == 0


def test_discharge_and_export_signs(clock, mock):
    login_ok(mock)
    mock.post(BASE + RUNTIME_PATH, json=runtime_body(pCharge=0, pDisCharge=900, pToUser=0, pToGrid=400, ppv=2000))
    r = make(clock).read()
    assert r.battery_w == 900 and r.grid_w == -400 and r.pv_w == 2000


@pytest.mark.parametrize("expired", [
    {"status_code": 401},
    {"status_code": 403},
    {"status_code": 200, "json": {"success": False, "message": "SESSION_TIMEOUT"}},
    {"status_code": 302, "headers": {"Location": "/WManage/web/login"}},
    {"status_code": 200, "text": "<html>login</html>"},
])
def test_expired_session_logs_in_again_transparently(clock, mock, expired):
    login = login_ok(mock)
    rt = mock.post(BASE + RUNTIME_PATH, [{"json": runtime_body(80)}, expired, {"json": runtime_body(80)}])
    src = make(clock)
    src.read()
    clock.t += 25
    r = src.read()  # the second poll meets the expired session, logs in, retries once
    assert r.soc_pct == 80
    assert login.call_count == 2 and rt.call_count == 3
    assert src.status().connected


def test_still_refused_after_fresh_login_is_an_error(clock, mock):
    login_ok(mock)
    mock.post(BASE + RUNTIME_PATH, json={"success": False, "message": "DEVICE_ERROR_UNSUPPORT_DEVICE_TYPE"})
    src = make(clock)
    with pytest.raises(BatteryError, match="DEVICE_ERROR_UNSUPPORT_DEVICE_TYPE.*even after a fresh login"):
        src.read()
    st = src.status()
    assert not st.connected and "fresh login" in st.last_error


def test_session_refreshed_before_two_hours_not_weekly(clock, mock):
    login = login_ok(mock)
    mock.post(BASE + RUNTIME_PATH, json=lambda req, ctx: runtime_body(deviceTime=str(clock.t)))  # fresh uploads
    src = make(clock)
    src.read()
    assert login.call_count == 1
    clock.t = T0 + 7200 - 330  # before lifetime - margin: the session is kept
    src.read()
    assert login.call_count == 1
    assert src.status().session_age_sec == pytest.approx(7200 - 330)
    clock.t = T0 + 7200 - 299  # inside the 5-minute margin: log in again before the portal drops us
    src.read()
    assert login.call_count == 2
    assert src.status().session_age_sec == 0


def test_login_clears_cookie_jar_and_never_leaks_password(clock, mock, caplog):
    login_ok(mock)
    mock.post(BASE + RUNTIME_PATH, json=runtime_body())
    src = make(clock)
    src._http.cookies.set("JSESSIONID", "stale")
    src.read()
    assert "stale" not in mock.request_history[0].headers.get("Cookie", "")  # the login went without it
    assert src._http.cookies.get("JSESSIONID") != "stale"
    assert SECRET not in repr(src) and SECRET not in str(src.status())
    assert SECRET not in caplog.text


def test_wrong_password_is_refused_clearly_and_backs_off_slowly(clock, mock):
    login = mock.post(BASE + LOGIN_PATH, json={"success": False, "msg": "ACCOUNT_PASSWORD_ERROR"})
    src = make(clock)
    with pytest.raises(BatteryError, match="login refused.*check eg4.username") as exc:
        src.read()
    assert SECRET not in str(exc.value)
    for _ in range(12):  # keep failing: the delay grows to the 15-minute auth cap
        clock.t = src._next_try_at
        with pytest.raises(BatteryError):
            src.read()
    assert src._next_try_at - clock.t == pytest.approx(900)
    assert login.call_count == 13


def test_backoff_doubles_with_jitter_and_skips_the_network(clock, mock):
    login_ok(mock)
    rt = mock.post(BASE + RUNTIME_PATH, status_code=500)
    src = EG4Source(EG4Config(base_url=BASE, username="u", password=SECRET, serial="1234567890"),
                    max_age_sec=300, clock=clock, rand=lambda: 0.0)  # jitter at its minimum: half the delay
    delays = []
    for _ in range(8):
        with pytest.raises(BatteryError, match="HTTP 500"):
            src.read()
        delays.append(src._next_try_at - clock.t)
        calls = rt.call_count
        with pytest.raises(BatteryError, match="backing off"):
            src.read()  # inside the window: no request at all
        assert rt.call_count == calls
        clock.t = src._next_try_at
    assert delays == [0.5, 1, 2, 4, 8, 16, 30, 30]  # 1 s base x2, 60 s cap, halved by jitter 0.0


def test_network_error_is_clear(clock, mock):
    mock.post(BASE + LOGIN_PATH, exc=requests.ConnectionError("boom"))
    with pytest.raises(BatteryError, match="unreachable \\(ConnectionError\\)"):
        make(clock).read()


def test_never_polls_faster_than_min_poll_sec(clock, mock):
    login_ok(mock)
    rt = mock.post(BASE + RUNTIME_PATH, [{"json": runtime_body(80)}, {"json": runtime_body(81)}])
    src = make(clock)
    first = src.read()
    clock.t += 10
    again = src.read()
    assert again is first and rt.call_count == 1  # cached, same measurement time
    clock.t += 10
    assert src.read().soc_pct == 81 and rt.call_count == 2


def test_lost_inverter_and_missing_values_are_errors_not_zero(clock, mock):
    login_ok(mock)
    mock.post(BASE + RUNTIME_PATH, [{"json": runtime_body(lost=True)}, {"json": runtime_body(soc=None)}])
    src = make(clock)
    with pytest.raises(BatteryError, match="lost"):
        src.read()
    clock.t = src._next_try_at
    with pytest.raises(BatteryError, match="soc: missing"):
        src.read()


def test_device_time_in_another_zone_than_server_time_is_still_fresh(clock, mock):
    # pylxpweb's documented sample: serverTime 7 h after deviceTime for live data (two time zones).
    login_ok(mock)
    mock.post(BASE + RUNTIME_PATH, json=runtime_body(deviceTime="2025-09-10 09:48:01", serverTime="2025-09-10 16:48:01"))
    r = make(clock).read()
    assert r.measured_at == T0


def test_device_time_that_stops_changing_goes_stale(clock, mock):
    login_ok(mock)
    frozen = runtime_body(deviceTime="2024-06-01 12:00:00")
    rt = mock.post(BASE + RUNTIME_PATH, [{"json": runtime_body(deviceTime="2024-06-01 11:59:40")}] + [{"json": frozen}] * 20)
    src = make(clock)  # max_age_sec 300
    src.read()
    for _ in range(10):  # the portal keeps serving the same upload every 25 s
        clock.t += 25
        r = src.read()
    assert r.measured_at == T0 + 25  # when that deviceTime was first seen
    clock.t = T0 + 25 + 301
    with pytest.raises(BatteryError, match="301 s old"):
        src.read()
    assert rt.call_count == 12 and not src.status().connected


def test_load_field_for_off_grid_units(clock, mock):
    login_ok(mock)
    mock.post(BASE + RUNTIME_PATH, json=runtime_body(consumptionPower=0, peps=2300))
    r = make(clock, load_field="peps").read()
    assert r.load_w == 2300


def test_without_device_time_receive_time_is_used_and_said(clock, mock):
    login_ok(mock)
    body = runtime_body()
    del body["deviceTime"]
    mock.post(BASE + RUNTIME_PATH, json=body)
    r = make(clock).read()
    assert r.measured_at == T0 and r.measured_at_from == "received"
