"""LuxOS (Luxor's LUXminer) on the cgminer-style API, port 4028.

Rebuilt from the protocol reference (section 9), the LUXminer 2026.9.21 S19j
Pro sections recorded in stutrek/ha-integration-stealthminer
``tests/fixtures/miner_data.json`` (summary, power, temps, fans, pools,
profiles, config, devs, devdetails key sets), Luxor's luxos-tooling (which
commands need a session; "Another session is active", Code 402, on a second
``logon``; ``logoff <sid>``; the ``groups`` reply in its tests/data/messages/groups.json:
Code 324 "List groups", GROUPS of GROUP/Name/Quota) and asic-rs ``luxminer/backends/v1``
(S19k Pro, 77 chips per board, ``healthchipget`` CHIPS with Chip/GHS 1m/Frequency/Healthy).
The recorded 2026.9.21 sections give ``fans`` a second section FANCTRL (MinFans,
FanMin/MaxSpeed, PowerOffSpeed, QuietFanStartup) and ``tempctrl`` its WaterInlet* keys.

Sessions: one at a time, expiring ``session_ttl`` (60) seconds after last use;
the session id is the first parameter of curtail/profileset/rebootdevice/
resetminer/reboot/ledset. Pool commands take no session (Luxor's api.json).
Profiles set power and hashrate; ``curtail sleep`` drops hashrate to 0 and
power to ~25 W; ``rebootdevice`` takes the whole miner down for
``restart_seconds``. Test knobs: ``session_ttl``, ``expire_next_session_query``
(the next ``session`` reply names a session that is gone by the time it is
used: a stale id), ``session_thief`` (another tool kills every session before
our command arrives), ``writes`` (every state-changing command received).

Not verified against a capture (marked where used): STATUS codes and Msg texts
of session/curtail/profileset/pool commands, the invalid-session message, the
healthchipget field set beyond Chip/GHS 1m/Frequency/Healthy, refusing '+'
joins, the S19k Pro profile ladder figures, the STATUS code/Msg of fans and
tempctrl, and the whole ``stats`` reply: LuxOS lists ``stats`` among its commands
(luxos-tooling api.json) and both pyasic (backends/luxminer.py) and asic-rs
(luxminer v1) read a bmminer-style STATS[1] from it (Elapsed, GHS 5s,
total_rateideal, chain_rateN GH/s, chain_acnN, temp_pcbN/temp_chipN "a-b-c-d",
freqN), but no capture was found: STATS[0] and every key beyond those are guesses.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from .cgapi import CgReply, Record
from .cgminer import CgApiMiner, Command, Pool, split_params
from .conditions import hot_c
from .formats import fs, by_key
from .miner import CGAPI
from .models import pick_model
from .physics import ShareCounter, noisy
from .spec import MinerSpec

GH = 1e9
SESSION_ACTIVE = 402  # luxos-tooling asyncops.logon
INVALID_SESSION = 401  # unverified code
SESSION_COMMANDS = frozenset({"curtail", "profileset", "rebootdevice", "resetminer", "reboot", "ledset", "logoff"})


@dataclass(frozen=True, slots=True)
class LuxModel:
    """A miner model as LuxOS runs it, with its default profile."""

    name: str  # VERSION Type / CONFIG Model
    boards: int
    chips: int  # per board
    board_name: str
    default_freq: int  # MHz of the "default" profile
    default_ths: float
    default_watts: float
    nameplate_ths: float
    fan_rpm: int


MODELS: dict[str, LuxModel] = {
    # asic-rs luxminer v1 test: S19k Pro, 77 chips per board. Ladder figures are typical, not captured.
    "Antminer S19k Pro": LuxModel("Antminer S19k Pro", 3, 77, "BHB68603", 505, 120.0, 2760.0, 120.0, 4200),
    # The recorded 2026.9.21 sections: S19j Pro, 126 chips, default 545 MHz / 105.8 TH / 3009 W.
    "Antminer S19j Pro": LuxModel("Antminer S19j Pro", 3, 126, "BHB42601", 545, 105.8, 3009.0, 104.0, 4800),
}
ALIASES = {"s19k pro": "Antminer S19k Pro", "s19kpro": "Antminer S19k Pro", "s19j pro": "Antminer S19j Pro",
           "s19jpro": "Antminer S19j Pro"}
DEFAULT_VERSION = "2025.4.8.220305"  # asic-rs luxminer v1 test (S19k Pro)


def resolve_model(model: str | None) -> LuxModel:
    """A LuxOS model by name ("Antminer S19k Pro") or short name ("S19k Pro"); default S19k Pro."""
    return pick_model(MODELS, ALIASES, model, default="Antminer S19k Pro", label="LuxOS")


def profile_ladder(hw: LuxModel) -> list[dict[str, Any]]:
    """Profiles in 25 MHz steps around the default, shaped like the recorded S19j Pro ladder."""
    ladder = []
    for step in range(-12, 5):
        freq = hw.default_freq + 25 * step
        ratio = freq / hw.default_freq
        volt = round(13.6 + 0.15 * step, 2) if step > -14 else 11.5
        ladder.append({
            "CanRestore": False, "Frequency": freq, "HasOverrides": False,
            "Hashrate": round(hw.default_ths * ratio, 1), "IsDynamic": True, "IsTuned": False,
            "Profile Name": "default" if step == 0 else f"{freq}MHz", "Step": str(step),
            "Voltage": max(volt, 11.5), "Watts": int(round(hw.default_watts * ratio ** 1.35)),
        })
    return ladder


def _hms(seconds: float) -> str:
    # HH:MM:SS with the hours padded, unlike bmminer's formats.hms.
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


class LuxOSMiner(CgApiMiner):
    """An Antminer running LuxOS."""

    kind = "luxos"
    # "board_down" is not simulated: how LUXminer lists a lost board is not recorded.
    supported_conditions = frozenset({"fan_stopped", "hot", "rejecting", "pool_down"})
    protocols = (CGAPI,)
    supports_join = False  # unverified: LUXminer is not cgminer; tools send one command per connection

    def __init__(self, spec: MinerSpec, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.hw = resolve_model(spec.model)
        self.version = spec.firmware_version or DEFAULT_VERSION
        self.git = hashlib.sha1(self.version.encode()).hexdigest()[:9]
        rng = self.rng
        self.quality = [rng.uniform(0.985, 1.015) for _ in range(self.hw.boards)]
        self.heat = [rng.uniform(-2.0, 2.0) for _ in range(self.hw.boards)]
        self.bad_chips = {(b, rng.randrange(self.hw.chips)) for b in range(self.hw.boards) if rng.random() < 0.5}
        octets = spec.ip.split(".")
        self.hostname = spec.hostname or f"luxos-{octets[2]}-{octets[3]}"
        self.mac_addr = self.mac("62:F7:5E").lower()
        self.serial = "JYZZ" + hashlib.sha1(spec.ip.encode()).hexdigest()[:13].upper()
        worker = f"sim.{octets[2]}x{octets[3]}"
        pools = spec.pools or (("stratum+tcp://btc.global.luxor.tech:700", worker),
                               ("stratum+tcp://btc.global.luxor.tech:8888", worker))
        self.pools = [Pool(url, user, priority=i, diff=20078.0) for i, (url, user) in enumerate(pools)]
        self.profiles = profile_ladder(self.hw)
        self.profile = "default"
        self.curtailed = False
        self.best_share_alltime = 0.0  # summary "Best Share": LUXminer keeps it across restarts
        self.session_ttl = 60.0
        self.session_id: str | None = None
        self._session_used = 0.0
        self.expire_next_session_query = False
        self.session_thief = False
        self.writes: list[str] = []
        reads = [("version", self.cmd_version), ("summary", self.cmd_summary), ("config", self.cmd_config),
                 ("devs", self.cmd_devs), ("edevs", self.cmd_devs), ("devdetails", self.cmd_devdetails),
                 ("pools", self.cmd_pools), ("power", self.cmd_power), ("temps", self.cmd_temps),
                 ("fans", self.cmd_fans), ("profiles", self.cmd_profiles), ("healthchipget", self.cmd_healthchipget),
                 ("voltageget", self.cmd_voltageget), ("frequencyget", self.cmd_frequencyget),
                 ("tempctrl", self.cmd_tempctrl), ("groups", self.cmd_groups), ("stats", self.cmd_stats),
                 ("session", self.cmd_session), ("logon", self.cmd_logon),
                 ("logoff", self.cmd_logoff), ("kill", self.cmd_kill)]
        self.commands = {name: Command(func, False) for name, func in reads}
        writes = [("curtail", self.cmd_curtail), ("profileset", self.cmd_profileset),
                  ("rebootdevice", self.cmd_rebootdevice), ("resetminer", self.cmd_resetminer),
                  ("reboot", self.cmd_reboot_board), ("ledset", self.cmd_ledset), ("addpool", self.cmd_addpool),
                  ("removepool", self.cmd_removepool), ("switchpool", self.cmd_switchpool),
                  ("enablepool", self.cmd_enablepool), ("disablepool", self.cmd_disablepool)]
        for name, func in writes:
            self.commands[name] = Command(self._recorded(name, func))

    # --- identity -------------------------------------------------------------------------
    @property
    def model(self) -> str:
        """VERSION Type, e.g. "Antminer S19k Pro"."""
        return self.hw.name

    @property
    def description(self) -> str:
        """STATUS Description: "LUXminer 2025.4.8.220305-<git>"."""
        return f"LUXminer {self.version}-{self.git}"

    def on_boot(self) -> None:
        """Reboot: sessions, counters and curtailment reset; the profile stays."""
        super().on_boot()
        self.session_id = None
        self.curtailed = False
        self.best_share_alltime = max(self.best_share_alltime, self.shares.best_share)
        self.shares = ShareCounter()
        self._last_advance = self.now()
        for pool in self.pools:
            pool.reset_counters()

    def run(self, command: str, param: str | None, isjson: bool) -> CgReply:
        """LUXminer answers "Invalid command" for anything it does not know (no cgminer access groups)."""
        entry = self.commands.get(command)
        if entry is None:
            return self.err(14, "Invalid command")
        return entry.func(param, isjson)

    def _recorded(self, name: str, func: Any) -> Any:
        def run(param: str | None, isjson: bool) -> CgReply:
            self.writes.append(name)
            return func(param, isjson)
        return run

    # --- physics -----------------------------------------------------------------------------
    def current_profile(self) -> dict[str, Any]:
        """The running profile's entry."""
        return next(p for p in self.profiles if p["Profile Name"] == self.profile)

    def hashrate_ghs(self) -> float:
        """Noise-free GH/s of the whole miner (0 while curtailed)."""
        return 0.0 if self.curtailed else self.current_profile()["Hashrate"] * 1000.0

    def board_ghs(self, board: int) -> float:
        """Noise-free GH/s of one board."""
        return self.hashrate_ghs() * self.quality[board] / sum(self.quality)

    def power_w(self) -> float:
        """Noise-free estimated wall power: the profile's watts, ~25 W while curtailed."""
        return 25.0 if self.curtailed else float(self.current_profile()["Watts"])

    def sensor_temps(self, board: int) -> dict[str, float]:
        """The four board sensors (degrees C)."""
        ratio = self.power_w() / self.hw.default_watts
        base = 28.0 + 24.0 * ratio + self.heat[board]
        if "hot" in self.conditions:  # board sensors above the app's default limit (chips read ~15 C more)
            base = hot_c(self.kind) + max(self.heat[board], 0.0)
        rng = self.rng
        return {"BottomLeft": round(base + 5 + rng.gauss(0, 0.3)), "BottomRight": round(base - 1 + rng.gauss(0, 0.3)),
                "TopLeft": round(base + 2 + rng.gauss(0, 0.3)), "TopRight": round(base + rng.gauss(0, 0.3))}

    def _advance(self) -> None:
        self.grow_shares(self.hashrate_ghs() * GH)

    # --- sessions ---------------------------------------------------------------------------
    def _session_valid(self) -> bool:
        if self.session_id is not None and self.now() - self._session_used > self.session_ttl:
            self.session_id = None  # expired after session_ttl idle seconds
        return self.session_id is not None

    def _check_sid(self, params: list[str]) -> CgReply | None:
        """None if params[0] is the open session (refreshing it), else the refusal."""
        if self.session_thief:
            self.session_id = None  # another tool ran `kill` in between
        if not params or not params[0] or not self._session_valid() or params[0] != self.session_id:
            return self.err(INVALID_SESSION, "Invalid session id")  # unverified wording
        self._session_used = self.now()
        return None

    def cmd_session(self, param: str | None, isjson: bool) -> CgReply:
        """session: the open session id, "" when none."""
        sid = self.session_id if self._session_valid() else ""
        if sid and self.expire_next_session_query:
            self.expire_next_session_query = False
            self.session_id = None  # named, then gone before it is used: a stale id
        return self.ok(306, "Session", "SESSION", [[("SessionID", sid or "")]])

    def cmd_logon(self, param: str | None, isjson: bool) -> CgReply:
        """logon: a new session, or E 402 "Another session is active"."""
        if self._session_valid():
            return self.err(SESSION_ACTIVE, "Another session is active")
        self.session_id = secrets.token_hex(4)
        self._session_used = self.now()
        return self.ok(300, "Session created", "SESSION", [[("SessionID", self.session_id)]])

    def cmd_logoff(self, param: str | None, isjson: bool) -> CgReply:
        """logoff <sid>."""
        refused = self._check_sid(split_params(param or ""))
        if refused:
            return refused
        self.session_id = None
        return self.ok(301, "Session closed")

    def cmd_kill(self, param: str | None, isjson: bool) -> CgReply:
        """kill: end whatever session is open."""
        self.session_id = None
        return self.ok(302, "Session killed", letter="W")

    # --- reads ---------------------------------------------------------------------------------
    def cmd_version(self, param: str | None, isjson: bool) -> CgReply:
        """version: API, CompileTime, LUXminer, Miner, Type."""
        rec = [("API", "3.7"), ("CompileTime", "Tue Apr 08 22:03:05 UTC 2025"),
               ("LUXminer", f"{self.version}-{self.git}"), ("Miner", self.version), ("Type", self.hw.name)]
        return self.ok(22, "LUXminer versions", "VERSION", [rec], text_prefix=True)

    def cmd_summary(self, param: str | None, isjson: bool) -> CgReply:
        """summary: GHS windows (GH/s) and share counters."""
        self._advance()
        rng, s = self.rng, self.shares
        ghs, elapsed = self.hashrate_ghs(), self._elapsed()
        rec = by_key([
            ("Accepted", s.accepted), ("Best Session Share", int(s.best_share)),
            ("Best Share", int(max(self.best_share_alltime, s.best_share))),
            ("Device Hardware%", fs(0.0)), ("Device Rejected%", fs(0.0)), ("Difficulty Accepted", int(s.diff_accepted)),
            ("Difficulty Rejected", int(s.diff_rejected)), ("Difficulty Stale", 0), ("Discarded", 0),
            ("Elapsed", elapsed), ("Found Blocks", 0), ("GHS 15m", fs(round(noisy(rng, ghs, 0.005), 2))),
            ("GHS 1m", fs(round(noisy(rng, ghs, 0.015), 2))), ("GHS 24h", fs(round(noisy(rng, ghs, 0.002), 2))),
            ("GHS 30m", fs(round(noisy(rng, ghs, 0.004), 2))), ("GHS 5m", fs(round(noisy(rng, ghs, 0.008), 2))),
            ("GHS 5s", fs(round(noisy(rng, ghs, 0.03), 2))), ("GHS av", fs(round(noisy(rng, ghs, 0.003), 2))),
            ("Get Failures", 0), ("Getworks", elapsed // 30 + 1), ("Hardware Errors", s.hw_errors),
            ("Last getwork", int(time.time())), ("Local Work", 0), ("Network Blocks", 0), ("Pool Rejected%", fs(0.0)),
            ("Pool Stale%", fs(0.0)), ("Rejected", s.rejected), ("Remote Failures", 0), ("Stale", 0),
            ("Total MH", fs(ghs * 1000.0 * elapsed)), ("Utility", fs(round(s.accepted / (elapsed / 60.0), 2))),
            ("Work Utility", fs(0.2)),
        ])
        return self.ok(11, "Summary", "SUMMARY", [rec], text_prefix=True)

    def cmd_config(self, param: str | None, isjson: bool) -> CgReply:
        """config: Model, Profile, CurtailMode, ATM/tuning flags, network identity (2026.9.21 key set)."""
        profile = self.current_profile()
        rec = by_key([
            ("ASC Count", self.hw.boards), ("ActualPowerTarget", 0), ("BcastAddr", "0.0.0.0"),
            ("ControlBoardType", "CVITek"), ("Cooling", "Air"), ("CurtailMode", "Sleep" if self.curtailed else "None"),
            ("DHCP", True), ("DNS Servers", ""), ("Device Code", ""), ("FeeStatus", "Ok"), ("GreenLed", "auto"),
            ("Hostname", self.hostname), ("Hotplug", "None"), ("IPAddr", self.ip), ("IdealPowerTarget", 0),
            ("ImmersionMode", False), ("IsAtmEnabled", False), ("IsPowerSupplyOn", not self.curtailed),
            ("IsPowerTargetEnabled", False), ("IsPowerTargetSupported", False), ("IsSingleVoltage", True),
            ("IsTuning", False), ("Log Interval", 0), ("LogFileLevel", "info"), ("MACAddr", self.mac_addr),
            ("Model", self.hw.name), ("NameplateTHS", fs(self.hw.nameplate_ths)), ("Netmask", "255.255.255.0"),
            ("OS", "LuxOS"), ("PGA Count", 0), ("PSULabel", "APW12"), ("Pool Count", len(self.pools)),
            ("PowerLimit", 0), ("Profile", self.profile), ("ProfileStep", profile["Step"]),
            ("RampMode", "Standard"), ("RedLed", "auto"), ("SerialNumber", self.serial), ("Strategy", "Failover"),
            ("SystemStatus", "Normal"),
        ])
        return self.ok(33, "CGMiner config", "CONFIG", [rec], text_prefix=True)

    def cmd_devs(self, param: str | None, isjson: bool) -> CgReply:
        """devs: one entry per board, MH/s and Nominal MHS, Temperature = hottest sensor."""
        self._advance()
        rng = self.rng
        now = int(time.time())
        nominal = self.current_profile()["Hashrate"] * 1e6 / self.hw.boards
        records = []
        for board in range(self.hw.boards):
            mhs = self.board_ghs(board) * 1000.0
            records.append(by_key([
                ("ASC", board), ("Accepted", 0), ("Board", self.hw.board_name), ("Connector", f"J{board + 3}"),
                ("Device Elapsed", self._elapsed()), ("Device Hardware%", 0), ("Device Rejected%", 0),
                ("Enabled", "Y"), ("Hardware Error MHS 15m", 0), ("Hardware Errors", 0), ("ID", board),
                ("IsRamping", False), ("IsUserShutdown", False), ("Last Share Time", now), ("Last Valid Work", now),
                ("MHS 15m", fs(noisy(rng, mhs, 0.005))), ("MHS 1m", fs(noisy(rng, mhs, 0.02))),
                ("MHS 30m", fs(noisy(rng, mhs, 0.004))), ("MHS 5m", fs(noisy(rng, mhs, 0.01))),
                ("MHS 5s", fs(noisy(rng, mhs, 0.04))), ("MHS 60m", fs(noisy(rng, mhs, 0.003))),
                ("MHS av", fs(noisy(rng, mhs, 0.003))), ("Name", ""),
                ("Nominal MHS", fs(0.0 if self.curtailed else round(nominal, 1))), ("Profile", self.profile),
                ("Rejected", 0), ("SerialNumber", f"{self.serial[:-1]}{board}"), ("Status", "Alive"),
                ("Temperature", fs(max(self.sensor_temps(board).values()))), ("Total MH", fs(mhs * self._elapsed())),
                ("Utility", 0),
            ]))
        return self.ok(9, f"{len(records)} ASC(s)", "DEVS", records)

    def cmd_devdetails(self, param: str | None, isjson: bool) -> CgReply:
        """devdetails: Chips, Frequency (MHz), Voltage (V) per board."""
        profile = self.current_profile()
        records = [by_key([
            ("Board", self.hw.board_name), ("Chips", self.hw.chips), ("Cores", self.hw.chips * 4),
            ("DEVDETAILS", b), ("Device Path", ""), ("Driver", ""), ("Frequency", profile["Frequency"]), ("ID", b),
            ("Kernel", ""), ("Model", self.hw.name), ("Name", f"Hash Chain {b}"), ("Profile", self.profile),
            ("SerialNumber", f"{self.serial[:-1]}{b}"), ("Voltage", fs(profile["Voltage"])),
        ]) for b in range(self.hw.boards)]
        return self.ok(69, "Device Details", "DEVDETAILS", records)

    def cmd_pools(self, param: str | None, isjson: bool) -> CgReply:
        """pools: cgminer layout plus GROUP, with LUXminer's "Long Pool" spelling and H:MM:SS share time."""
        self._advance()
        active = self.active_pool()
        wall = time.time()
        records = []
        for i, pool in enumerate(self.pools):
            is_active = pool is active and not self.curtailed
            records.append(by_key([
                ("Accepted", pool.accepted), ("AsicBoost", True), ("Bad Work", 0), ("Best Share", int(pool.best_share)),
                ("Current Block Height", 0), ("Current Block Version", 536870912), ("Diff", "20K"),
                ("Diff1 Shares", int(pool.diff_accepted)), ("Difficulty Accepted", int(pool.diff_accepted)),
                ("Difficulty Rejected", int(pool.diff_rejected)), ("Difficulty Stale", 0), ("Discarded", 0),
                ("GROUP", 0), ("Get Failures", 0), ("Getworks", self._elapsed() // 30 + 1 if is_active else 0),
                ("Has GBT", False), ("Has Stratum", True), ("Has Vmask", True),
                ("Last Share Difficulty", int(pool.diff) if pool.last_share_time else 0),
                ("Last Share Time", _hms(wall - pool.last_share_time) if pool.last_share_time else "00:00:00"),
                ("Long Pool", "N"), ("POOL", i), ("Pool Rejected%", fs(0.0)), ("Pool Stale%", fs(0.0)),
                ("Priority", pool.priority), ("Proxy", ""), ("Proxy Type", ""), ("Quota", fs(1.0)),
                ("Rejected", pool.rejected), ("Remote Failures", 0), ("Stale", 0), ("Status", pool.status),
                ("Stratum Active", is_active), ("Stratum Difficulty", 8000), ("Stratum URL", pool.stratum_host()),
                ("URL", pool.url), ("User", pool.user), ("Work Difficulty", int(pool.diff) if is_active else 0),
                ("Works", 0),
            ]))
        return self.ok(7, f"{len(records)} Pool(s)", "POOLS", records)

    def cmd_power(self, param: str | None, isjson: bool) -> CgReply:
        """power: POWER[0].Watts, PSU false = LUXminer's estimate (no PSU reading)."""
        watts = int(round(noisy(self.rng, self.power_w(), 0.004)))
        return self.ok(14, "Power", "POWER", [[("PSU", False), ("Watts", watts)]])

    def cmd_temps(self, param: str | None, isjson: bool) -> CgReply:
        """temps: four sensors per board."""
        records = []
        for board in range(self.hw.boards):
            sensors = self.sensor_temps(board)
            records.append(by_key([("ID", board), ("TEMP", board)] + [(k, fs(v)) for k, v in sensors.items()]))
        return self.ok(201, f"{len(records)} Temp(s)", "TEMPS", records)

    def cmd_fans(self, param: str | None, isjson: bool) -> CgReply:
        """fans: FAN label, ID, RPM, Speed %; then FANCTRL, the fan settings (recorded 2026.9.21 key set)."""
        ratio = self.power_w() / self.hw.default_watts
        speed = 20 if self.curtailed else int(min(100, 25 + 55 * ratio))
        records = []
        for i, label in enumerate(("FAN4", "FAN2", "FAN1", "FAN3")):
            rpm = int(self.hw.fan_rpm * speed / 100 * (0.97 + 0.02 * i) + self.rng.gauss(0, 15))
            if "fan_stopped" in self.conditions:
                rpm = 0  # the tach reads 0 while Speed stays as commanded
            records.append([("FAN", label), ("ID", i), ("RPM", rpm), ("Speed", speed)])
        reply = self.ok(202, "4 Fan(s)", "FANS", records)
        reply.extra.append(("FANCTRL", [[("FanMaxSpeed", 100), ("FanMinSpeed", 20), ("MinFans", 1),
                                          ("PowerOffSpeed", 20), ("QuietFanStartup", False)]]))
        return reply

    def cmd_profiles(self, param: str | None, isjson: bool) -> CgReply:
        """profiles: the ladder (Watts W, Hashrate TH/s, Frequency MHz, Voltage V)."""
        records = [by_key([(k, fs(v) if isinstance(v, float) else v) for k, v in p.items()]) for p in self.profiles]
        return self.ok(310, f"{len(records)} Profile(s)", "PROFILES", records)

    def _board(self, param: str | None) -> int | CgReply:
        try:
            board = int(split_params(param or "")[0])
        except ValueError:
            return self.err(16, "Missing board id")
        if not 0 <= board < self.hw.boards:
            return self.err(17, f"Invalid board id {board}")
        return board

    def cmd_healthchipget(self, param: str | None, isjson: bool) -> CgReply:
        """healthchipget <board>: every chip of that board (field set partly unverified)."""
        board = self._board(param)
        if isinstance(board, CgReply):
            return board
        rng = self.rng
        per_chip = self.board_ghs(board) / self.hw.chips
        freq = self.current_profile()["Frequency"]
        records = []
        for chip in range(self.hw.chips):
            bad = (board, chip) in self.bad_chips
            ghs = 0.0 if bad or self.curtailed else noisy(rng, per_chip, 0.05)
            records.append(by_key([
                ("Board", board), ("Chip", chip), ("Column", chip % 11), ("Domain", chip // 11),
                ("Frequency", fs(freq)), ("GHS 15m", fs(round(ghs, 2))), ("GHS 1m", fs(round(ghs, 2))),
                ("GHS 5m", fs(round(ghs, 2))), ("Healthy", "N" if bad else "Y"), ("IsChecking", False),
                ("Row", chip // 11), ("Score", fs(0.0 if bad else round(rng.uniform(0.9, 1.0), 3))),
            ]))
        return self.ok(320, f"{len(records)} Chip(s)", "CHIPS", records)

    def cmd_voltageget(self, param: str | None, isjson: bool) -> CgReply:
        """voltageget <board>: {"Board","IsOnBoard","Voltage"}."""
        board = self._board(param)
        if isinstance(board, CgReply):
            return board
        return self.ok(321, "Voltage", "VOLTAGE", [[("Board", board), ("IsOnBoard", False),
                                                    ("Voltage", fs(self.current_profile()["Voltage"]))]])

    def cmd_frequencyget(self, param: str | None, isjson: bool) -> CgReply:
        """frequencyget <board>: the board frequency (MHz)."""
        board = self._board(param)
        if isinstance(board, CgReply):
            return board
        return self.ok(322, "Frequency", "FREQUENCY", [[("Board", board),
                                                        ("Frequency", self.current_profile()["Frequency"])]])

    def cmd_tempctrl(self, param: str | None, isjson: bool) -> CgReply:
        """tempctrl: the recorded automatic thresholds (2026.9.21 key set, water-inlet keys included)."""
        return self.ok(200, "Temperature control", "TEMPCTRL", [[
            ("ChipDangerous", fs(100.0)), ("ChipHot", fs(93.0)), ("ChipTarget", fs(83.0)), ("Dangerous", fs(75.0)),
            ("Hot", fs(70.0)), ("Mode", "Automatic"), ("Target", fs(60.0)), ("WaterInletDangerous", fs(50.0)),
            ("WaterInletHot", fs(49.0)), ("WaterInletStartup", fs(15.0))]])

    def cmd_groups(self, param: str | None, isjson: bool) -> CgReply:
        """groups: the pool groups (luxos-tooling groups.json: Code 324 "List groups"); every pool is in group 0."""
        return self.ok(324, "List groups", "GROUPS", [[("GROUP", 0), ("Name", "default"), ("Quota", fs(1.0))]])

    def cmd_stats(self, param: str | None, isjson: bool) -> CgReply:
        """stats: bmminer-style STATS[1] with the keys pyasic and asic-rs read (UNVERIFIED shape, see the module)."""
        self._advance()
        rng, hw = self.rng, self.hw
        ghs, elapsed = self.hashrate_ghs(), self._elapsed()
        freq = 0 if self.curtailed else self.current_profile()["Frequency"]
        head = [("Type", hw.name), ("LUXminer", f"{self.version}-{self.git}"), ("Miner", self.version),
                ("CompileTime", "Tue Apr 08 22:03:05 UTC 2025")]  # unverified: mirrors the version record
        rec: Record = [("STATS", 0), ("ID", "LUXMINER0"), ("Elapsed", elapsed),
                       ("GHS 5s", fs(round(noisy(rng, ghs, 0.03), 2))),
                       ("GHS av", fs(round(noisy(rng, ghs, 0.003), 2))),
                       ("total_rateideal", fs(round(self.current_profile()["Hashrate"] * 1000.0, 2)
                                              if not self.curtailed else 0.0)),
                       ("miner_count", hw.boards)]
        for board in range(hw.boards):
            n = board + 1
            pcb = self.sensor_temps(board)
            pcb_vals = [int(pcb[k]) for k in ("TopLeft", "TopRight", "BottomLeft", "BottomRight")]
            chip_vals = [t + 15 for t in pcb_vals]
            rate = round(noisy(rng, self.board_ghs(board), 0.01), 2)
            rec += [(f"chain_acn{n}", hw.chips), (f"chain_rate{n}", fs(rate)), (f"freq{n}", freq),
                    (f"temp_pcb{n}", "-".join(map(str, pcb_vals))), (f"temp_chip{n}", "-".join(map(str, chip_vals)))]
        return self.ok(70, "CGMiner stats", "STATS", [head, rec])

    # --- writes with a session -----------------------------------------------------------
    def cmd_curtail(self, param: str | None, isjson: bool) -> CgReply:
        """curtail <sid>,sleep|wakeup[,mode=...]."""
        params = split_params(param or "")
        refused = self._check_sid(params)
        if refused:
            return refused
        action = params[1] if len(params) > 1 else ""
        if action not in ("sleep", "wakeup"):
            return self.err(18, f"Invalid curtail mode '{action}'")
        self._advance()
        self.curtailed = action == "sleep"
        return self.ok(330, f"Curtail {action} requested")

    def cmd_profileset(self, param: str | None, isjson: bool) -> CgReply:
        """profileset <sid>,<profile> (older builds: <sid>,<board>,<profile>, applied to all boards here)."""
        params = split_params(param or "")
        refused = self._check_sid(params)
        if refused:
            return refused
        name = params[-1] if len(params) > 1 else ""
        if not any(p["Profile Name"] == name for p in self.profiles):
            return self.err(19, f"Unknown profile '{name}'")
        self._advance()
        self.profile = name
        return self.ok(331, "Profile set", "PROFILE", [[("Profile", name)]])

    def cmd_rebootdevice(self, param: str | None, isjson: bool) -> CgReply:
        """rebootdevice <sid>: answer, then the whole miner reboots."""
        refused = self._check_sid(split_params(param or ""))
        if refused:
            return refused
        self.stop_accepting()  # refused from the moment the reply can be read, like the other sims
        reply = self.ok(332, "Rebooting device")
        reply.after = self.reboot
        return reply

    def cmd_resetminer(self, param: str | None, isjson: bool) -> CgReply:
        """resetminer <sid>: restart LUXminer (counters reset, no outage here)."""
        refused = self._check_sid(split_params(param or ""))
        if refused:
            return refused
        self.on_boot()
        return self.ok(333, "Resetting miner")

    def cmd_reboot_board(self, param: str | None, isjson: bool) -> CgReply:
        """reboot <sid>,<board>[,<delay>]: one hash board (accepted, no simulated effect)."""
        params = split_params(param or "")
        refused = self._check_sid(params)
        if refused:
            return refused
        board = self._board(",".join(params[1:2]))
        if isinstance(board, CgReply):
            return board
        return self.ok(334, f"Rebooting board {board}")

    def cmd_ledset(self, param: str | None, isjson: bool) -> CgReply:
        """ledset <sid>,<color>,<state>."""
        refused = self._check_sid(split_params(param or ""))
        return refused or self.ok(335, "LED set")

    # --- pools (no session: Luxor's api.json logon_required false) ------------------------------
    def cmd_addpool(self, param: str | None, isjson: bool) -> CgReply:
        """addpool url,user,pass[,group]."""
        parts = split_params(param or "")
        if len(parts) < 3 or not parts[0]:
            return self.err(53, f"Invalid addpool details '{parts[0] if parts else ''}'")
        url, user, password = parts[:3]
        return self.add_pool(url, user, password, 20078.0)

    def _pool(self, param: str | None) -> int | CgReply:
        return self.pool_index(split_params(param or "")[0] if param else param)

    def cmd_removepool(self, param: str | None, isjson: bool) -> CgReply:
        """removepool N (not the active pool, not the last one)."""
        index = self._pool(param)
        if isinstance(index, CgReply):
            return index
        return self.removal_refused(index) or self.remove_pool(index)

    def cmd_switchpool(self, param: str | None, isjson: bool) -> CgReply:
        """switchpool N: that pool first."""
        index = self._pool(param)
        if isinstance(index, CgReply):
            return index
        return self.promote_pool(index)

    def cmd_enablepool(self, param: str | None, isjson: bool) -> CgReply:
        """enablepool N."""
        index = self._pool(param)
        if isinstance(index, CgReply):
            return index
        self.pools[index].enabled = True
        return self.ok(47, f"Enabling pool {index}:'{self.pools[index].url}'")

    def cmd_disablepool(self, param: str | None, isjson: bool) -> CgReply:
        """disablepool N."""
        index = self._pool(param)
        if isinstance(index, CgReply):
            return index
        if sum(1 for p in self.pools if p.enabled) <= 1:
            return self.err(51, f"Cannot disable last active pool {index}:'{self.pools[index].url}'")
        self.pools[index].enabled = False
        return self.ok(48, f"Disabling pool {index}:'{self.pools[index].url}'")

