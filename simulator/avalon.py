"""Canaan Avalon home miners on the cgminer 4.11.1 API (TCP 4028): Nano 3S, Avalon Q and the original Nano 3.

Shapes are rebuilt from recorded replies and Canaan's own source (reference
section 6): the Nano 3S ``MM ID0`` string (miner-sentinel test capture, fw
Nano3s-25021401), the Avalon Q soft-off ``'STATS':{...}`` string (fw
Q-25052801), the Nano 3 plain-text ``stats`` (fw nano3-24071801), the ascset
replies of the Avalon Q (asic-rs fixtures) and the token order and ascset
handlers of Canaan-Creative/Avalon_Nano3s ``cg_miner/cgminer/driver-avalon.c``
(``avalon_api_stats``, ``device_cmds[]``, ``set_avalon_device_workmode`` ...).

Behaviour:

- ``ascset`` options per model (``ascset|0,help`` lists them); an option not in
  the list answers E/120 "ASC 0 set failed: Unknown option: x"; a handler's text
  comes back as I/118 "set info: ...", a plain success as S/119 "set OK".
- Work modes change hashrate, power, MPO, PS[], target temperature at once; a
  mode change while ``calibrating`` is True is refused like the firmware does.
- ``softoff,1:<ts>`` / ``softon,1:<ts>`` take effect at that unix time (the
  miner's clock, so ``skip()`` moves it); soft-off makes GHSspd 0, fans 0 and
  SYSTEMSTATU "Work: In Idle" (as recorded on the Q). ``softon`` answers every
  second call by closing the socket without a reply (the Q quirk asic-rs
  handles); the other calls get the recorded "success softon" reply.
- ``setpool`` writes the pool file (three slots) after checking the web
  password; cgminer only loads it at boot, so ``pools`` changes after a reboot.
- The Avalon Q ``pools`` reply carries each pool's ``Password`` (as captured).

Not verified against a capture (marked where used): the Nano 3S / Q points of
the modes not recorded, the original Nano 3's ``version`` reply and help list,
the exact ``setpool`` reply text, the Nano 3S soft-off readings.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from typing import Any

from . import cgapi
from .cgapi import CgReply, Record
from .cgminer import CgApiMiner, CgminerMiner, Command, Pool, split_params
from .conditions import hot_c
from .faults import CLOSE
from .formats import fx, pct
from .miner import CGAPI
from .physics import ShareCounter, noisy
from .spec import MinerSpec


@dataclass(frozen=True, slots=True)
class ModePoint:
    """One work mode (or Nano 3 work level): nominal GH/s, MPO watts, target temperature, PSU setting."""

    ghs: float
    watts: float
    target_c: int
    volt: int  # PS[5] / ATA volt field (Canaan units, model-specific)
    pll: int  # ATA pll_start (MHz)


@dataclass(frozen=True, slots=True)
class AvalonModel:
    """A simulated Avalon product."""

    key: str
    prod: str  # VERSION PROD
    model: str  # VERSION MODEL
    hwtype: str
    swtype: str
    firmware: str  # LVERSION/BVERSION/CGVERSION
    ver_prefix: str  # Ver[<prefix>-<firmware>]
    stats_id: str
    core: str
    chips: int
    fans: int
    fan_max_rpm: int
    modes: tuple[ModePoint, ...]
    default_mode: int
    level_only: bool  # Nano 3: WORKLEVEL only, levels are the modes
    summary_format: bool  # Avalon Q: "MM ID0:Summary" = 'STATS':{...} plus HBinfo
    pools_password: bool  # Avalon Q sends each pool's Password in `pools`
    web_password: str
    idle_watts: float  # wall watts while soft-off
    pool_diff: float
    help: tuple[str, ...]
    extra_version: tuple[tuple[str, str], ...] = ()


# Canaan-Creative/Avalon_Nano3s driver-avalon.c device_cmds[] (in table order).
NANO3S_HELP = ("help", "voltage", "fan-spd", "ledmode", "ledset", "lcd", "nightlamp", "wallpaper", "hash-sn-read",
               "volt-adjust-switch", "workmode", "worklevel", "work_mode_lvl", "reboot", "filter-clean", "facopts",
               "faclock", "frequency", "loop", "password", "qr_auth")
# Recorded `ascset|0,help` on an Avalon Q (asic-rs ascset_help.json).
AVALON_Q_HELP = ("help", "voltage", "fan-spd", "lcd", "hash-sn-read", "hash-sn-write", "volt-tuning", "workmode",
                 "worklevel", "work_mode_lvl", "reboot", "softon", "softoff", "filter-clean", "facopts", "faclock",
                 "activate", "solo-allowed", "frequency", "loop", "password", "qr_auth", "time")

AVALON_MODELS: dict[str, AvalonModel] = {
    # Mode 2 is the recorded point (GHSmm 6783.65, MPO 133, ATA2[133-90-3756-432-20]); modes 0/1 are
    # scaled guesses with the target temperatures 80/85 °C listed by LW10583/AvalonMinerTools.
    "nano3s": AvalonModel(
        "nano3s", "Avalon Nano3s", "Nano3s", "N_MM1v1_X1", "MM319", "25021401_56abae7", "Nano3s", "AVALON0",
        "A3197S", 12, 1, 4600,
        (ModePoint(4200.0, 85.0, 80, 3420, 330), ModePoint(5400.0, 110.0, 85, 3600, 380),
         ModePoint(6783.65, 133.0, 90, 3756, 432)),
        2, False, False, False, "root", 6.0, 40000.0, NANO3S_HELP),
    # Mode 0 is the recorded soft-off capture (GHSmm 55032.79, MPO 800, ATA0[800-65-2264-258-20]);
    # 1/2 follow gbechtel-beck/avalon-q-controller (~81-85 TH/s @ 1300 W, ~100 TH/s @ 1600 W).
    "q": AvalonModel(
        "q", "Avalon Q", "Q", "Q_MM1v1_X1", "MM319", "25052801_14a19a2", "Q", "AVALON0", "A3197S", 160, 4, 3200,
        (ModePoint(55032.79, 800.0, 65, 2264, 258), ModePoint(83000.0, 1300.0, 80, 2450, 330),
         ModePoint(100000.0, 1600.0, 85, 2580, 390)),
        1, False, True, True, "admin", 146.0, 65536.0, AVALON_Q_HELP,
        (("HBMCUVERSION", "Q_hb_v1.1"), ("FANMCUVERSION", "Q_fb_v1.2"))),
    # Level 1 is the recorded point (GHSmm 3203.56, MPO 90, ATA1[90-85-324-...]); levels 0/2 use the
    # recorded ATA0/ATA2 power targets (60/125 W) with scaled hashrates. Version reply and help list
    # are not recorded: PROD/MODEL/HWTYPE and the Nano 3S help list are assumptions.
    "nano3": AvalonModel(
        "nano3", "Avalon Nano3", "Nano3", "N_MM1v0_X1", "MM319", "24071801_42c628d", "nano3", "AVANANO0",
        "A3198S", 10, 1, 7400,
        (ModePoint(2300.0, 60.0, 80, 310, 293), ModePoint(3203.56, 90.0, 85, 324, 441),
         ModePoint(4000.0, 125.0, 90, 344, 568)),
        1, True, False, False, "root", 5.0, 16384.0, NANO3S_HELP),
}
# Per-chip PVT_V level at the default mode: recorded Nano 3S ~301 mV, Nano 3 ~311 mV; the Q value
# is taken from the recorded A1566 (same A3197S core, ~285 mV).
CHIP_MV = {"nano3s": 301, "q": 285, "nano3": 311}
MODEL_ALIASES = {"avalon nano3s": "nano3s", "nano3s": "nano3s", "nano 3s": "nano3s", "avalon nano 3s": "nano3s",
                 "avalon q": "q", "q": "q", "avalon nano3": "nano3", "nano3": "nano3", "nano 3": "nano3"}


def resolve_avalon(model: str | None) -> AvalonModel:
    """An Avalon model by PROD ("Avalon Q") or short name ("nano3s"); default Nano 3S."""
    if model is None:
        return AVALON_MODELS["nano3s"]
    key = MODEL_ALIASES.get(model.strip().lower())
    if key is None:
        raise ValueError(f"unknown Avalon model {model!r}; use one of {sorted(m.prod for m in AVALON_MODELS.values())}")
    return AVALON_MODELS[key]


@dataclass(slots=True)
class PoolSlot:
    """One slot of the Avalon pool file (read by cgminer at boot)."""

    url: str = ""
    user: str = ""
    password: str = ""


@dataclass(slots=True)
class _Soft:
    """Pending soft-off/on events (unix times on the miner's clock)."""

    off_at: float | None = None
    on_at: float | None = None
    off_time: int = 0  # SoftOffTime / SoftOnTime tokens (Avalon Q)
    on_time: int = 0
    softon_calls: int = 0


class AvalonMiner(CgApiMiner):
    """A Nano 3S, Avalon Q or Nano 3 on Canaan's cgminer 4.11.1."""

    kind = "avalon"
    protocols = (CGAPI,)
    # One hash board on every simulated model (Nano 3/3S, Avalon Q): nothing for "board_down" to take away.
    supported_conditions = frozenset({"fan_stopped", "hot", "rejecting", "pool_down"})
    VERSION = "4.11.1"
    API_VERSION = "3.7"

    def __init__(self, spec: MinerSpec, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.hw = hw = resolve_avalon(spec.model)
        rng = self.rng
        self.mode = hw.default_mode
        self.level = 0 if not hw.level_only else hw.default_mode
        self.soft_off = False
        self.soft = _Soft()
        self.fan_setting: int | None = None  # None = automatic (fan-spd,-1)
        self.calibrating = False  # tests: the firmware refuses mode changes while calibrating
        self.web_password = hw.web_password
        self.quality = rng.uniform(0.97, 1.02)
        self.power_bias = rng.uniform(0.98, 1.03)
        self.chip_bias = [rng.uniform(-3.0, 3.0) for _ in range(hw.chips)]
        self.chip_volt = [rng.uniform(-6.0, 6.0) for _ in range(hw.chips)]
        self.dna = "0201" + hashlib.sha1(f"dna:{spec.ip}".encode()).hexdigest()[:12]
        octets = spec.ip.split(".")
        # A payout address whose checksum passes (BIP-173's test vector, simulator/axeos.py WORKER_ADDR).
        worker = f"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4.avalon{octets[2]}x{octets[3]}"
        pools = spec.pools or (("stratum+tcp://public-pool.io:21496", worker),
                               ("stratum+tcp://solo.ckpool.org:3333", worker))
        self.pool_file = [PoolSlot(url, user, "x") for url, user in list(pools)[:3]]
        while len(self.pool_file) < 3:
            self.pool_file.append(PoolSlot())
        self.pools = self._pools_from_file()
        self.setpool_calls = 0
        self._boot_wall = self.wall_time()
        self.commands = {
            "version": Command(self.cmd_version, True),
            "summary": Command(self.cmd_summary, True),
            "pools": Command(self.cmd_pools, True),
            "devs": Command(self.cmd_devs, True),
            "edevs": Command(self.cmd_devs, True),
            "stats": Command(lambda p, j: self.cmd_stats(p, j, estats=False), True),
            "estats": Command(lambda p, j: self.cmd_stats(p, j, estats=True), True),
            "config": Command(self.cmd_config, True),
            "ascset": Command(self.cmd_ascset),
            "setpool": Command(self.cmd_setpool),
            # cgminer's own pool commands (LW10583/AvalonMinerTools lists them for the Nano 3S).
            "switchpool": Command(lambda p, j: CgminerMiner.cmd_switchpool(self, p, j)),  # type: ignore[arg-type]
            "enablepool": Command(lambda p, j: CgminerMiner.cmd_enablepool(self, p, j)),  # type: ignore[arg-type]
            "disablepool": Command(lambda p, j: CgminerMiner.cmd_disablepool(self, p, j)),  # type: ignore[arg-type]
            "restart": Command(self.cmd_restart),
        }

    # --- identity / clock --------------------------------------------------------------
    @property
    def model(self) -> str:
        """VERSION PROD, e.g. "Avalon Q"."""
        return self.hw.prod

    @property
    def description(self) -> str:
        """STATUS Description: "cgminer 4.11.1"."""
        return f"cgminer {self.VERSION}"

    def wall_time(self) -> float:
        """The miner's unix clock (``skip()`` moves it too): softoff/softon timestamps are compared with it."""
        return time.time() + self._skew

    def on_boot(self) -> None:
        """Reboot: cgminer reloads the pool file, soft-off ends, counters restart."""
        super().on_boot()
        self.pools = self._pools_from_file()
        self.soft_off = False
        self.soft = _Soft()
        self.shares = ShareCounter()
        self._last_advance = self.now()
        self._boot_wall = self.wall_time()

    def _pools_from_file(self) -> list[Pool]:
        return [Pool(slot.url, slot.user, slot.password, priority=i, diff=self.hw.pool_diff)
                for i, slot in enumerate(s for s in self.pool_file if s.url)]

    # --- physics -------------------------------------------------------------------------
    @property
    def point(self) -> ModePoint:
        """The current mode's nominal point (Nano 3: the work level's)."""
        return self.hw.modes[self.level if self.hw.level_only else self.mode]

    def _tick(self) -> None:
        """Apply scheduled softoff/softon whose time has come, then grow the share counters."""
        now_wall = self.wall_time()
        if self.soft.off_at is not None and now_wall >= self.soft.off_at:
            self._advance()
            self.soft_off, self.soft.off_at = True, None
        if self.soft.on_at is not None and now_wall >= self.soft.on_at:
            self._advance()
            self.soft_off, self.soft.on_at = False, None
        self._advance()

    def true_ghs(self) -> float:
        """Noise-free GH/s: the mode's nominal rate, 0 while soft-off."""
        return 0.0 if self.soft_off else self.point.ghs * self.quality

    def wall_watts(self) -> float:
        """Noise-free wall power (idle draw while soft-off)."""
        return self.hw.idle_watts if self.soft_off else self.point.watts * self.power_bias

    def fan_pct(self) -> int:
        """FanR: the manual setting, or what the automatic control settles at for this mode."""
        if self.soft_off:
            return 0
        if self.fan_setting is not None:
            return self.fan_setting
        return int(round(30 + 20 * self.point.watts / self.hw.modes[-1].watts))

    def chip_temps(self) -> list[int]:
        """Per-chip temperatures: around the target, a little cooler with more manual fan."""
        if self.soft_off:
            return [0] * self.hw.chips
        base = self.point.target_c + 3 - 0.08 * (self.fan_pct() - 45)
        if "hot" in self.conditions:
            base = hot_c(self.kind) + 3
        return [int(round(base + bias + self.rng.gauss(0.0, 0.6))) for bias in self.chip_bias]

    def _advance(self) -> None:
        self.grow_shares(self.true_ghs() * 1e9, wall=self.wall_time())

    # --- the MM string -------------------------------------------------------------------
    def _ps(self, wall: float) -> str:
        """PS[...]: Canaan's seven-value layout (err, ctrl V, board V, A, W out, V set, wall W)."""
        p, rng = self.point, self.rng
        if self.hw.level_only:  # Nano 3 (fw 24071801): not Canaan's layout (recorded PS[0 0 0 3 2792 89 324])
            return f"0 0 0 3 {2792 + rng.randrange(-20, 20)} {int(p.watts) - 1} {324 + rng.randrange(-8, 8)}"
        if self.soft_off:  # recorded Avalon Q soft-off: PS[0 1222 4 0 0 2245 146]
            return f"0 1222 4 0 0 {p.volt} {int(round(wall))}"
        if self.hw.key == "nano3s":  # recorded Nano 3S: PS[0 0 27541 4 0 3756 133]
            return f"0 0 {27541 + rng.randrange(-40, 40)} 4 0 {p.volt} {int(round(wall))}"
        out_w = wall * 0.93 - 40
        amps = out_w / (p.volt / 100.0)
        board_v = p.volt + rng.randrange(-6, 6)
        return f"0 1222 {board_v} {int(round(amps))} {int(round(out_w))} {p.volt} {int(round(wall))}"

    def mm_tokens(self, *, with_chips: bool) -> list[tuple[str, str]]:
        """The module's Name[value] tokens in the firmware's order for this model."""
        self._tick()
        hw, p, rng = self.hw, self.point, self.rng
        elapsed = self._elapsed()
        ghs = self.true_ghs()
        spd = noisy(rng, ghs, 0.02) if ghs else 0.0
        avg = noisy(rng, ghs, 0.004) if ghs else (self.shares.diff_accepted * 2**32 / max(elapsed, 1) / 1e9)
        wall = noisy(rng, self.wall_watts(), 0.01)
        temps = self.chip_temps()
        tmax = max(temps) if temps else 0
        tavg = int(round(sum(temps) / len(temps))) if temps and not self.soft_off else 0
        fan_pct = self.fan_pct()
        stopped = self.soft_off or "fan_stopped" in self.conditions  # FanR stays as commanded, the tach reads 0
        rpm = [0 if stopped else int(hw.fan_max_rpm * fan_pct / 100 * rng.uniform(0.97, 1.03))
               for _ in range(hw.fans)]
        freq = 0.0 if self.soft_off and hw.level_only else p.pll * 1.0 + rng.uniform(20, 35)
        status = "In Idle" if self.soft_off else "In Work"
        volts = self.chip_volts()
        mw = self.chip_works()
        pll = [p.pll, p.pll + 18, p.pll + 39, p.pll + 60]
        fw = hw.firmware
        t: list[tuple[str, str]] = []
        add = t.append
        if hw.key == "nano3":
            add(("HashStatus", "1"))
        add(("Ver", f"{hw.ver_prefix}-{fw}"))
        if hw.key == "nano3":
            add(("HVer", "24071801_b906c52_6223725"))
            add(("DNA", "0000000000000000"))
            add(("HDNA", self.dna))
        else:
            add(("LVer", fw))
            add(("BVer", fw))
            if hw.summary_format:
                for key, value in (("HashMcu0Ver", "Q_hb_v1.1"), ("FanMcuVer", "Q_fb_v1.2"), ("CPU", "K230")):
                    add((key, value))
            add(("FW", "Release"))
            if not hw.summary_format:
                add(("LED", "0-0"))
                add(("LEDUser", "0-100-100-5-0-255"))
                add(("LcdOnoff", "1"))
                add(("LcdSwitch", "2"))
            add(("DNA", self.dna))
            if hw.summary_format:
                add(("STATE", "2" if self.soft_off else "1"))
            add(("MEMFREE", str(63728 + rng.randrange(0, 4000))))
        if not hw.summary_format:
            add(("PFCnt", "0"))
        add(("NETFAIL", "0 0 0 0 0 0 0 0"))
        if hw.summary_format:
            add(("SSID", ""))
            add(("RSSI", "0"))
            add(("NetDevType", "0"))
        if hw.key != "nano3":
            add(("SYSTEMSTATU", f"Work: {status}, Hash Board: 1"))
        add(("Elapsed", str(elapsed)))
        if hw.key != "nano3":
            add(("BOOTBY", "0x01.00000000"))
        add(("LW", str(elapsed * 770)))
        add(("MH", "0"))
        add(("DHW", "0"))
        add(("HW", str(self.shares.hw_errors)))
        add(("DH", f"{abs(rng.gauss(2.3, 0.2)):.3f}%"))
        if hw.key == "nano3":
            add(("Temp", str(38 + rng.randrange(-1, 2))))
        elif hw.summary_format:
            add(("ITemp", str(26 + rng.randrange(-1, 2))))
            add(("HBITemp", str(27 + (0 if self.soft_off else 8))))
            add(("HBOTemp", str(27 + (0 if self.soft_off else 22))))
        else:
            add(("ITemp", "-273"))  # recorded Nano 3S: no inlet sensor
        if not hw.summary_format:
            add(("OTemp", str(max(0, tavg - 25) if tavg else 0)))
        add(("TMax", str(tmax)))
        add(("TAvg", str(tavg)))
        add(("TarT", str(p.target_c)))
        for i, value in enumerate(rpm, 1):
            add((f"Fan{i}", str(value)))
        add(("FanR", f"{fan_pct}%"))
        if hw.key == "nano3":
            add(("Vo", "0"))
        if hw.summary_format:
            add(("SoftOffTime", str(self.soft.off_time)))
            add(("SoftOnTime", str(self.soft.on_time)))
            add(("Filter", "19143"))
            add(("FanErr", "0"))
            add(("SoloAllowed", "1"))
        add(("PS", self._ps(wall)))
        if hw.summary_format:
            add(("PCOMM_E", "0"))
        add(("GHSspd", f"{spd:.2f}"))
        add(("DHspd", f"{abs(rng.gauss(2.3, 0.2)) if ghs else 0.0:.3f}%"))
        add(("GHSmm", f"{p.ghs:.2f}"))
        add(("GHSavg", f"{avg:.2f}"))
        add(("WU", f"{avg * 13.97:.2f}"))
        add(("Freq", f"{freq:.2f}"))
        if hw.key == "nano3":
            add(("Led", "1"))
        add(("MGHS", f"{avg:.2f}"))
        if not hw.summary_format:
            add(("MTmax", str(tmax)))
            add(("MTavg", str(tavg)))
        add(("TA", str(hw.chips)))
        add(("Core", hw.core))
        if hw.key != "nano3":
            add(("BIN", "60" if hw.key == "nano3s" else "36"))
        add(("PING", str(60 + rng.randrange(0, 40))))
        add(("SoftOFF", "4" if self.soft_off else "0"))
        add(("ECHU", "0"))
        add(("ECMM", "0"))
        add(("PLL0", " ".join(str(rng.randrange(200, 9000)) for _ in range(4))))
        add(("SF0", " ".join(str(v) for v in pll)))
        if with_chips and not hw.summary_format:
            add(("PVT_T0", " ".join(f"{v:3d}" for v in temps)))
            add(("PVT_V0", " ".join(str(v) for v in volts)))
            add(("MW0", " ".join(str(v) for v in mw)))
        add(("CRC", "0"))
        if hw.key != "nano3":
            add(("COMCRC", "0"))
        if hw.level_only:
            for i, m in enumerate(hw.modes):
                add((f"ATA{i}", f"{int(m.watts)}-{m.target_c}-{m.volt}-100:{m.pll}:{m.pll + 20}:{m.pll + 40}"))
            add(("WORKLEVEL", str(self.level)))
            add(("MPO", str(int(p.watts))))
            add(("ADJ", "1"))
            return t
        add((f"ATA{self.mode}", f"{int(p.watts)}-{p.target_c}-{p.volt}-{p.pll}-20"))
        if hw.summary_format:
            add(("LcdOnoff", "1"))
            add(("Activation", "0"))
        add(("WORKMODE", str(self.mode)))
        add(("WORKLEVEL", str(self.level)))
        add(("MPO", str(int(p.watts))))
        add(("CALIALL", "7"))
        add(("ADJ", "0" if self.calibrating else "1"))
        if hw.summary_format:
            add(("Nonce Mask", "25"))
        return t

    def mm_string(self, *, with_chips: bool) -> str:
        """The ``MM ID0`` value (Avalon Q: ``'STATS':{...}``)."""
        body = " ".join(f"{k}[{v}]" for k, v in self.mm_tokens(with_chips=with_chips))
        return "'STATS':{" + body + "}" if self.hw.summary_format else body

    def chip_volts(self) -> list[int]:
        """Per-chip mV (PVT_V): the model's recorded level, scaled with the mode's supply setting."""
        hw = self.hw
        base = CHIP_MV[hw.key] * self.point.volt / hw.modes[hw.default_mode].volt
        return [int(round(base + bias)) for bias in self.chip_volt]

    def chip_works(self) -> list[int]:
        """MW<n> per-chip counters (meaning unverified; they grow with the shares here)."""
        per_chip = self.shares.accepted * 37 / self.hw.chips
        return [int(per_chip + self.rng.randrange(0, 40)) for _ in range(self.hw.chips)]

    def hbinfo(self) -> str:
        """Avalon Q ``HBinfo``: per-chip PVT_T0/PVT_V0/MW0 of hash board 0."""
        temps, volts, mw = self.chip_temps(), self.chip_volts(), self.chip_works()
        return ("'HB0':{PVT_T0[" + " ".join(str(v) for v in temps) + "] PVT_V0[" + " ".join(str(v) for v in volts)
                + "] MW0[" + " ".join(str(v) for v in mw) + "]}")

    # --- report commands ------------------------------------------------------------------
    def cmd_version(self, param: str | None, isjson: bool) -> CgReply:
        """version: PROD/MODEL/HWTYPE, firmware builds, DNA, MAC without colons."""
        hw = self.hw
        mac = self.mac("E0:E1:A9").replace(":", "").lower()
        rec: Record = [("CGMiner", self.VERSION), ("API", self.API_VERSION), ("PROD", hw.prod), ("MODEL", hw.model),
                       ("HWTYPE", hw.hwtype), ("SWTYPE", hw.swtype), ("LVERSION", hw.firmware),
                       ("BVERSION", hw.firmware), ("CGVERSION", hw.firmware)]
        rec += list(hw.extra_version)
        rec += [("DNA", self.dna), ("MAC", mac), ("UPAPI", "2")]
        return self.ok(22, "CGMiner versions", "VERSION", [rec], text_prefix=True)

    def cmd_config(self, param: str | None, isjson: bool) -> CgReply:
        """config: one ASC, the pool count."""
        rec: Record = [("ASC Count", 1), ("PGA Count", 0), ("Pool Count", len(self.pools)),
                       ("Strategy", "Failover"), ("Log Interval", 5), ("Device Code", "AVA "), ("OS", "Linux"),
                       ("Failover-Only", False), ("ScanTime", 60), ("Queue", 1), ("Expiry", 120), ("Hotplug", 0)]
        return self.ok(33, "CGMiner config", "CONFIG", [rec], text_prefix=True)

    def cmd_summary(self, param: str | None, isjson: bool) -> CgReply:
        """summary: MH/s windows (the average keeps counting while soft-off, as on the Q)."""
        self._tick()
        rng, elapsed = self.rng, self._elapsed()
        mhs = self.true_ghs() * 1000.0
        average = max(self.shares.diff_accepted * 2**32 / elapsed / 1e6, 0.0) if self.soft_off else mhs
        s = self.shares
        diff1 = s.diff_accepted + s.diff_rejected
        minutes = elapsed / 60.0
        rec: Record = [
            ("Elapsed", elapsed), ("MHS av", fx(noisy(rng, average, 0.002), 2)),
            ("MHS 5s", fx(noisy(rng, mhs, 0.03), 2)),
            ("MHS 1m", fx(noisy(rng, mhs, 0.015), 2)), ("MHS 5m", fx(noisy(rng, mhs, 0.007), 2)),
            ("MHS 15m", fx(noisy(rng, mhs, 0.004), 2)), ("Found Blocks", 0), ("Getworks", elapsed // 30 + 1),
            ("Accepted", s.accepted), ("Rejected", s.rejected), ("Hardware Errors", s.hw_errors),
            ("Utility", fx(s.accepted / minutes, 2)), ("Discarded", elapsed // 2), ("Stale", 0),
            ("Get Failures", 0), ("Local Work", elapsed * 770), ("Remote Failures", 0), ("Network Blocks", 1),
            ("Total MH", fx(mhs * elapsed, 4)), ("Work Utility", fx(diff1 / minutes, 2)),
            ("Difficulty Accepted", fx(s.diff_accepted, 8)), ("Difficulty Rejected", fx(s.diff_rejected, 8)),
            ("Difficulty Stale", fx(0.0, 8)), ("Best Share", int(s.best_share)),
            ("Device Hardware%", fx(0.0, 4)), ("Device Rejected%", fx(pct(s.diff_rejected, diff1), 4)),
            ("Pool Rejected%", fx(pct(s.diff_rejected, diff1), 4)), ("Pool Stale%", fx(0.0, 4)),
            ("Last getwork", 0),
        ]
        return self.ok(11, "Summary", "SUMMARY", [rec], text_prefix=True)

    def cmd_pools(self, param: str | None, isjson: bool) -> CgReply:
        """pools: cgminer 4.11 layout; the Avalon Q adds each pool's Password after User (as captured)."""
        if not self.pools:
            return self.err(8, "No pools")
        self._tick()
        active = self.active_pool()
        records = []
        for i, pool in enumerate(self.pools):
            rec = CgminerMiner.pool_record(self, i, pool, active)  # type: ignore[arg-type]
            if self.hw.pools_password:
                at = next(n for n, item in enumerate(rec) if isinstance(item, tuple) and item[0] == "User")
                rec.insert(at + 1, ("Password", pool.password))
            records.append(rec)
        return self.ok(7, f"{len(self.pools)} Pool(s)", "POOLS", records)

    def cmd_devs(self, param: str | None, isjson: bool) -> CgReply:
        """devs: one ASC; Temperature is the dummy -273 the Avalon driver reports."""
        self._tick()
        rng, elapsed = self.rng, self._elapsed()
        mhs = self.true_ghs() * 1000.0
        s = self.shares
        rec: Record = [
            ("ASC", 0), ("Name", "AVALON"), ("ID", 0), ("Enabled", "Y"), ("Status", "Alive"),
            ("Temperature", fx(-273.0, 2)), ("MHS av", fx(noisy(rng, mhs, 0.002), 2)),
            ("MHS 30s", fx(noisy(rng, mhs, 0.02), 2)), ("MHS 1m", fx(noisy(rng, mhs, 0.015), 2)),
            ("MHS 5m", fx(noisy(rng, mhs, 0.007), 2)), ("MHS 15m", fx(noisy(rng, mhs, 0.004), 2)),
            ("Accepted", s.accepted), ("Rejected", s.rejected), ("Hardware Errors", s.hw_errors),
            ("Utility", fx(s.accepted / (elapsed / 60.0), 2)), ("Last Share Pool", 0),
            ("Last Share Time", int(s.last_share_at or 0)), ("Total MH", fx(mhs * elapsed, 4)),
            ("Diff1 Work", int(s.diff_accepted + s.diff_rejected)),
            ("Difficulty Accepted", fx(s.diff_accepted, 8)), ("Difficulty Rejected", fx(s.diff_rejected, 8)),
            ("Last Share Difficulty", fx(self.hw.pool_diff if s.accepted else 0.0, 8)),
            ("Last Valid Work", int(self.wall_time())), ("Device Hardware%", fx(0.0, 4)),
            ("Device Rejected%", fx(0.0, 4)), ("Device Elapsed", elapsed),
        ]
        return self.ok(9, "1 ASC(s)", "DEVS", [rec])

    def cmd_stats(self, param: str | None, isjson: bool, *, estats: bool) -> CgReply:
        """stats/estats: the module record with its MM string (+ HBinfo on the Q's estats)."""
        hw = self.hw
        elapsed = self._elapsed()
        key = "MM ID0:Summary" if hw.summary_format else "MM ID0"
        rec: Record = [("STATS", 0), ("ID", hw.stats_id), ("Elapsed", elapsed), ("Calls", 0), ("Wait", fx(0, 6)),
                       ("Max", fx(0, 6)), ("Min", fx(99999999, 6)), (key, self.mm_string(with_chips=True))]
        if hw.summary_format and estats:
            rec.append(("HBinfo", self.hbinfo()))
        rec += [("MM Count", 1), ("Nonce Mask", 25 if hw.key != "nano3" else 1)]
        records = [rec]
        if not estats:  # cgminer `stats` appends one record per pool (recorded A10xx multi-command)
            for i, _pool in enumerate(self.pools):
                records.append([("STATS", i + 1), ("ID", f"POOL{i}"), ("Elapsed", elapsed), ("Calls", 0),
                                ("Wait", fx(0, 6)), ("Max", fx(0, 6)), ("Min", fx(99999999, 6)),
                                ("Pool Calls", 0), ("Pool Attempts", 0)])
        return self.ok(70, "CGMiner stats", "STATS", records)

    # --- writes ---------------------------------------------------------------------------------
    def _set_ok(self) -> CgReply:
        return self.ok(119, "ASC 0 set OK")

    def _set_info(self, text: str) -> CgReply:
        return self.ok(118, f"ASC 0 set info: {text}", letter="I")

    def _set_failed(self, text: str) -> CgReply:
        return self.err(120, f"ASC 0 set failed: {text}")

    def cmd_ascset(self, param: str | None, isjson: bool) -> CgReply:
        """ascset|0,<option>[,<args>] with the firmware's reply forms (cgminer api.c ascset + driver-avalon.c)."""
        if not param:
            return self.err(15, "Missing device id parameter")
        dev, _, rest = param.partition(",")
        if not rest:
            return self.err(116, "Missing option after ASC number")
        try:
            ident = int(dev)
        except ValueError:
            ident = 0
        if ident != 0:
            return self.err(107, f"Invalid ASC id {ident} - range is 0 - 0")
        option, _, setting = rest.partition(",")
        if option.lower() not in self.hw.help:
            return self._set_failed(f"Unknown option: {option}")
        self._tick()
        handler = getattr(self, "_opt_" + option.lower().replace("-", "_"), None)
        if handler is None:  # listed but not simulated: the handler wants a value, then accepts it
            return self._set_ok() if setting else self._set_failed(f"missing {option} setting")
        return handler(setting)

    def _opt_help(self, setting: str) -> CgReply:
        return self._set_info("".join(f"{name}|" for name in self.hw.help))

    def _opt_reboot(self, setting: str) -> CgReply:
        if not setting:
            return self._set_failed("missing reboot value")
        try:
            delay = int(setting.split(",")[0])
        except ValueError:
            return self._set_failed("reboot value not number")
        if not 0 <= delay <= 300:
            return self._set_failed("reboot value should be 0~300 seconds")
        reply = self._set_ok()
        if delay == 0:
            self.stop_accepting()
            reply.after = self.reboot
        else:
            asyncio.get_running_loop().call_later(delay, self.reboot)
        return reply

    def _opt_workmode(self, setting: str) -> CgReply:
        verb, _, value = setting.partition(",")
        if verb == "get" and not value:
            return self._set_info(f"workmode {self.mode}")
        if verb != "set" or not value.strip().lstrip("-").isdigit():
            return self._set_failed("error:2 parameter error")
        mode = int(value)
        max_mode = len(self.hw.modes) - 1
        if not 0 <= mode <= max_mode:
            return self._set_failed(f"error:1 not support set workmode max_mode[{max_mode}]")
        if self.calibrating:
            return self._set_failed(f"current mode {self.mode} is caling Don't permit switch mode")
        self._advance()
        self.mode = mode
        return self._set_ok()

    def _opt_worklevel(self, setting: str) -> CgReply:
        verb, _, value = setting.partition(",")
        if verb == "get" and not value:
            return self._set_info(f"worklevel {self.level}")
        top = len(self.hw.modes) - 1 if self.hw.level_only else 0
        if verb != "set" or not value.strip().lstrip("-").isdigit() or not 0 <= int(value) <= top:
            return self._set_failed("worklevel unknown argument")
        if self.calibrating:
            return self._set_failed(f"current level {self.level} is caling,Don't permit switch level")
        self._advance()
        self.level = int(value)
        return self._set_ok()

    def _opt_work_mode_lvl(self, setting: str) -> CgReply:
        if setting == "get":
            return self._set_info(f"workmode {self.mode} worklevel {self.level}")
        return self._set_failed("error:2 parameter error")

    def _parse_soft(self, setting: str) -> float | None:
        # "1:<unix ts>"; a bare "1" is refused ("parameter invalid", gbechtel-beck/avalon-q-controller).
        index, sep, stamp = setting.partition(":")
        if index != "1" or not sep or not stamp.isdigit():
            return None
        return float(stamp)

    def _opt_softoff(self, setting: str) -> CgReply:
        when = self._parse_soft(setting)
        if when is None:
            return self._set_failed("parameter invalid")
        self.soft.off_at, self.soft.off_time = when, int(when)
        self._tick()
        return self._set_info(f"success softoff:{int(when)}")

    def _opt_softon(self, setting: str) -> CgReply | object:
        when = self._parse_soft(setting)
        if when is None:
            return self._set_failed("parameter invalid")
        self.soft.on_at, self.soft.on_time = when, int(when)
        self.soft.softon_calls += 1
        self._tick()
        if self.soft.softon_calls % 2 == 1:
            return CLOSE  # asic-rs avalon_q: "softon closes the connection without responding"
        return self._set_info(f"success softon:{int(when)}")

    def _opt_fan_spd(self, setting: str) -> CgReply:
        try:
            value = int(setting.split(",")[0])
        except ValueError:
            return self._set_failed("No value passed to avalon-fan")
        if value != -1 and not 15 <= value <= 100:
            return self._set_failed("invalid fan value, valid range 15-100 for stable pwm,-1 for auto adjust")
        self.fan_setting = None if value == -1 else value
        return self._set_ok()

    def _opt_voltage(self, setting: str) -> CgReply:
        if not setting:  # query: PS[...] (Nano3s source set_avalon_device_voltage)
            return self._set_info(f"PS[{self._ps(self.wall_watts())}]")
        return self._set_failed(f"Setting invalid: voltage range {self.point.volt - 200}~{self.point.volt + 200}")

    def cmd_setpool(self, param: str | None, isjson: bool) -> CgReply:
        """setpool|admin,<web password>,<slot>,<url>,<worker>,<pass>: writes the pool file (applied at boot).

        The argument order follows LW10583/AvalonMinerTools and Gr33nDrag0n69/AvalonPS7;
        the reply texts are not from a capture.
        """
        parts = split_params(param or "")
        if len(parts) != 6:
            return self.err(130, "Wrong setpool parameter count")
        user, password, slot, url, worker, worker_pass = parts
        self.setpool_calls += 1
        if user != "admin" or password != self.web_password:
            return self.err(131, "setpool auth failed: wrong web password")
        if not slot.isdigit() or not 0 <= int(slot) <= 2 or not url:
            return self.err(132, f"Invalid pool setting {slot}")
        self.pool_file[int(slot)] = PoolSlot(url, worker, worker_pass)
        return self.ok(133, f"Pool {slot} set, reboot to apply")

    def cmd_restart(self, param: str | None, isjson: bool) -> CgReply:
        """restart: cgminer exits and comes back (down for restart_seconds)."""
        self.stop_accepting()
        return CgReply(None, bare="RESTART", after=self.reboot)

    # --- one request (softon may answer CLOSE: cgapi.serve_cgapi then closes without a byte) ------
    def handle_cgapi(self, request: cgapi.Request) -> str | tuple[str, Any] | object:
        """Answer one request; ``softon`` may close without any reply."""
        if request.command == "ascset" and (request.parameter or "").split(",")[1:2] == ["softon"]:
            reply = self.run(request.command, request.parameter, request.isjson)
            if reply is CLOSE:
                return CLOSE
            return cgapi.encode(reply, request.isjson)  # type: ignore[arg-type]
        return super().handle_cgapi(request)


__all__ = ["AvalonMiner", "AVALON_MODELS", "resolve_avalon", "CLOSE"]
