"""Catalogue of the simulated hardware: nominal figures per model and firmware identity strings.

Figures are typical stock values (hashrate at the default frequency, power,
temperatures); identity strings come from recorded replies
(/work/shared/data/replies and the Foreman captures named in the protocol
reference, section 4), rebuilt here so nothing is read at run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

SHA256D = "sha256d"
SCRYPT = "scrypt"


@dataclass(frozen=True, slots=True)
class BitaxeModel:
    """One Bitaxe board family, identified by its ASIC."""

    asic: str  # ASICModel
    device: str  # deviceModel in /api/system/asic
    board_version: str
    small_cores: int  # smallCoreCount (per chip)
    asic_count: int
    default_freq: int  # MHz
    freq_options: tuple[int, ...]
    default_mv: int  # core voltage
    volt_options: tuple[int, ...]
    power_w: float  # at default frequency/voltage, whole board
    static_w: float  # ESP32, regulator losses, fan: does not scale with f*V^2
    temp_c: float  # ASIC temperature at default settings, auto fan
    max_power: int  # maxPower field (W)
    swarm_color: str

    def expected_ghs(self, freq_mhz: float) -> float:
        """ESP-Miner's expected hashrate: frequency * smallCoreCount * asicCount / 1000 (GH/s)."""
        return freq_mhz * self.small_cores * self.asic_count / 1000.0


BITAXE_MODELS: dict[str, BitaxeModel] = {
    "BM1366": BitaxeModel("BM1366", "Ultra", "204", 894, 1, 485, (400, 425, 450, 475, 485, 500, 525, 550, 575),
                          1200, (1100, 1150, 1200, 1250, 1300), 11.8, 1.6, 58.0, 25, "purple"),
    # Supra options and defaults are the recorded /api/system/asic reply (bitaxe/system_asic.supra_bm1368.json).
    "BM1368": BitaxeModel("BM1368", "Supra", "401", 1276, 1, 490, (400, 425, 450, 475, 485, 490, 500, 525, 550, 575),
                          1166, (1100, 1150, 1166, 1200, 1250, 1300), 12.6, 1.6, 57.0, 40, "blue"),
    "BM1370": BitaxeModel("BM1370", "Gamma", "601", 2040, 1, 525, (400, 490, 525, 550, 600, 625),
                          1150, (1000, 1060, 1100, 1150, 1200, 1250), 17.5, 1.8, 60.0, 40, "green"),
    "BM1397": BitaxeModel("BM1397", "Max", "102", 672, 1, 425, (400, 425, 450, 475, 485, 500, 525, 550, 575, 600),
                          1400, (1100, 1150, 1200, 1250, 1300, 1350, 1400, 1450, 1500), 13.5, 1.6, 55.0, 25, "red"),
}
BITAXE_ALIASES = {m.device.lower(): m.asic for m in BITAXE_MODELS.values()}

# AxeOS (ESP-Miner) releases the simulator knows; the field set of
# /api/system/info and the PATCH keys follow the version (see axeos.py).
AXEOS_VERSIONS = ("v2.6.0", "v2.9.0", "v2.10.0", "v2.11.0", "v2.12.0", "v2.13.2", "v2.14.2", "v2.15.0")


def parse_version(version: str) -> tuple[int, int, int]:
    """"v2.13.2" -> (2, 13, 2)."""
    nums = version.lstrip("vV").split("-")[0].split(".")
    padded = (nums + ["0", "0", "0"])[:3]
    return int(padded[0]), int(padded[1]), int(padded[2])


@dataclass(frozen=True, slots=True)
class AntminerModel:
    """A stock Antminer running Bitmain's bmminer/cgminer build."""

    type: str  # VERSION[0].Type
    chains: tuple[int, ...]  # chain indices with boards (S9: 6..8)
    chain_slots: int  # how many chainN keys the stats block lists (16 on S9/S17, 4 on X19/L3)
    chips: int  # per chain
    freq: int  # MHz
    rate_per_chain: float  # in the unit the firmware writes into "GHS" fields (GH/s, MH/s on scrypt)
    algorithm: str
    fans: tuple[int, ...]  # fan indices that spin (S9: fan5/fan6)
    fan_slots: int  # fanN keys listed
    fan_rpm: int
    pcb_temp: float
    chip_temp: float
    version_key: str  # "BMMiner" or "CGMiner"
    version: str
    miner: str
    compile_time: str
    description: str  # STATUS Description
    version_msg: str
    stats_msg: str
    stats_id: str
    glued_stats: bool  # "}{" between the version block and the device block
    x19: bool  # X19 layout: temp_pcbN/temp_chipN strings, "Pool Stale%%", BTM_SOC devs
    joins: bool  # answers '+'-joined commands
    pool_diff: float


