"""Vnish, both generations behind one family: picks the REST (1.x) or the legacy CGI (3.x) driver on first contact.

Why one family: the UI shows a family name per miner, and detect.py already
answers "vnish" for both (cgminer ``Type`` "... (vnish 3.8.6)" / "(Vnish 1.2.0)",
web page "AnthillOS"). Which generation a miner runs is decided here with
read-only requests, the way the brief and the reference (section 7) tell them
apart:

1. ``GET /api/v1/info`` on the web port answering JSON with ``fw_name`` "Vnish"
   -> Vnish 1.x (AnthillOS) -> VnishRestDriver;
2. otherwise cgminer ``version`` on the API port (4028 + the same offset) whose
   ``Type`` names vnish -> a 1.x Type still means the REST driver, anything else
   (3.x; also the 2.x S17 builds, which then stay read-only) the legacy driver.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from . import cgminer_api, http
from .base import (
    ChipStatus,
    Credentials,
    MinerDriver,
    MinerError,
    MinerProtocolError,
    MinerStatus,
    MinerUnreachable,
    NotSupported,
    PoolConfig,
)
from .cgminer import section
from .tuning import Tuning
from .vnish_legacy import VnishLegacyDriver, parse_vnish_version
from .vnish_rest import VnishRestDriver

log = logging.getLogger(__name__)

HTTP_PORT = 80
CGMINER_PORT = cgminer_api.DEFAULT_PORT
REST, LEGACY = "1.x", "3.x"


class VnishDriver(MinerDriver):
    """Vnish on any Antminer: delegates to VnishRestDriver (1.x) or VnishLegacyDriver (3.x).

    ``port`` is the web port (80 + offset); the cgminer API port is 4028 + the same
    offset. The class ``capabilities`` are the union of both generations (the
    family's maximum); an instance takes its generation's, narrowed by version,
    after the first read. With no credentials given, each generation uses its own
    factory login: web password "admin" on 1.x, digest root/root on 3.x.
    """

    family: ClassVar[str] = "vnish"
    default_port: ClassVar[int] = HTTP_PORT
    capabilities: ClassVar[frozenset[str]] = (VnishRestDriver.capabilities | VnishLegacyDriver.capabilities)
    default_credentials: ClassVar[Credentials | None] = None

    def __init__(self, host: str, *, port: int | None = None, timeout: float = 3.0,
                 credentials: Credentials | None = None) -> None:
        super().__init__(host, port=port, timeout=timeout, credentials=credentials)
        self._given = credentials  # None: let the generation pick its factory login
        self.api_port = CGMINER_PORT + (self.port - HTTP_PORT)
        self._impl: VnishRestDriver | VnishLegacyDriver | None = None
        self.modes: tuple[str, ...] = ()
        self.power_steps_w: tuple[float, ...] = ()

    def __repr__(self) -> str:
        return f"VnishDriver({self.host}:{self.port}, {self.generation or 'generation unknown'})"

    @property
    def generation(self) -> str | None:
        """"1.x" (REST) or "3.x" (legacy CGI) once known, else None."""
        if self._impl is None:
            return None
        return REST if isinstance(self._impl, VnishRestDriver) else LEGACY

    # --- choosing the generation ---
    def _probe_rest(self) -> bool | None:
        """True: /api/v1/info says Vnish; False: the web answered something else; None: no web answer."""
        base = f"http://{self.host}" if self.port == HTTP_PORT else f"http://{self.host}:{self.port}"
        with http.new_session() as session:
            try:
                reply = http.request(session, "GET", base + "/api/v1/info", timeout=self.timeout,
                                     headers={"Accept": "application/json"})
            except MinerUnreachable:
                return None
            except MinerError:
                return False
        if reply.status != 200:
            return False  # the 3.x web answers a digest challenge (401) here
        try:
            info = reply.json()
        except MinerProtocolError:
            return False
        return isinstance(info, dict) and "vnish" in str(info.get("fw_name", "")).lower()

    def _probe_cgminer(self) -> str | None:
        """The cgminer ``version`` Type ("Antminer S9 (vnish 3.8.6)"), or None."""
        try:
            reply = cgminer_api.send_command(self.host, self.api_port, "version", timeout=self.timeout)
        except MinerError as exc:
            log.debug("%s: Vnish probe on %d: %s", self.host, self.api_port, exc)
            return None
        for block in section(reply, "VERSION")[:1]:
            value = block.get("Type")
            if isinstance(value, str):
                return value
        return None

    def _resolve(self) -> VnishRestDriver | VnishLegacyDriver:
        if self._impl is not None:
            return self._impl
        rest = self._probe_rest()
        impl: VnishRestDriver | VnishLegacyDriver
        if rest:
            impl = VnishRestDriver(self.host, port=self.port, timeout=self.timeout, credentials=self._given)
        else:
            type_text = self._probe_cgminer()
            if type_text is None or "vnish" not in type_text.lower():
                if rest is None and type_text is None:
                    raise MinerUnreachable(f"{self.host}: neither the Vnish web API (port {self.port}) nor the "
                                           f"cgminer API (port {self.api_port}) answered")
                raise MinerProtocolError(f"{self.host} does not look like Vnish: no /api/v1/info with fw_name "
                                         f"Vnish and cgminer Type {type_text!r}")
            version = parse_vnish_version(type_text)
            if version is not None and version[0] == 1:
                impl = VnishRestDriver(self.host, port=self.port, timeout=self.timeout, credentials=self._given)
            else:
                impl = VnishLegacyDriver(self.host, port=self.api_port, web_port=self.port, timeout=self.timeout,
                                         credentials=self._given)
        self._impl = impl
        log.info("%s: Vnish %s driver", self.host, self.generation)
        return impl

    def _sync(self) -> None:
        impl = self._impl
        if impl is not None:
            self.capabilities = impl.capabilities
            self.modes = tuple(impl.modes)
            self.power_steps_w = tuple(impl.power_steps_w)
            self.credentials = impl.credentials

    def _call(self, action: str, *args: Any, **kwargs: Any) -> Any:
        impl = self._resolve()
        method = getattr(impl, action, None)
        if method is None:
            raise NotSupported(f"Vnish {self.generation} cannot {action.replace('_', ' ')}")
        try:
            return method(*args, **kwargs)
        finally:
            self._sync()

    # --- the driver interface ---
    def read(self) -> MinerStatus:
        """Read through the generation's driver (chosen on the first call)."""
        return self._call("read")

    def close(self) -> None:
        """Release the generation driver's connections."""
        if self._impl is not None:
            self._impl.close()

    def restart(self) -> None:
        """1.x: POST /mining/restart; 3.x: reboot_cgminer.cgi. Both restart the mining process."""
        self._call("restart")

    def reboot(self) -> None:
        """Reboot the controller (1.x: /system/reboot; 3.x: reboot.cgi). Extra, outside the base interface."""
        self._call("reboot")

    def sleep(self) -> None:
        """1.x: /mining/stop; 3.x: do_sleep_mode.cgi mode=1."""
        self._call("sleep")

    def wake(self) -> None:
        """1.x: /mining/start; 3.x: do_sleep_mode.cgi mode=0."""
        self._call("wake")

    def set_power_watts(self, watts: int) -> str | None:
        """1.x: the watt preset nearest at or below ``watts`` (returns which); 3.x cannot."""
        if isinstance(self._resolve(), VnishLegacyDriver):
            raise NotSupported("Vnish 3.x has no power target; use a mode or set the frequency")
        return self._call("set_power_watts", watts)

    def set_power_percent(self, percent: int) -> None:
        """1.x from 1.3.0: /mining/throttle."""
        if isinstance(self._resolve(), VnishLegacyDriver):
            raise NotSupported("Vnish 3.x has no throttle; use a mode or set the frequency")
        self._call("set_power_percent", percent)

    def set_mode(self, mode: str) -> None:
        """1.x: an autotune preset by name; 3.x: low_power / balanced / performance."""
        self._call("set_mode", mode)

    def set_frequency(self, mhz: int, voltage_mv: int | None = None, board: int | None = None) -> str | None:
        """Global or per-board frequency; chain voltage per board on 3.x, global only on 1.x (its /settings)."""
        return self._call("set_frequency", mhz, voltage_mv, board)

    def tuning(self) -> Tuning:
        """Per-board frequency/voltage and the thermal target with the limits (1.x: /model; 3.x: documented)."""
        return self._call("tuning")

    def set_thermal_target(self, celsius: int) -> str | None:
        """1.x: cooling.mode auto param; 3.x: _ant_target_temp."""
        return self._call("set_thermal_target", celsius)

    def set_pools(self, pools: list[PoolConfig]) -> None:
        """Replace the three pool slots (1.x: POST /settings; 3.x: the custom CGI form)."""
        self._call("set_pools", pools)

    def read_chips(self) -> list[ChipStatus]:
        """1.x: /chains or /boards; 3.x: chip_hr.json."""
        return self._call("read_chips")

    def set_autodownscale(self, enabled: bool, *, step_mhz: int | None = None, min_mhz: int | None = None,
                          timer: int | None = None, after: int | None = None, prec: int | None = None) -> None:
        """Vnish 3.x automatic frequency reduction (see VnishLegacyDriver.set_autodownscale); 1.x cannot."""
        if isinstance(self._resolve(), VnishRestDriver):
            raise NotSupported("auto-downscale is a Vnish 3.x setting; Vnish 1.x uses its preset switcher")
        self._call("set_autodownscale", enabled, step_mhz=step_mhz, min_mhz=min_mhz, timer=timer, after=after,
                   prec=prec)


__all__ = ["VnishDriver", "VnishRestDriver", "VnishLegacyDriver"]
