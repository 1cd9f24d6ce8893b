"""Bitaxe / AxeOS (ESP-Miner) and NerdQAxe++ (NerdOS) over HTTP on port 80.

Facts (reference section 3): no login, but an access rule answers 401 to any
client outside 10/8, 172.16/12 and 192.168/16; hashrates are GH/s, input
voltage mV, current mA; PATCH /api/system answers 200 with an empty body and
silently ignores keys it does not know, so every write is read back; setting
names changed with the version (fanspeed -> manualFanSpeed at v2.12, flat
stratum keys -> pools[] at v2.15); pause/resume exist from v2.14 only.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

import requests

from . import http
from .base import (
    FAN,
    FREQUENCY,
    POOLS,
    RESTART,
    SLEEP,
    WAKE,
    BoardStatus,
    MinerAuthError,
    MinerDriver,
    MinerError,
    MinerProtocolError,
    MinerStatus,
    NotSupported,
    PoolConfig,
    PoolStatus,
)
from .stratum import validate_pools

log = logging.getLogger(__name__)

GH = 1e9
Version = tuple[int, int, int]

AXEOS_401 = ("AxeOS refused this controller's address (401): AxeOS only answers clients in 10/8, "
             "172.16/12, 192.168/16; run the controller on the miner's LAN")
NERDOS_401 = ("NerdQAxe refused this request (401): NerdOS only answers clients on its LAN (10/8, 172.16/12, "
              "192.168/16), and needs a TOTP code for writes when OTP is enabled")

# First digit of boardVersion -> product line (ESP-Miner config-<board>.cvs devicemodel:
# 2xx ultra, 302/303 hex, 4xx supra, 6xx gamma, 800x gamma turbo; BM1397 Max boards are "0.11"/"2.2").
_BOARD_LINES = {"2": "Ultra", "3": "Hex", "4": "Supra", "6": "Gamma", "8": "Gamma Turbo"}
_MAX_BOARDS = {"0.11", "2.2"}

V2_9: Version = (2, 9, 0)  # asicCount moved to /api/system/asic (pyasic PR #352)
V2_12: Version = (2, 12, 0)  # manual fan setting renamed fanspeed -> manualFanSpeed
V2_14: Version = (2, 14, 0)  # POST /api/system/pause and /resume added
V2_15: Version = (2, 15, 0)  # pools only through pools[]; flat stratum keys no longer settable


# --- pure helpers ------------------------------------------------------------------------
def parse_version(text: Any) -> Version | None:
    """(major, minor, patch) from "v2.13.0b1", "2.2.0", "v1.1.0-beta1"; None if there is none."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text) if isinstance(text, str) else None
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def is_nerdqaxe(info: dict[str, Any]) -> bool:
    """NerdQAxe++/NerdOctaxe firmware puts ``deviceModel`` ("NerdQAxe++") into /api/system/info itself."""
    model = info.get("deviceModel")
    return isinstance(model, str) and "nerd" in model.lower()


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)  # some builds send numbers as strings
        except (TypeError, ValueError):
            return None
    return float(value) if value == value and value not in (float("inf"), float("-inf")) else None


def _int(value: Any) -> int | None:
    result = _num(value)
    return int(result) if result is not None else None


def _positive(value: Any) -> float | None:
    result = _num(value)
    return result if result is not None and result > 0 else None


def model_name(info: dict[str, Any], asic: dict[str, Any] | None = None) -> str | None:
    """"Bitaxe Supra BM1368", "Bitaxe Hex BM1366", "NerdQAxe++ BM1370" from deviceModel/boardVersion + ASICModel."""
    asic = asic or {}
    chip = info.get("ASICModel") or asic.get("ASICModel")
    device = info.get("deviceModel") or asic.get("deviceModel")
    if isinstance(device, str) and device.strip() and device.strip().lower() not in ("invalid", "unknown"):
        device = device.strip()
        name = device if re.search(r"axe|miner", device, re.IGNORECASE) else f"Bitaxe {device[:1].upper()}{device[1:]}"
    else:
        board = str(info.get("boardVersion") or "").strip()
        line = "Max" if board in _MAX_BOARDS else _BOARD_LINES.get(board[:1]) if len(board) == 3 else None
        name = f"Bitaxe {line}" if line else ("Bitaxe" if board or chip else None)
    parts = [p for p in (name, chip if isinstance(chip, str) else None) if p]
    return " ".join(parts) or None


