"""MinerSpec: what one simulated miner is (kind, address, model, firmware version)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

KINDS = ("bitaxe", "cgminer", "antminer", "nmminer", "avalon", "vnish", "vnish_legacy", "whatsminer",
         "braiins", "luxos")


@dataclass(frozen=True)
class MinerSpec:
    """One simulated miner.

    kind: "bitaxe" (AxeOS/ESP-Miner HTTP), "cgminer" (generic cgminer 4.11.1 with
    USB ASICs, TCP 4028), "antminer" (stock bmminer: TCP 4028 + digest-auth web).
    "nmminer" (NMMiner/NMAxe: UDP telemetry to 12345, UDP config on 12347, no TCP).
    "vnish" (Vnish 1.x AnthillOS: REST /api/v1 on 80 with unlock tokens + cgminer API on 4028;
    model "Antminer S19"/"S21"/"L7", firmware_version "1.2.6" or "1.3.4"), "vnish_legacy"
    (Vnish 3.x on "Antminer S9"/"L3+": bmminer API on 4028 + digest-auth CGI on 80; firmware_version "3.9.0").
    "whatsminer" (MicroBT btminer: API 2.x on 4028 with token + AES writes; model "M20S"/"M31S"/"M30S+"/
    "M50S"; "M60S" adds API 3.x on 4433; firmware_version overrides the model's build string).
    "braiins" (BraiinsOS: BOSminer/BOSer cgminer API on 4028 + BOS+ REST on 80 from 25.07; model
    "Antminer S19 XP"/"S19"/"S9"; firmware_version "25.11" (REST), "23.03", "0.2.0+" or "0.2.0").
    "luxos" (LuxOS LUXminer API on 4028 with sessions and profiles; model "Antminer S19k Pro"/"S19j Pro";
    firmware_version = the LUXminer build, default "2025.4.8.220305").
    model: Bitaxe ASIC or board name ("BM1370"/"Gamma"), Antminer type ("Antminer
    S19"/"S19"), USB stick for cgminer ("GekkoScience Compac F"), or NMMiner board
    ("NM-TV-154", "NMAxe").
    "avalon" (Canaan Nano 3S / Avalon Q / Nano 3 on cgminer 4.11.1, TCP 4028, model
    "Avalon Nano3s" / "Avalon Q" / "Avalon Nano3"). A Bitaxe spec with model
    "NerdQAxe++" simulates NerdOS (firmware_version like "v1.1.0-beta1").
    firmware_version: AxeOS version for a Bitaxe ("v2.12.0"); ignored by the others.
    pools: (url, user) pairs; None = a default pool list for the kind.
    """

    kind: str
    ip: str
    model: str | None = None
    firmware_version: str | None = None
    hostname: str | None = None
    devices: int = 2
    restart_seconds: float = 3.0
    pools: tuple[tuple[str, str], ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown miner kind {self.kind!r}; use one of {KINDS}")
        try:
            addr = ipaddress.IPv4Address(self.ip)
        except ValueError as exc:
            raise ValueError(f"bad simulator address {self.ip!r}: {exc}") from None
        # The simulator only ever listens on loopback: 127.0.0.0/8.
        if not addr.is_loopback:
            raise ValueError(f"simulator address {self.ip} is not in 127.0.0.0/8")
        if self.devices < 1:
            raise ValueError("a cgminer miner needs at least one device")
        if self.restart_seconds < 0:
            raise ValueError("restart_seconds must be >= 0")
