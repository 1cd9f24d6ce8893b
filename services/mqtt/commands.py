"""Command topics: a message on <base>/<miner_id>/<control>/set runs through the API's own code path.

Miner commands go through ``FleetManager.command(..., actor="mqtt")`` (capability check, driver,
event in the log) and the controller's through ``AutoControl.command(body, by="mqtt")``, with the
values checked as the API checks them (web/miner_commands.py, services/power/commands.py). The answer, ok or
refused with the reason, is published on <base>/<miner_id>/result (<base>/control/result).

MQTT carries no login per message: whoever may publish to these topics can command the miners.
The broker's ACLs are the access control (docs/mqtt.md); ``mqtt.commands: false`` subscribes nothing.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from typing import Any, Callable

from miners import base
from miners.base import MinerAuthError, MinerError, NotSupported
from services.fleet import UnknownMiner
from services.mqtt.discovery import API_MAX_W
from services.mqtt.identity import ip_of
from services.mqtt.topics import CONTROL, Topics

log = logging.getLogger(__name__)

ACTOR = "mqtt"
MAX_PAYLOAD = 256  # the longest sensible command is a mode name; more is refused unread
MAX_QUEUED = 32  # commands waiting; more are refused ("busy") rather than piling up
_ON = ("ON", "TRUE", "1")
_OFF = ("OFF", "FALSE", "0")


class CommandError(ValueError):
    """A command refused before or by the miner; str() is the reason published on the result topic."""


def _switch(payload: str) -> bool:
    word = payload.strip().upper()
    if word in _ON:
        return True
    if word in _OFF:
        return False
    raise CommandError(f"expected ON or OFF, got {payload[:40]!r}")


def _whole(payload: str, low: int, high: int, what: str) -> int:
    try:
        value = float(payload.strip())
    except ValueError:
        raise CommandError(f"{what}: expected a number, got {payload[:40]!r}") from None
    if not math.isfinite(value) or value != int(value):
        raise CommandError(f"{what}: expected a whole number, got {payload[:40]!r}")
    if not low <= value <= high:
        raise CommandError(f"{what}: must be {low}-{high}, got {int(value)}")
    return int(value)


class CommandRunner:
    """Takes command messages from the MQTT thread, runs them one at a time on its own thread."""

    def __init__(self, fleet: Any, autocontrol: Any, topics: Topics,
                 publish: Callable[[str, dict], None], on_done: Callable[[str], None] | None = None) -> None:
        self.fleet = fleet
        self.autocontrol = autocontrol
        self.topics = topics
        self._publish = publish  # (topic, JSON body): the result, not retained
        self._on_done = on_done  # called with the target after a command (its state is published at once)
        self._queue: queue.Queue[tuple[str, str, bytes] | None] = queue.Queue(MAX_QUEUED)
        self._thread: threading.Thread | None = None
        self.handled = 0

    def start(self) -> None:
        """Start the command thread."""
        self._thread = threading.Thread(target=self._run, name="mqtt-commands", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Finish the command running now, drop the queued ones, end the thread."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            pass
        if self._thread is not None:
            self._thread.join(timeout)

    def submit(self, topic: str, payload: bytes) -> bool:
        """Called on the MQTT network thread: queue a command (never blocks); False if not a command topic."""
        parsed = self.topics.parse_command(topic)
        if parsed is None:
            return False
        target, control = parsed
        try:
            self._queue.put_nowait((target, control, payload))
        except queue.Full:
            self._answer(target, control, "", error="busy: too many commands waiting, try again")
        return True

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            target, control, raw = item
            try:
                self.execute(target, control, raw)
            except Exception:  # noqa: BLE001 - a bug in one command must not end the command thread
                log.exception("mqtt command %s/%s failed", target, control)
                self._answer(target, control, "", error="internal error (see the log)")

    def execute(self, target: str, control: str, raw: bytes) -> dict[str, Any]:
        """Run one command and publish its result; returns the result body."""
        self.handled += 1
        if len(raw) > MAX_PAYLOAD:
            return self._answer(target, control, "", error=f"payload longer than {MAX_PAYLOAD} bytes")
        try:
            payload = raw.decode("utf-8")
        except UnicodeDecodeError:
            return self._answer(target, control, "", error="payload is not UTF-8 text")
        try:
            if target == CONTROL:
                message = self._controller(control, payload)
            else:
                message = self._miner(target, control, payload)
        except CommandError as exc:
            return self._answer(target, control, payload, error=str(exc))
        except UnknownMiner:
            return self._answer(target, control, payload, error=f"no miner {target}")
        except NotSupported as exc:
            return self._answer(target, control, payload, error=str(exc))
        except ValueError as exc:  # the driver or apply_command refused the values
            return self._answer(target, control, payload, error=str(exc))
        except MinerAuthError as exc:
            return self._answer(target, control, payload, error=f"the miner refused the login: {exc}")
        except MinerError as exc:
            return self._answer(target, control, payload, error=f"the miner did not accept the command: {exc}")
        if self._on_done is not None:
            self._on_done(target)
        return self._answer(target, control, payload, message=message)

    def _miner(self, target: str, control: str, payload: str) -> str:
        ip = ip_of(target)
        if ip is None:
            raise CommandError(f"not a miner id: {target[:40]!r}")
        record = self.fleet.get(ip)  # UnknownMiner
        caps = record.driver.capabilities
        if control == "mining":
            return self.fleet.command(ip, "wake" if _switch(payload) else "sleep", actor=ACTOR)
        if control == "power":
            if base.POWER_WATTS not in caps and base.POWER_PERCENT in caps:
                return self.fleet.command(ip, "set_power_percent", _whole(payload, 0, 100, "percent"), actor=ACTOR)
            return self.fleet.command(ip, "set_power_watts", _whole(payload, 1, API_MAX_W, "watts"), actor=ACTOR)
        if control == "mode":
            mode = payload.strip()
            if not mode or len(mode) > 64 or not mode.isprintable():
                raise CommandError("mode: expected a mode name")
            # An empty list means not learnt yet (Vnish 1.x): the driver checks, as in the API.
            if base.MODE in caps and record.driver.modes and mode not in record.driver.modes:
                raise CommandError(f"unknown mode {mode!r}; this miner has {', '.join(record.driver.modes)}")
            return self.fleet.command(ip, "set_mode", mode, actor=ACTOR)
        if control == "restart":
            return self.fleet.command(ip, "restart", actor=ACTOR)
        raise CommandError(f"unknown control {control[:40]!r} (mining, power, mode, restart)")

    def _controller(self, control: str, payload: str) -> str:
        if control == "autocontrol":
            body: dict[str, Any] = {"enabled": _switch(payload)}
        elif control == "policy":
            body = {"policy": payload.strip()}
        elif control == "fleet_target":
            if payload.strip().lower() in ("", "clear", "none"):
                body = {"override": {"clear": True}}
            else:
                body = {"override": {"percent": _whole(payload, 0, 100, "percent")}}
        else:
            raise CommandError(f"unknown control {control[:40]!r} (autocontrol, policy, fleet_target)")
        self.autocontrol.command(body, by=ACTOR)
        return f"autocontrol {body}"

    def _answer(self, target: str, control: str, payload: str, *, message: str | None = None,
                error: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": error is None, "control": control, "payload": payload[:64],
                                "ts": round(time.time(), 3)}
        if error is None:
            body["message"] = message
        else:
            body["error"] = error
            log.info("mqtt command %s/%s %r refused: %s", target, control, payload[:64], error)
        # A target that is neither a miner id nor "control" gets its answer on the controller's topic.
        result_of = target if target == CONTROL or ip_of(target) is not None else CONTROL
        self._publish(self.topics.result(result_of), body)
        return body