def _mac(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().replace("-", ":").upper()  # AxeOS v2.6 wrote "C0-FA-38-6A-6E-B2"


def _pool_url(host: Any, port: Any, tls: Any = False) -> str | None:
    if not isinstance(host, str) or not host.strip():
        return None
    host = host.strip()
    if "://" in host:  # some users store the whole URL in stratumURL
        return host
    scheme = "stratum+ssl" if tls else "stratum+tcp"
    port_num = _num(port)
    return f"{scheme}://{host}:{int(port_num)}" if port_num else f"{scheme}://{host}"


def _pools(info: dict[str, Any]) -> list[PoolStatus]:
    using_fallback = bool(info.get("isUsingFallbackStratum"))
    listed = info.get("pools")
    if isinstance(listed, list) and listed:  # AxeOS >= v2.15
        primary = _num(info.get("primaryPoolIndex"))
        secondary = _num(info.get("secondaryPoolIndex"))
        current = secondary if using_fallback else primary
        pools = []
        for entry in listed:
            if not isinstance(entry, dict):
                continue
            url = _pool_url(entry.get("stratumURL"), entry.get("stratumPort"), entry.get("stratumTLS"))
            if url is None:
                continue
            pool_id = _num(entry.get("id"))
            priority = 0 if pool_id == primary else 1 if pool_id == secondary else None
            pools.append(PoolStatus(url=url, user=str(entry.get("stratumUser") or ""),
                                    active=pool_id is not None and pool_id == current, priority=priority))
        return sorted(pools, key=lambda p: p.priority if p.priority is not None else 99)
    pools = []
    for prefix, priority in (("stratum", 0), ("fallbackStratum", 1)):
        url = _pool_url(info.get(f"{prefix}URL"), info.get(f"{prefix}Port"), info.get(f"{prefix}TLS"))
        if url is not None:
            pools.append(PoolStatus(url=url, user=str(info.get(f"{prefix}User") or ""), priority=priority,
                                    active=(priority == 1) == using_fallback))
    return pools


def parse_system_info(info: dict[str, Any], asic: dict[str, Any] | None = None) -> MinerStatus:
    """GET /api/system/info (+ /api/system/asic) -> MinerStatus in H/s, W, degrees C, mV, MHz (pure)."""
    if not isinstance(info, dict):
        raise MinerProtocolError("/api/system/info did not return a JSON object")
    asic = asic if isinstance(asic, dict) else {}
    nerd = is_nerdqaxe(info)
    status = MinerStatus()
    hashrate = _num(info.get("hashRate"))
    status.hashrate_hs = hashrate * GH if hashrate is not None else None
    expected = _positive(info.get("expectedHashrate"))  # >= ~v2.9; never computed here
    status.expected_hashrate_hs = expected * GH if expected is not None else None
    status.power_w = _num(info.get("power"))
    # temp: AxeOS average of the chips, NerdOS the hottest chip; temp2 is -1 without a
    # second sensor and NerdOS asicTemps are 0 until read, so only positive readings count.
    chip_temps = [_positive(info.get("temp")), _positive(info.get("temp2"))]
    if isinstance(info.get("asicTemps"), list):
        chip_temps += [_positive(t) for t in info["asicTemps"]]
    readings = [t for t in chip_temps if t is not None]
    status.temp_c = max(readings) if readings else None
    fans = []
    first = _int(info.get("fanrpm"))
    if first is not None:  # the one fan of a Bitaxe: 0 RPM is reported, it means stopped
        fans.append(first)
    second = _int(info.get("fanrpm2", info.get("fan2rpm")))  # NerdOS fanrpm2, AxeOS fan2rpm
    count = _num(info.get("fanCount")) or 0
    if second is not None and (second > 0 or count >= 2):  # AxeOS reports 0 when there is no second fan
        fans.append(second)
    status.fan_rpm = fans
    status.fan_percent = _num(info.get("fanspeed"))
    status.frequency_mhz = _positive(info.get("frequency"))
    status.voltage_mv = _positive(info.get("coreVoltage"))
    status.uptime_s = _int(info.get("uptimeSeconds"))
    status.shares_accepted = _int(info.get("sharesAccepted"))
    status.shares_rejected = _int(info.get("sharesRejected"))
    status.model = model_name(info, asic)
    status.firmware = "NerdOS" if nerd else "AxeOS"
    version = info.get("version")
    status.firmware_version = version if isinstance(version, str) and version else None
    status.mac = _mac(info.get("macAddr"))
    hostname = info.get("hostname")
    status.hostname = hostname if isinstance(hostname, str) and hostname else None
    chips = _num(info.get("asicCount")) or _num(asic.get("asicCount"))
    status.boards = [BoardStatus(
        index=0,
        hashrate_hs=status.hashrate_hs,
        expected_hashrate_hs=status.expected_hashrate_hs,
        chip_temp_c=status.temp_c,
        temp_c=_positive(info.get("vrTemp")),  # the regulator is the hottest part of the PCB
        chips=int(chips) if chips else None,
        frequency_mhz=status.frequency_mhz,
        voltage_mv=_positive(info.get("coreVoltageActual")) or status.voltage_mv,
    )]
    status.pools = _pools(info)
    if info.get("miningPaused") is True or info.get("shutdown") is True:  # AxeOS >= v2.14 / NerdOS
        status.state = "paused"
    fault = info.get("power_fault")
    if isinstance(fault, str) and fault.strip():
        status.errors.append(f"power fault: {fault.strip()}")
        status.state = "error"
    if _num(info.get("overheat_mode")):
        status.errors.append("overheat protection active: fan forced to 100 %, frequency lowered")
    if info.get("hardware_fault"):
        status.errors.append(f"hardware fault: {info['hardware_fault']}")
    return status


# --- the driver ------------------------------------------------------------------------------
class BitaxeDriver(MinerDriver):
    """AxeOS (Bitaxe and ESP-Miner forks) and NerdOS (NerdQAxe++) over HTTP, one Session per instance.

    ``capabilities`` on the class is the family's maximum; after the first read an
    instance narrows its own to what the firmware it found can do (sleep/wake need
    AxeOS v2.14+; NerdOS gets restart, frequency and pools).
    """

    family: ClassVar[str] = "bitaxe"
    default_port: ClassVar[int] = 80
    capabilities: ClassVar[frozenset[str]] = frozenset({RESTART, SLEEP, WAKE, FREQUENCY, FAN, POOLS})

    def __init__(self, host: str, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self._session = http.new_session()
        self._session.headers["Accept"] = "application/json"
        self._asic: dict[str, Any] | None = None
        self._asic_done = False
        self._version: Version | None = None
        self._nerd = False

    # --- transport ---
    def _url(self, path: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}" if self.port != 80 else f"http://{host}{path}"

    def _call(self, method: str, path: str, body: Any = None) -> http.HttpReply:
        reply = http.request(self._session, method, self._url(path), timeout=self.timeout, json_body=body)
        if reply.status == 401:
            raise MinerAuthError(NERDOS_401 if self._nerd else AXEOS_401)
        return reply

    def _expect_ok(self, reply: http.HttpReply, what: str) -> None:
        if reply.status == 400:  # v2.11+: "Invalid JSON" / "Wrong API input"
            raise MinerError(f"{what}: the firmware rejected the values ({reply.text.strip()[:80] or 'HTTP 400'})")
        if not 200 <= reply.status < 300:
            raise MinerProtocolError(f"{what}: HTTP {reply.status}")

    def close(self) -> None:
        """Close the pooled HTTP connection."""
        self._session.close()

    # --- read ---
    def _info(self) -> dict[str, Any]:
        reply = self._call("GET", "/api/system/info")
        self._expect_ok(reply, "GET /api/system/info")
        info = reply.json()
        if not isinstance(info, dict):
            raise MinerProtocolError("/api/system/info did not return a JSON object")
        self._learn(info)
        return info

    def _learn(self, info: dict[str, Any]) -> None:
        """Narrow this instance's capabilities to the firmware just read."""
        self._nerd = is_nerdqaxe(info)
        self._version = parse_version(info.get("version"))
        caps = set(type(self).capabilities)
        if self._nerd:
            # NerdOS: pause is /api/system/shutdown with no documented resume, and its fan
            # modes (autofanspeed 0/1/2) differ from AxeOS; offer only what is verifiable.
            caps = {RESTART, FREQUENCY, POOLS}
        elif self._version is None or self._version < V2_14:
            caps -= {SLEEP, WAKE}
        self.capabilities = frozenset(caps)  # instance attribute shadows the class maximum

    def _asic_info(self, info: dict[str, Any]) -> dict[str, Any] | None:
        """GET /api/system/asic once per instance, on AxeOS >= v2.9 (asicCount, deviceModel live there)."""
        if self._asic_done or self._nerd:
            return self._asic
        if "asicCount" in info and (self._version is None or self._version < V2_9):
            self._asic_done = True
            return None
        try:
            reply = self._call("GET", "/api/system/asic")
        except MinerAuthError:
            raise
        except MinerError as exc:  # transient: try again on the next read
            log.debug("%s: /api/system/asic: %s", self.host, exc)
            return None
        self._asic_done = True
        if reply.status == 200:
            try:
                data = reply.json()
            except MinerProtocolError:
                data = None
            self._asic = data if isinstance(data, dict) else None
        return self._asic

    def read(self) -> MinerStatus:
        """GET /api/system/info (and /api/system/asic once) -> MinerStatus."""
        info = self._info()
        return parse_system_info(info, self._asic_info(info))

    # --- control ---
    def restart(self) -> None:
        """POST /api/system/restart (reply is plain text up to v2.12, JSON from v2.13)."""
        self._expect_ok(self._call("POST", "/api/system/restart"), "restart")

    def _need_version(self) -> Version | None:
        if self._version is None and not self._nerd:
            self._info()
        return self._version

    def sleep(self) -> None:
        """POST /api/system/pause (AxeOS v2.14+)."""
        self._pause_resume("pause")

    def wake(self) -> None:
        """POST /api/system/resume (AxeOS v2.14+)."""
        self._pause_resume("resume")

    def _pause_resume(self, action: str) -> None:
        version = self._need_version()
        if self._nerd:
            raise NotSupported("NerdOS has no pause/resume in its API (only /api/system/shutdown, which "
                               "needs a restart to resume)")
        if version is None or version < V2_14:
            shown = "v%d.%d.%d" % version if version else "this AxeOS build"
            raise NotSupported(f"AxeOS {shown} cannot pause mining: pause/resume were added in v2.14.0; "
                               "update the firmware to use sleep/wake")
        self._expect_ok(self._call("POST", f"/api/system/{action}"), action)

    def _patch_and_verify(self, settings: dict[str, Any], expect: dict[str, Any], what: str) -> None:
        self._expect_ok(self._call("PATCH", "/api/system", settings), what)
        info = self._info()
        wrong = [key for key, want in expect.items() if not _same(info.get(key), want, key)]
        if wrong:
            raise MinerProtocolError(f"{what}: the firmware answered OK but did not apply {', '.join(wrong)} "
                                     "(this build ignores those setting names)")

    def set_frequency(self, mhz: int, voltage_mv: int | None = None, board: int | None = None) -> None:
        """PATCH frequency (and coreVoltage), then read back: unknown keys are ignored silently."""
        if board not in (None, 0):
            raise ValueError("a Bitaxe has one board (0)")
        if not 50 <= int(mhz) <= 1500:
            raise ValueError(f"frequency {mhz} MHz is outside 50..1500")
        settings: dict[str, Any] = {"frequency": int(mhz)}
        if voltage_mv is not None:
            if not 700 <= int(voltage_mv) <= 1800:
                raise ValueError(f"core voltage {voltage_mv} mV is outside 700..1800")
            settings["coreVoltage"] = int(voltage_mv)
        self._need_version()
        self._patch_and_verify(settings, settings, "set frequency")

    def set_fan(self, percent: int | None) -> None:
        """Fixed fan percent (fanspeed before v2.12, manualFanSpeed from v2.12) or automatic (None)."""
        version = self._need_version()
        if self._nerd:
            raise NotSupported("NerdOS fan modes (autofanspeed 0/1/2) differ from AxeOS; set the fan in its web UI")
        if percent is None:
            self._patch_and_verify({"autofanspeed": 1}, {"autofanspeed": 1}, "set fan to automatic")
            return
        if not 0 <= int(percent) <= 100:
            raise ValueError(f"fan speed {percent} % is outside 0..100")
        key = "manualFanSpeed" if version is not None and version >= V2_12 else "fanspeed"
        settings = {"autofanspeed": 0, key: int(percent)}
        self._patch_and_verify(settings, settings, "set fan")

    def set_pools(self, pools: list[PoolConfig]) -> None:
        """Primary (+ fallback) pool: flat stratum* keys up to v2.14, pools[] from v2.15; read back.

        With one pool given, the fallback pool is left as it is. AxeOS applies new
        pools after a restart, which is left to the caller.
        """
        checked = validate_pools(pools, max_pools=2)
        version = self._need_version()
        expect: dict[str, Any] = {}
        for (host, port, pool), prefix in zip(checked, ("stratum", "fallbackStratum")):
            expect.update({f"{prefix}URL": host, f"{prefix}Port": port, f"{prefix}User": pool.user})
        if not self._nerd and version is not None and version >= V2_15:
            settings: dict[str, Any] = {
                "pools": [{"id": i, "stratumURL": host, "stratumPort": port, "stratumUser": pool.user,
                           "stratumPassword": pool.password} for i, (host, port, pool) in enumerate(checked)],
                "primaryPoolIndex": 0,
            }
            if len(checked) > 1:
                settings["secondaryPoolIndex"] = 1
        else:
            settings = dict(expect)
            for (_, _, pool), prefix in zip(checked, ("stratum", "fallbackStratum")):
                settings[f"{prefix}Password"] = pool.password
        self._patch_and_verify(settings, expect, "set pools")  # passwords are never echoed: not compared


def _same(actual: Any, wanted: Any, key: str) -> bool:
    if isinstance(wanted, str):  # host names compare case-insensitively, worker names exactly
        if not isinstance(actual, str):
            return False
        return actual.strip().lower() == wanted.lower() if key.endswith("URL") else actual.strip() == wanted
    a, w = _num(actual), _num(wanted)
    return a is not None and w is not None and abs(a - w) < 0.5
