"""EG4 / Luxpower cloud portal ("WManage") as the open-source clients use it.

Behaviour (energy-anchors.md 3.1; pylxpweb, eg4_web_monitor):
- ``POST /WManage/api/login`` form ``account``/``password`` -> ``{"success": true, ...}`` and a JSESSIONID cookie.
- ``POST /WManage/api/inverter/getInverterRuntime`` form ``serialNum`` -> runtime JSON.
- A 200 reply with ``"success": false`` is a failure; so are 401/403 and a redirect to the login page.
  Each of those triggers one fresh login (cookie jar cleared first) and one retry.
- The session lasts about 2 h: we log in again ``refresh_margin_sec`` before it ends, not weekly.
- Measurement time: the receive time at which the inverter's ``deviceTime`` last changed (see _measured_at).
- The device uploads every 5-30 s, so the portal is asked at most every ``min_poll_sec`` (20 s);
  read() in between returns the cached reading with its original measurement time.
- Failures back off exponentially (1 s base, x2, 60 s max; 15 min for refused logins) with jitter.
The password is only ever put in the login form body: never logged, never in an exception or repr.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any, Callable

import requests

from .base import BatteryError, BatteryReading, BatterySource, require_number
from .config import EG4Config
from .plausibility import PlausibilityGuard

log = logging.getLogger(__name__)

LOGIN_PATH = "/WManage/api/login"
RUNTIME_PATH = "/WManage/api/inverter/getInverterRuntime"


class _Reauth(Exception):
    """The portal wants a fresh login (401/403, a redirect, or success:false)."""


class EG4Source(BatterySource):
    """Reads one inverter's runtime data from the EG4/Luxpower portal."""

    name = "eg4"
    BACKOFF_BASE_SEC = 1.0
    BACKOFF_MAX_SEC = 60.0
    AUTH_BACKOFF_MAX_SEC = 900.0  # a refused login is retried slowly, so a wrong password cannot lock the account

    def __init__(self, cfg: EG4Config, *, max_age_sec: float, guard: PlausibilityGuard | None = None,
                 clock: Callable[[], float] = time.time, session: requests.Session | None = None,
                 rand: Callable[[], float] = random.random) -> None:
        super().__init__(max_age_sec=max_age_sec, guard=guard, clock=clock)
        self.cfg = cfg
        self.base_url = cfg.base_url.rstrip("/")
        self._http = session or requests.Session()
        self._rand = rand
        self._logged_in_at: float | None = None
        self._failures = 0
        self._next_try_at = 0.0
        self._cached: BatteryReading | None = None
        self._device_time: str | None = None  # the last deviceTime string seen, and when
        self._device_time_seen = 0.0
        self._polled_at = float("-inf")
        self.login_count = 0  # for the status page and tests

    def __repr__(self) -> str:
        return f"EG4Source(base_url={self.base_url!r}, serial={self.cfg.serial!r})"

    # --- the read cycle -------------------------------------------------------
    def _fetch(self) -> BatteryReading:
        now = self.clock()
        if self._cached is not None and now - self._polled_at < self.cfg.min_poll_sec:
            return self._cached  # never ask the portal faster than min_poll_sec
        if now < self._next_try_at:
            raise BatteryError(f"EG4 portal: backing off after {self._failures} failure(s), "
                               f"next try in {self._next_try_at - now:.0f} s")
        try:
            reading = self._poll()
        except BatteryError as exc:
            self._back_off(auth=isinstance(exc, _LoginRefused))
            raise
        self._failures = 0
        self._next_try_at = 0.0
        self._cached = reading
        self._polled_at = now
        return reading

    def _back_off(self, auth: bool) -> None:
        self._failures += 1
        cap = self.AUTH_BACKOFF_MAX_SEC if auth else self.BACKOFF_MAX_SEC
        delay = min(cap, self.BACKOFF_BASE_SEC * 2 ** (self._failures - 1))
        delay *= 0.5 + 0.5 * self._rand()  # jitter: many Pis must not retry in step
        self._next_try_at = self.clock() + delay
        if self._failures == 3:
            log.warning("EG4 portal: 3 failures in a row, backing off")

    def _poll(self) -> BatteryReading:
        if self._session_needs_login():
            self._login()
        try:
            data = self._runtime()
        except _Reauth as why:
            log.info("EG4 portal: %s, logging in again", why)
            self._login()
            try:
                data = self._runtime()
            except _Reauth as again:
                self._logged_in_at = None
                raise BatteryError(f"EG4 portal: {again} even after a fresh login") from None
        return self._parse(data, self.clock())

    def _session_needs_login(self) -> bool:
        if self._logged_in_at is None:
            return True
        age = self.clock() - self._logged_in_at
        return age >= self.cfg.session_lifetime_sec - self.cfg.refresh_margin_sec

    # --- HTTP -------------------------------------------------------------------
    def _post(self, path: str, form: dict[str, str]) -> requests.Response:
        try:
            return self._http.post(
                self.base_url + path, data=form, timeout=self.cfg.timeout_sec, allow_redirects=False,
                headers={"X-Requested-With": "XMLHttpRequest", "Accept": "application/json"})
        except requests.RequestException as exc:
            # The exception text holds the URL at most, never the form body.
            raise BatteryError(f"EG4 portal unreachable ({type(exc).__name__})") from None

    def _login(self) -> None:
        self._http.cookies.clear()  # a stale JSESSIONID next to a new one confuses the portal
        self._logged_in_at = None
        reply = self._post(LOGIN_PATH, {"account": self.cfg.username, "password": self.cfg.password, "language": "ENGLISH"})
        if reply.status_code in (401, 403):
            raise _LoginRefused(f"EG4 login refused (HTTP {reply.status_code}): check eg4.username and eg4.password")
        if reply.status_code != 200:
            raise BatteryError(f"EG4 login failed: HTTP {reply.status_code}")
        body = _json(reply)
        if not isinstance(body, dict) or body.get("success") is not True:
            message = _portal_message(body)
            raise _LoginRefused(f"EG4 login refused{': ' + message if message else ''}: check eg4.username and eg4.password")
        self._logged_in_at = self.clock()
        self.login_count += 1
        log.info("EG4 portal: logged in")

    def _runtime(self) -> dict[str, Any]:
        reply = self._post(RUNTIME_PATH, {"serialNum": self.cfg.serial})
        if reply.status_code in (401, 403):
            raise _Reauth(f"HTTP {reply.status_code}")
        if 300 <= reply.status_code < 400:
            raise _Reauth("redirected to the login page")
        if reply.status_code != 200:
            raise BatteryError(f"EG4 portal: HTTP {reply.status_code}")
        body = _json(reply)
        if not isinstance(body, dict):
            raise _Reauth("reply is not JSON (login page?)")
        if body.get("success") is not True:
            message = _portal_message(body)
            raise _Reauth(f"success:false{' (' + message + ')' if message else ''}")
        return body

    # --- parsing ---------------------------------------------------------------
    def _parse(self, data: dict[str, Any], received: float) -> BatteryReading:
        if data.get("lost") is True:
            raise BatteryError("EG4: the inverter is not reporting to the portal (lost)")
        soc = require_number(data.get("soc"), "EG4 soc")
        if data.get("ppv") is not None:
            pv = require_number(data.get("ppv"), "EG4 ppv")
        else:
            strings = [data.get(k) for k in ("ppv1", "ppv2", "ppv3", "ppv4") if data.get(k) is not None]
            if not strings:
                raise BatteryError("EG4 ppv: missing")
            pv = sum(require_number(v, "EG4 ppvN") for v in strings)
        # EG4 reports charge and discharge as two non-negative fields; ours is + = discharging.
        battery = require_number(data.get("pDisCharge"), "EG4 pDisCharge") - require_number(data.get("pCharge"), "EG4 pCharge")
        field = self.cfg.load_field
        load = require_number(data.get(field), f"EG4 {field}")
        grid = None
        if data.get("pToUser") is not None and data.get("pToGrid") is not None:
            grid = require_number(data["pToUser"], "EG4 pToUser") - require_number(data["pToGrid"], "EG4 pToGrid")
        measured_at, origin = self._measured_at(data, received)
        return BatteryReading(soc_pct=soc, pv_w=pv, load_w=load, battery_w=battery, grid_w=grid,
                              measured_at=measured_at, source=self.name, measured_at_from=origin)

    def _measured_at(self, data: dict[str, Any], received: float) -> tuple[float, str]:
        """When the inverter measured this reading.

        ``deviceTime`` is the inverter's local time in a zone we are not told, and
        ``serverTime`` is in another zone (pylxpweb's sample: 7 h apart for fresh data),
        so neither can be turned into epoch seconds reliably. What we can trust is
        *change*: the reading is stamped with the receive time at which its
        ``deviceTime`` was first seen (measured_at_from = "device_change"). A
        portal that keeps serving an old upload therefore ages and goes stale after
        max_age_sec. Without deviceTime the receive time is used ("received").
        """
        device_time = data.get("deviceTime")
        if not isinstance(device_time, str) or not device_time.strip():
            return received, "received"
        if device_time != self._device_time:
            self._device_time = device_time
            self._device_time_seen = received
        return self._device_time_seen, "device_change"

    def _session_age(self) -> float | None:
        return None if self._logged_in_at is None else self.clock() - self._logged_in_at

    def close(self) -> None:
        """Drop the session (the portal has no documented logout)."""
        self._http.close()
        self._logged_in_at = None


class _LoginRefused(BatteryError):
    """Wrong credentials (or a locked account): back off slowly."""


def _json(reply: requests.Response) -> Any:
    try:
        return reply.json()
    except ValueError:
        return None


def _portal_message(body: Any) -> str:
    """The portal's error text, short; it never echoes the password."""
    if isinstance(body, dict):
        message = body.get("message") or body.get("msg") or ""
        return str(message)[:100]
    return ""