ANTMINER_MODELS: dict[str, AntminerModel] = {
    # Version strings: Foreman AntminerStatsITest stock S9 case; chain/fan layout per reference section 4.
    "Antminer S9": AntminerModel(
        "Antminer S9", (6, 7, 8), 16, 63, 650, 4500.0, SHA256D, (5, 6), 8, 5040, 62.0, 77.0,
        "BMMiner", "2.0.0", "16.8.1.3", "Fri Nov 17 17:37:49 CST 2017", "bmminer 1.0.0",
        "BMMiner versions", "BMMiner stats", "BC50", True, False, True, 65536.0),
    # antminer/version.s19_sleeping.json and stats.s19_sleeping.json.
    "Antminer S19": AntminerModel(
        "Antminer S19", (1, 2, 3), 4, 76, 675, 31960.0, SHA256D, (1, 2, 3, 4), 4, 4320, 58.0, 74.0,
        "BMMiner", "1.0.0", "49.0.1.3", "Fri Dec 11 11:15:40 CST 2020", "cgminer 1.0.0",
        "CGMiner versions", "CGMiner stats", "BTM_SOC0", False, True, False, 131072.0),
    # Foreman AntminerL3StatsITest (cgminer 4.9.0); hashrate fields are MH/s.
    "Antminer L3+": AntminerModel(
        "Antminer L3+", (1, 2, 3, 4), 4, 72, 384, 126.0, SCRYPT, (1, 2), 2, 3840, 46.0, 55.0,
        "CGMiner", "4.9.0", "1.0.1.3", "Fri Aug 25 17:28:57 CST 2017", "cgminer 4.9.0",
        "CGMiner versions", "CGMiner stats", "L30", True, False, True, 65536.0),
}
ANTMINER_ALIASES = {"s9": "Antminer S9", "s19": "Antminer S19", "l3+": "Antminer L3+", "l3": "Antminer L3+"}


@dataclass(frozen=True, slots=True)
class UsbAsicModel:
    """A USB stick miner driven by generic cgminer (e.g. GekkoScience)."""

    name: str  # human model name
    code: str  # cgminer device code, DEVS[].Name
    driver: str
    chip: str
    small_cores: int
    freq: int
    temp_c: float
    pool_diff: float

    def ghs(self, freq_mhz: float) -> float:
        """Nominal GH/s of one stick at ``freq_mhz``."""
        return freq_mhz * self.small_cores / 1000.0


USB_MODELS: dict[str, UsbAsicModel] = {
    "GekkoScience Compac F": UsbAsicModel("GekkoScience Compac F", "GSF", "gekko", "BM1397", 672, 400, 48.0, 2048.0),
    "GekkoScience NewPac": UsbAsicModel("GekkoScience NewPac", "GSD", "gekko", "BM1387", 114 * 2, 450, 44.0, 1024.0),
}
USB_ALIASES = {"compac f": "GekkoScience Compac F", "compacf": "GekkoScience Compac F",
               "newpac": "GekkoScience NewPac"}


Model = TypeVar("Model")


def pick_model(models: dict[str, Model], aliases: dict[str, str], model: str | None, *, default: str, label: str,
               prefix: str = "antminer ") -> Model:
    """``models`` entry for a full name or a short alias (case and a vendor ``prefix`` ignored); None = ``default``.

    An unknown name raises ValueError("unknown <label> model ...") listing the known ones.
    """
    if model is None:
        return models[default]
    key = aliases.get(model.strip().lower().removeprefix(prefix).strip(), model.strip())
    if key not in models:
        raise ValueError(f"unknown {label} model {model!r}; use one of {sorted(models)}")
    return models[key]


def resolve_bitaxe(model: str | None) -> BitaxeModel:
    """A Bitaxe model by ASIC ("BM1370") or board name ("Gamma"); default Ultra."""
    if model is None:
        return BITAXE_MODELS["BM1366"]
    key = model.strip()
    asic = key.upper() if key.upper() in BITAXE_MODELS else BITAXE_ALIASES.get(key.lower().removeprefix("bitaxe "))
    if asic is None:
        raise ValueError(f"unknown Bitaxe model {model!r}; use one of {sorted(BITAXE_MODELS)} "
                         f"or {sorted(m.device for m in BITAXE_MODELS.values())}")
    return BITAXE_MODELS[asic]


def resolve_antminer(model: str | None) -> AntminerModel:
    """A stock Antminer by type ("Antminer S19") or short name ("S19"); default S9."""
    return pick_model(ANTMINER_MODELS, ANTMINER_ALIASES, model, default="Antminer S9", label="Antminer")


def resolve_usb(model: str | None) -> UsbAsicModel:
    """A USB ASIC model for generic cgminer; default GekkoScience Compac F."""
    return pick_model(USB_MODELS, USB_ALIASES, model, default="GekkoScience Compac F", label="cgminer device",
                      prefix="gekkoscience ")
