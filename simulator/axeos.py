"""Bitaxe running AxeOS (bitaxeorg/ESP-Miner v2.x): the HTTP API on port 80.

Behaviour follows main/http_server/http_server.c of the ESP-Miner tags named in
the protocol reference (section 3): cJSON-formatted replies, the private-range
access rule (401 "Unauthorized"), PATCH /api/system answering an empty chunked
200 and ignoring unknown keys, and the field set of /api/system/info changing
with the firmware version. Where the reference gives no exact release for a
field, the gate below says so.
"""

from __future__ import annotations

import gzip
import ipaddress
import json
from typing import Any

from . import httpd
from .conditions import hot_c
from .formats import cjson_dumps, cjson_float, suffix_string
from .miner import HTTP, SimMiner
from .models import AXEOS_VERSIONS, BitaxeModel, parse_version, resolve_bitaxe
from .physics import AMBIENT_C, ShareCounter, chip_temperature, dynamic_power, noisy
from .spec import MinerSpec

DEFAULT_VERSION = "v2.12.0"
MAX_POOLS = 8  # v2.15 pools[] ids 0..7
NOMINAL_FAN_PCT = 60.0
PRIVATE_NETS = (ipaddress.IPv4Network("10.0.0.0/8"), ipaddress.IPv4Network("172.16.0.0/12"),
                ipaddress.IPv4Network("192.168.0.0/16"))

CORS = [("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS"),
        ("Access-Control-Allow-Headers", "Content-Type")]

# The Angular index.html is served from SPIFFS as index.html.gz, chunked, with
# Content-Encoding: gzip and no access check (static files are not /api/*).
INDEX_HTML = (b'<!doctype html>\n<html lang="en">\n<head>\n  <meta charset="utf-8">\n  <title>AxeOS</title>\n'
              b'  <base href="/">\n  <meta name="viewport" content="width=device-width, initial-scale=1">\n'
              b'  <link rel="icon" type="image/x-icon" href="favicon.ico">\n</head>\n<body>\n'
              b'  <app-root></app-root>\n</body>\n</html>\n')
INDEX_GZ = gzip.compress(INDEX_HTML, mtime=0)

STR, NUM, BOOL = "str", "num", "bool"
V = parse_version
# PATCH /api/system keys: (name, type, first version, first version without it, min, max).
# From main/nvs_config.c rest_name (v2.10+) or the PATCH handler of older tags (reference section 3).
SETTINGS: tuple[tuple[str, str, tuple[int, int, int], tuple[int, int, int] | None, float, float], ...] = (
    ("stratumURL", STR, V("2.6"), V("2.15"), 0, 128),
    ("stratumPort", NUM, V("2.6"), V("2.15"), 1, 65535),
    ("stratumUser", STR, V("2.6"), V("2.15"), 0, 128),
    ("stratumPassword", STR, V("2.6"), V("2.15"), 0, 64),
    ("fallbackStratumURL", STR, V("2.6"), V("2.15"), 0, 128),
    ("fallbackStratumPort", NUM, V("2.6"), V("2.15"), 1, 65535),
    ("fallbackStratumUser", STR, V("2.6"), V("2.15"), 0, 128),
    ("fallbackStratumPassword", STR, V("2.6"), V("2.15"), 0, 64),
    ("ssid", STR, V("2.6"), None, 0, 32),
    ("wifiPass", STR, V("2.6"), None, 0, 63),
    ("hostname", STR, V("2.6"), None, 1, 32),
    ("coreVoltage", NUM, V("2.6"), None, 1, 1800),
    ("frequency", NUM, V("2.6"), None, 1, 1500),
    ("flipscreen", BOOL, V("2.6"), V("2.10"), 0, 1),
    ("overheat_mode", BOOL, V("2.6"), None, 0, 1),
    ("invertscreen", BOOL, V("2.6"), None, 0, 1),
    ("invertfanpolarity", BOOL, V("2.6"), None, 0, 1),
    ("autofanspeed", BOOL, V("2.6"), None, 0, 1),
    ("fanspeed", NUM, V("2.6"), V("2.12"), 0, 100),  # manual fan % until v2.12
    ("overclockEnabled", BOOL, V("2.6"), None, 0, 1),
    ("stratumSuggestedDifficulty", NUM, V("2.10"), V("2.15"), 0, 4294967295),
    ("stratumExtranonceSubscribe", BOOL, V("2.10"), V("2.15"), 0, 1),
    ("fallbackStratumSuggestedDifficulty", NUM, V("2.10"), V("2.15"), 0, 4294967295),
    ("fallbackStratumExtranonceSubscribe", BOOL, V("2.10"), V("2.15"), 0, 1),
    ("display", STR, V("2.10"), None, 0, 32),
    ("rotation", NUM, V("2.10"), None, 0, 270),
    ("displayTimeout", NUM, V("2.10"), None, -1, 1440),
    ("minFanSpeed", NUM, V("2.10"), None, 0, 100),
    ("temptarget", NUM, V("2.10"), None, 35, 75),
    ("statsFrequency", NUM, V("2.10"), None, 0, 3600),
    ("manualFanSpeed", NUM, V("2.12"), None, 0, 100),  # v2.12 renamed the manual fan key
    ("useFallbackStratum", BOOL, V("2.12"), None, 0, 1),
    ("stratumTLS", NUM, V("2.12"), V("2.15"), 0, 2),
    ("stratumCert", STR, V("2.12"), V("2.15"), 0, 4096),
    ("fallbackStratumTLS", NUM, V("2.12"), V("2.15"), 0, 2),
    ("fallbackStratumCert", STR, V("2.12"), V("2.15"), 0, 4096),
    ("primaryPoolIndex", NUM, V("2.15"), None, 0, MAX_POOLS - 1),
    ("secondaryPoolIndex", NUM, V("2.15"), None, 0, MAX_POOLS - 1),
)
POOL_KEYS = {"stratumURL": STR, "stratumPort": NUM, "stratumUser": STR, "stratumPassword": STR,
             "stratumTLS": NUM, "stratumCert": STR, "stratumProtocol": STR,
             "stratumSuggestedDifficulty": NUM, "stratumExtranonceSubscribe": BOOL}
# Flat PATCH key -> (pool slot: 0 primary / 1 fallback, pool field).
FLAT_POOL_KEYS = {
    "stratumURL": (0, "stratumURL"), "stratumPort": (0, "stratumPort"), "stratumUser": (0, "stratumUser"),
    "stratumPassword": (0, "stratumPassword"), "stratumTLS": (0, "stratumTLS"), "stratumCert": (0, "stratumCert"),
    "stratumSuggestedDifficulty": (0, "stratumSuggestedDifficulty"),
    "stratumExtranonceSubscribe": (0, "stratumExtranonceSubscribe"),
    "fallbackStratumURL": (1, "stratumURL"), "fallbackStratumPort": (1, "stratumPort"),
    "fallbackStratumUser": (1, "stratumUser"), "fallbackStratumPassword": (1, "stratumPassword"),
    "fallbackStratumTLS": (1, "stratumTLS"), "fallbackStratumCert": (1, "stratumCert"),
    "fallbackStratumSuggestedDifficulty": (1, "stratumSuggestedDifficulty"),
    "fallbackStratumExtranonceSubscribe": (1, "stratumExtranonceSubscribe"),
}

DEFAULT_POOLS = (("public-pool.io", 21496), ("solo.ckpool.org", 3333))
# The pool users' payout address: BIP-173's P2WPKH test vector, so its checksum passes (the Pools &
# wallets page checks it, docs/wallets.md). Never send coins to it: its private key is public.
WORKER_ADDR = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"


def _is_private(addr: str) -> bool:
    try:
        ip = ipaddress.IPv4Address(addr.removeprefix("::ffff:"))
    except ValueError:
        return False
    return any(ip in net for net in PRIVATE_NETS)


def _error(status: int, message: str) -> httpd.Response:
    # esp_http_server httpd_resp_send_err: the message as a text/html body.
    return httpd.Response(status, message.encode())


def _json(obj: Any, status: int = 200) -> httpd.Response:
    return httpd.Response(status, cjson_dumps(obj).encode(), content_type="application/json", headers=list(CORS))


def _empty_ok() -> httpd.Response:
    # httpd_resp_send_chunk(req, NULL, 0) with nothing sent before: chunked, zero length.
    return httpd.Response(200, b"", headers=list(CORS), chunked=True)


class BitaxeMiner(SimMiner):
    """A Bitaxe (Ultra/Supra/Gamma/Max) on one AxeOS version (model "NerdQAxe++" builds a NerdQaxeMiner)."""

    kind = "bitaxe"
    protocols = (HTTP,)
    # One hash board with one ASIC (a Hex's six are not simulated): nothing for "board_down" to take away.
    supported_conditions = frozenset({"fan_stopped", "hot", "rejecting", "pool_down"})

    def __new__(cls, spec: MinerSpec, **kwargs: Any) -> BitaxeMiner:
        # One fleet kind ("bitaxe") for both ESP-Miner lines: discovery reports both as family bitaxe.
        if cls is BitaxeMiner and is_nerd_model(spec.model):
            return super().__new__(NerdQaxeMiner)
        return super().__new__(cls)

    def __init__(self, spec: MinerSpec, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.hw = resolve_bitaxe(spec.model)
        self.version = spec.firmware_version or DEFAULT_VERSION
        if not self.version.startswith("v"):
            self.version = "v" + self.version
        self.vt = parse_version(self.version)
        if self.vt < (2, 6, 0) or self.vt >= (3, 0, 0):
            raise ValueError(f"AxeOS {self.version} is not simulated; use one of {AXEOS_VERSIONS}")
        octets = spec.ip.split(".")
        self.hostname = spec.hostname or f"bitaxe-{octets[2]}-{octets[3]}"
        self.mac_addr = self.mac("DC:DA:0C")  # an Espressif OUI, like the ESP32-S3 on the board
        # NVS settings.
        self.frequency: float = float(self.hw.default_freq)
        self.core_voltage: int = self.hw.default_mv
        self.autofanspeed = 1
        self.manual_fan = 100
        self.min_fan = 25
        self.temp_target = 60
        self.use_fallback = 0
        self.primary_index = 0
        self.secondary_index = 1
        self.paused = False
        self.settings: dict[str, Any] = {
            "ssid": "miners", "flipscreen": 0, "overheat_mode": 0, "invertscreen": 0, "invertfanpolarity": 1,
            "overclockEnabled": 0, "display": "SSD1306 (128x32)", "rotation": 0, "displayTimeout": -1,
            "statsFrequency": 0,
        }
        user = f"{WORKER_ADDR}.{self.hostname}"
        pools = spec.pools or tuple((f"{h}", user) for h, _ in DEFAULT_POOLS)
        self.pools: dict[int, dict[str, Any]] = {}
        for i, (url, pool_user) in enumerate(pools[:MAX_POOLS]):
            host, port = _split_url(url, DEFAULT_POOLS[min(i, 1)][1])
            self.pools[i] = {"stratumURL": host, "stratumPort": port, "stratumUser": pool_user,
                             "stratumPassword": "x", "stratumTLS": 0, "stratumCert": "", "stratumProtocol": "SV1",
                             "stratumSuggestedDifficulty": 1000, "stratumExtranonceSubscribe": 0}
        self.pool_difficulty = 1000
        # Per-unit silicon and sensor differences.
        self.chip_quality = self.rng.uniform(0.97, 1.02)
        self.power_bias = self.rng.uniform(0.97, 1.03)
        self.best_diff_alltime = 0.0  # NVS: survives reboots
        self.shares = ShareCounter()
        self._last_advance = self.now()

    # --- identity / physics ------------------------------------------------------
    @property
    def model(self) -> str:
        """Board name as AxeOS reports it in /api/system/asic ("Gamma")."""
        return self.hw.device

    def on_boot(self) -> None:
        """Power cycle: uptime, session shares and pause state reset; NVS settings stay."""
        super().on_boot()
        self.shares = ShareCounter()
        self._last_advance = self.now()
        self.paused = False

    def expected_ghs(self) -> float:
        """ESP-Miner's expectedHashrate for the current frequency (GH/s)."""
        return self.hw.expected_ghs(self.frequency)

    def true_ghs(self) -> float:
        """Noise-free hashrate (GH/s): proportional to frequency, 0 while paused."""
        return 0.0 if self.paused else self.expected_ghs() * self.chip_quality

    def power_w(self) -> float:
        """Noise-free board power: static part + f*V^2 part (mostly idle while paused)."""
        dyn = dynamic_power(self.hw.power_w - self.hw.static_w, self.frequency, self.hw.default_freq,
                            self.core_voltage, self.hw.default_mv) * self.power_bias
        return self.hw.static_w + (0.12 * dyn if self.paused else dyn)

    def fan_and_temp(self) -> tuple[float, float]:
        """(fan %, ASIC temperature) for the current power and fan settings ("hot": auto fan at 100 %)."""
        ratio = self.power_w() / self.hw.power_w
        if "hot" in self.conditions:
            # The reading only: ESP-Miner's own overheat mode (75 C) is not simulated, so the
            # app's protection is what acts on it.
            return (100.0 if self.autofanspeed else float(self.manual_fan)), hot_c(self.kind)
        if self.autofanspeed:
            guess = chip_temperature(self.hw.temp_c, ratio, NOMINAL_FAN_PCT, NOMINAL_FAN_PCT)
            target = self.temp_target if self.vt >= (2, 10, 0) else 60
            fan = min(max(NOMINAL_FAN_PCT + (guess - target) * 4.0, float(self.min_fan)), 100.0)
        else:
            fan = float(self.manual_fan)
        return fan, chip_temperature(self.hw.temp_c, ratio, fan, NOMINAL_FAN_PCT)

    def _advance(self) -> None:
        now = self.now()
        self.shares.advance(self.rng, now - self._last_advance, self.true_ghs() * 1e9, self.pool_difficulty,
                            reject_ratio=self.reject_ratio, now=now)
        self._last_advance = now
        self.best_diff_alltime = max(self.best_diff_alltime, self.shares.best_share)

    @property
    def on_fallback(self) -> bool:
        """Mining on the fallback pool: useFallbackStratum set, or the primary down ("pool_down")."""
        return bool(self.use_fallback) or "pool_down" in self.conditions

    def active_pool(self) -> dict[str, Any]:
        """The pool the miner is mining on (primary unless useFallbackStratum is set or the primary is down)."""
        index = self.secondary_index if self.on_fallback else self.primary_index
        return self.pools.get(index) or self.pools.get(self.primary_index) or _blank_pool()

    # --- /api/system/info ----------------------------------------------------------
    def system_info(self) -> dict[str, Any]:
        """The /api/system/info object for this firmware version."""
        self._advance()
        vt, rng, hw = self.vt, self.rng, self.hw
        true_ghs = self.true_ghs()
        power = noisy(rng, self.power_w(), 0.01)
        fan, temp = self.fan_and_temp()
        temp = temp + rng.gauss(0.0, 0.25)
        volts_mv = 5100.0 - 8.0 * power + rng.gauss(0.0, 6.0)
        primary = self.pools.get(self.primary_index) or _blank_pool()
        fallback = self.pools.get(self.secondary_index) or _blank_pool()
        best_all, best_session = self.best_diff_alltime, self.shares.best_share
        info: dict[str, Any] = {
            "power": cjson_float(power),
            "voltage": cjson_float(volts_mv),
            "current": cjson_float(power / (volts_mv / 1000.0) * 1000.0),
            "temp": cjson_float(temp),
        }
        if vt >= (2, 10, 0):  # second ASIC sensor (-1 when the board has none); exact release unverified
            info["temp2"] = -1
        info["vrTemp"] = round(AMBIENT_C + (temp - AMBIENT_C) * 0.85 + rng.gauss(0.0, 0.5))
        info["maxPower"] = hw.max_power
        info["nominalVoltage"] = 5
        info["hashRate"] = cjson_float(noisy(rng, true_ghs, 0.03))
        if vt >= (2, 12, 0):
            info["hashRate_1m"] = cjson_float(noisy(rng, true_ghs, 0.015))
            info["hashRate_10m"] = cjson_float(noisy(rng, true_ghs, 0.006))
            info["hashRate_1h"] = cjson_float(noisy(rng, true_ghs, 0.003))
        if vt >= (2, 9, 0):
            info["expectedHashrate"] = cjson_float(self.expected_ghs())
        if vt >= (2, 12, 0):
            info["errorPercentage"] = cjson_float(abs(rng.gauss(0.4, 0.1)))
        if vt < (2, 11, 0):
            # Up to v2.10 bestDiff is a suffixed string, with the raw number beside it.
            info["bestDiff"] = suffix_string(best_all)
            info["bestNonceDiff"] = int(best_all)
            info["bestSessionDiff"] = suffix_string(best_session)
            info["bestSessionNonceDiff"] = int(best_session)
        else:
            info["bestDiff"] = int(best_all)
            info["bestSessionDiff"] = int(best_session)
        info["poolDifficulty" if vt >= (2, 9, 0) else "stratumDiff"] = self.pool_difficulty
        info["isUsingFallbackStratum"] = 1 if self.on_fallback else 0
        info["isPSRAMAvailable"] = 1
        info["freeHeap"] = 160000 + rng.randrange(0, 20000, 4)
        info["coreVoltage"] = self.core_voltage
        info["coreVoltageActual"] = int(round(self.core_voltage - 8 + rng.gauss(0.0, 3.0)))
        info["frequency"] = self.frequency if vt >= (2, 12, 0) else int(self.frequency)
        if vt >= (2, 15, 0):
            info["actualFrequency"] = self.frequency
        info["ssid"] = self.settings["ssid"]
        info["macAddr"] = self.mac_addr
        info["hostname"] = self.hostname
        if vt >= (2, 9, 0):  # absent from the v2.6 API example; exact release unverified
            info["ipv4"] = self.ip
        info["wifiStatus"] = "Connected!"
        info["wifiRSSI"] = -48 - rng.randrange(0, 12)
        info["apEnabled"] = 0
        info["sharesAccepted"] = self.shares.accepted
        info["sharesRejected"] = self.shares.rejected
        info["sharesRejectedReasons"] = ([{"message": "Above target", "count": self.shares.rejected}]
                                         if self.shares.rejected else [])
        info["uptimeSeconds"] = self.uptime_s
        if vt < (2, 9, 0):
            info["asicCount"] = hw.asic_count  # moved to /api/system/asic from ~v2.9 (pyasic PR #352)
        info["smallCoreCount"] = hw.small_cores
        info["ASICModel"] = hw.asic
        info["stratumURL"] = primary["stratumURL"]
        info["stratumPort"] = primary["stratumPort"]
        info["stratumUser"] = primary["stratumUser"]
        if vt >= (2, 10, 0):
            info["stratumSuggestedDifficulty"] = primary["stratumSuggestedDifficulty"]
            info["stratumExtranonceSubscribe"] = primary["stratumExtranonceSubscribe"]
        if vt >= (2, 12, 0):
            info["stratumTLS"] = primary["stratumTLS"]
        info["fallbackStratumURL"] = fallback["stratumURL"]
        info["fallbackStratumPort"] = fallback["stratumPort"]
        info["fallbackStratumUser"] = fallback["stratumUser"]
        if vt >= (2, 10, 0):
            info["fallbackStratumSuggestedDifficulty"] = fallback["stratumSuggestedDifficulty"]
            info["fallbackStratumExtranonceSubscribe"] = fallback["stratumExtranonceSubscribe"]
        if vt >= (2, 12, 0):
            info["fallbackStratumTLS"] = fallback["stratumTLS"]
            info["responseTime"] = cjson_float(abs(rng.gauss(45.0, 8.0)))
        info["version"] = self.version
        if vt >= (2, 9, 0):  # absent from the v2.6 API example
            info["axeOSVersion"] = self.version
        info["idfVersion"] = "v5.1.2" if vt < (2, 9, 0) else ("v5.3.1" if vt < (2, 13, 0) else "v5.4.1")
        info["boardVersion"] = hw.board_version
        info["runningPartition"] = "ota_0"
        if vt < (2, 10, 0):
            info["flipscreen"] = self.settings["flipscreen"]
        info["overheat_mode"] = self.settings["overheat_mode"]
        if vt >= (2, 14, 0):
            info["miningPaused"] = self.paused
        info["overclockEnabled"] = self.settings["overclockEnabled"]
        if vt >= (2, 10, 0):
            info["display"] = self.settings["display"]
            info["rotation"] = self.settings["rotation"]
        info["invertscreen"] = self.settings["invertscreen"]
        if vt >= (2, 10, 0):
            info["displayTimeout"] = self.settings["displayTimeout"]
        info["invertfanpolarity"] = self.settings["invertfanpolarity"]
        info["autofanspeed"] = self.autofanspeed
        # Until v2.12 "fanspeed" is both the manual setting and the read-out; then only the read-out.
        info["fanspeed"] = cjson_float(fan) if vt >= (2, 12, 0) else int(round(fan))
        if vt >= (2, 12, 0):
            info["manualFanSpeed"] = self.manual_fan
        if vt >= (2, 10, 0):
            info["minFanSpeed"] = self.min_fan
            info["temptarget"] = self.temp_target
        stopped = "fan_stopped" in self.conditions  # the tach reads 0 while the PWM % stays as commanded
        info["fanrpm"] = 0 if stopped else int(max(0.0, fan * 62.0 + rng.gauss(0.0, 25.0)))
        if vt >= (2, 11, 0):
            info["fan2rpm"] = 0
        if vt >= (2, 10, 0):
            info["statsFrequency"] = self.settings["statsFrequency"]
        if vt >= (2, 11, 0):
            domains = 1 if hw.asic == "BM1397" else 4
            per_chip = true_ghs / hw.asic_count
            info["hashrateMonitor"] = {"asics": [
                {"total": cjson_float(noisy(rng, per_chip, 0.02)),
                 "domains": [cjson_float(noisy(rng, per_chip / domains, 0.04)) for _ in range(domains)],
                 "errorCount": self.shares.hw_errors}
                for _ in range(hw.asic_count)]}
        if vt >= (2, 15, 0):
            info["pools"] = [{"id": i, **{k: ("*****" if k == "stratumPassword" else v) for k, v in p.items()
                                          if k != "stratumCert"}}
                             for i, p in sorted(self.pools.items())]
            info["primaryPoolIndex"] = self.primary_index
            info["secondaryPoolIndex"] = self.secondary_index
        return info

    def system_asic(self) -> dict[str, Any]:
        """GET /api/system/asic (v2.9+): chip identity and the UI's frequency/voltage options."""
        hw = self.hw
        return {"ASICModel": hw.asic, "deviceModel": hw.device, "swarmColor": hw.swarm_color,
                "asicCount": hw.asic_count, "defaultFrequency": hw.default_freq,
                "frequencyOptions": list(hw.freq_options), "defaultVoltage": hw.default_mv,
                "voltageOptions": list(hw.volt_options)}

    # --- access rule ---------------------------------------------------------------
    def network_allowed(self, request: httpd.Request) -> bool:
        """ESP-Miner is_network_allowed: private client and private (or local-name) Origin."""
        if self.allow_any_client:
            return True
        if not _is_private(request.client_ip):
            return False
        origin = request.header("origin")
        if origin is None:
            return True  # the Origin defaults to the client address, already checked
        if not origin.startswith("http://"):
            return False
        host = origin[len("http://"):].split("/", 1)[0].split(":", 1)[0]
        if _is_private(host):
            return True
        # Newer builds also accept mDNS ".local" names, bare hostnames and the device's own name.
        try:
            ipaddress.IPv4Address(host)
            return False  # a public or loopback address
        except ValueError:
            return host.endswith(".local") or "." not in host or host == self.hostname

    # --- HTTP ----------------------------------------------------------------------
    def handle_http(self, request: httpd.Request) -> httpd.Response | object:
        """Route one request like ESP-Miner's URI handler table."""
        path = request.path
        if not path.startswith("/api/"):
            return self._static(request)
        if not self.network_allowed(request):
            return _error(401, "Unauthorized")
        method = request.method
        if method == "OPTIONS":
            return httpd.Response(200, b"", headers=list(CORS))
        routes = self._api_routes()
        handler = routes.get((method, path))
        if handler is None and path.startswith("/api/system/pools/") and self.vt >= (2, 15, 0):
            handler = routes.get((method, "/api/system/pools/*"))
        if handler is None:
            if any(p == path for _, p in routes):
                return _error(405, "Request method for this URI is not handled by server")
            return _json({"error": "unknown route"}, 404)
        return handler(request)

    def _api_routes(self) -> dict[tuple[str, str], Any]:
        vt = self.vt
        routes: dict[tuple[str, str], Any] = {
            ("GET", "/api/system/info"): lambda r: _json(self.system_info()),
            ("PATCH", "/api/system"): self._patch_settings,
            ("POST", "/api/system/restart"): self._restart,
        }
        if vt >= (2, 9, 0):
            routes[("GET", "/api/system/asic")] = lambda r: _json(self.system_asic())
        if vt >= (2, 12, 0):
            routes[("POST", "/api/system/identify")] = lambda r: _json(
                {"message": 'The device says "Hi!" for 30 seconds.'})
        if vt >= (2, 14, 0):
            routes[("POST", "/api/system/pause")] = lambda r: self._pause(True)
            routes[("POST", "/api/system/resume")] = lambda r: self._pause(False)
        if vt >= (2, 15, 0):
            routes[("PUT", "/api/system/pools/*")] = self._put_pool
            routes[("DELETE", "/api/system/pools/*")] = self._delete_pool
        return routes

    def _static(self, request: httpd.Request) -> httpd.Response:
        if request.method != "GET":
            return _error(404, "This URI does not exist")
        if request.path in ("/", "/index.html"):
            return httpd.Response(200, INDEX_GZ, content_type="text/html", chunked=True,
                                  headers=[("Content-Encoding", "gzip")])
        # rest_common_get_handler: a missing file redirects to the captive portal root.
        return httpd.Response(302, b"Redirect to the captive portal", content_type="text/plain",
                              reason="Temporary Redirect", headers=[("Location", "/")])

    def _restart(self, request: httpd.Request) -> httpd.Response:
        message = "System will restart shortly."
        if self.vt >= (2, 13, 0):
            response = _json({"message": message})
        else:
            response = httpd.Response(200, message.encode(), headers=list(CORS))
        # The firmware waits ~1 s before esp_restart(); we refuse new connections before the
        # reply goes out and drop the rest right after it, so a client that has read the
        # reply always finds the miner unreachable (deterministic for tests).
        self.stop_accepting()
        response.after = self.reboot
        return response

    def _pause(self, pause: bool) -> httpd.Response:
        self._advance()
        self.paused = pause
        return _json({"message": "Mining paused" if pause else "Mining resumed"})

    # --- settings ------------------------------------------------------------------
    def _known_settings(self) -> dict[str, tuple[str, float, float]]:
        vt = self.vt
        return {name: (kind, lo, hi) for name, kind, since, until, lo, hi in SETTINGS
                if vt >= since and (until is None or vt < until)}

    def _patch_settings(self, request: httpd.Request) -> httpd.Response:
        try:
            body = json.loads(request.body.decode("utf-8")) if request.body else None
        except (ValueError, UnicodeDecodeError):
            body = None
        if body is None:
            return _error(400, "Invalid JSON")  # cJSON_Parse failed
        if not isinstance(body, dict):
            # cJSON_GetObjectItem on a non-object finds nothing: nothing changes, 200.
            return _empty_ok()
        known = self._known_settings()
        validate = self.vt >= (2, 11, 0)  # type/range validation arrived in v2.11
        changes: dict[str, Any] = {}
        for key, value in body.items():
            if key not in known:
                continue  # unknown keys are silently ignored (the handler walks known settings only)
            kind, lo, hi = known[key]
            ok, coerced = _check(kind, value, lo, hi)
            if validate and not ok:
                return _error(400, "Wrong API input")
            if coerced is not None:
                changes[key] = coerced
        pools_update = body.get("pools") if self.vt >= (2, 15, 0) else None
        if pools_update is not None:
            parsed = _parse_pools(pools_update)
            if parsed is None:
                return _error(400, "Wrong API input")
        self._advance()
        for key, value in changes.items():
            self._apply(key, value)
        if pools_update is not None and parsed is not None:
            for pool_id, fields in parsed:
                self.pools.setdefault(pool_id, _blank_pool()).update(fields)
        return _empty_ok()

    def _apply(self, key: str, value: Any) -> None:
        if key in FLAT_POOL_KEYS:
            slot, field = FLAT_POOL_KEYS[key]
            index = self.primary_index if slot == 0 else self.secondary_index
            self.pools.setdefault(index, _blank_pool())[field] = value
        elif key == "frequency":
            self.frequency = float(value) if self.vt >= (2, 12, 0) else float(int(value))
        elif key == "coreVoltage":
            self.core_voltage = int(value)
        elif key in ("fanspeed", "manualFanSpeed"):
            self.manual_fan = int(value)
        elif key == "autofanspeed":
            self.autofanspeed = 1 if value else 0
        elif key == "minFanSpeed":
            self.min_fan = int(value)
        elif key == "temptarget":
            self.temp_target = int(value)
        elif key == "hostname":
            self.hostname = str(value)
        elif key == "useFallbackStratum":
            self.use_fallback = 1 if value else 0
        elif key == "primaryPoolIndex":
            self.primary_index = int(value)
        elif key == "secondaryPoolIndex":
            self.secondary_index = int(value)
        else:
            self.settings[key] = value

    def _pool_id(self, request: httpd.Request) -> int | None:
        tail = request.path.rsplit("/", 1)[-1]
        return int(tail) if tail.isdigit() and int(tail) < MAX_POOLS else None

    def _put_pool(self, request: httpd.Request) -> httpd.Response:
        pool_id = self._pool_id(request)
        if pool_id is None:
            return _error(400, "Wrong API input")
        try:
            body = json.loads(request.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return _error(400, "Invalid JSON")
        parsed = _parse_pools([{**body, "id": pool_id}] if isinstance(body, dict) else None)
        if parsed is None:
            return _error(400, "Wrong API input")
        self.pools.setdefault(pool_id, _blank_pool()).update(parsed[0][1])
        return _empty_ok()

    def _delete_pool(self, request: httpd.Request) -> httpd.Response:
        pool_id = self._pool_id(request)
        if pool_id is None or pool_id not in self.pools:
            return _error(400, "Wrong API input")
        del self.pools[pool_id]
        return _empty_ok()

    def malformed_http(self, request: httpd.Request, response: httpd.Response) -> httpd.Response:
        """Under the "malformed" fault JSON bodies arrive cut in half (a crashed or starved HTTP task)."""
        if response.content_type == "application/json" and len(response.body) > 8:
            response.body = response.body[: len(response.body) // 2]
        return response


def _check(kind: str, value: Any, lo: float, hi: float) -> tuple[bool, Any]:
    """(valid per v2.11+ rules, value as older builds would store it or None to skip)."""
    if kind == STR:
        if not isinstance(value, str):
            return False, None  # item->valuestring is NULL: older builds stored nothing
        return lo <= len(value) <= hi, value
    if kind == BOOL:
        if isinstance(value, bool):
            return True, int(value)
        if isinstance(value, (int, float)):
            return lo <= value <= hi, 1 if value else 0
        return False, 0
    # Numbers: older builds stored item->valueint, which is 0 for a string.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False, 0
    return lo <= value <= hi, value


def _parse_pools(value: Any) -> list[tuple[int, dict[str, Any]]] | None:
    if not isinstance(value, list):
        return None
    out = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("id"), int) or not 0 <= item["id"] < MAX_POOLS:
            return None
        fields = {}
        for key, kind in POOL_KEYS.items():
            if key in item:
                ok, coerced = _check(kind, item[key], 0, 4294967295 if kind == NUM else 4096)
                if not ok:
                    return None
                fields[key] = coerced
        out.append((item["id"], fields))
    return out


def _blank_pool() -> dict[str, Any]:
    return {"stratumURL": "", "stratumPort": 0, "stratumUser": "", "stratumPassword": "", "stratumTLS": 0,
            "stratumCert": "", "stratumProtocol": "SV1", "stratumSuggestedDifficulty": 1000,
            "stratumExtranonceSubscribe": 0}


def _split_url(url: str, default_port: int) -> tuple[str, int]:
    """"stratum+tcp://host:3333" or "host" -> ("host", 3333): AxeOS stores host and port apart."""
    rest = url.split("://", 1)[-1].split("/", 1)[0]
    host, sep, port = rest.rpartition(":")
    if sep and port.isdigit():
        return host, int(port)
    return rest, default_port


# --- NerdQAxe++ on NerdOS (shufps/ESP-Miner-NerdQAxePlus) ---------------------------------------------
def is_nerd_model(model: str | None) -> bool:
    """True for the NerdOS boards the simulator knows ("NerdQAxe++")."""
    return isinstance(model, str) and model.strip().lower().replace(" ", "") in ("nerdqaxe++", "nerdqaxepp")


NERD_DEFAULT_VERSION = "v1.1.0-beta1"  # the recorded NerdQAxe++ capture (ESP-Miner issue #1769)
# main/boards/nerdqaxeplus2.cpp: 4x BM1370, 600 MHz / 1150 mV default, maxPin 100 W, 11-13 V input.
# /api/system/asic options and absMax values: the recorded NerdQAxe++ reply (v1.1.0-beta1).
NERD_FREQ_OPTIONS = (500, 515, 525, 550, 575, 590, 600)
NERD_VOLT_OPTIONS = (1120, 1130, 1140, 1150, 1160, 1170, 1180, 1190, 1200)
NERD_ABS_MAX_MHZ, NERD_ABS_MAX_MV = 800, 1400
NERD_SMALL_CORES, NERD_ASICS = 2040, 4
NERD_POWER_W, NERD_STATIC_W, NERD_TEMP_C = 91.0, 8.0, 58.0  # recorded: 103 W, 59.9 C at 680 MHz
OTP_FAIL_LIMIT, OTP_WINDOW_S, OTP_BLOCK_S = 5, 60.0, 300.0  # http_utils.cpp rateLimit()
NERD_HW = BitaxeModel("BM1370", "NerdQAxe++", "", NERD_SMALL_CORES, NERD_ASICS, 600, NERD_FREQ_OPTIONS, 1150,
                      NERD_VOLT_OPTIONS, NERD_POWER_W, NERD_STATIC_W, NERD_TEMP_C, 100, "#e700d8")


def _compact(obj: Any, status: int = 200) -> httpd.Response:
    # NerdOS serialises with ArduinoJson serializeJson(): compact, no whitespace.
    return httpd.Response(status, json.dumps(obj, separators=(",", ":")).encode(), content_type="application/json",
                          headers=list(CORS))


class NerdQaxeMiner(BitaxeMiner):
    """A NerdQAxe++ on NerdOS: its own /api/system/info field set, shutdown, optional TOTP on writes.

    Follows main/http_server/handler_system.cpp (GET_system_info, PATCH_update_settings,
    GET_system_asic), handler_shutdown.cpp, http_utils.cpp (validateOTP) and docs/API.md.
    ``shut_down`` is the NerdOS shutdown flag (``shutdown`` is SimMiner's close method).
    ``otp_enabled`` (tests) makes every write need header ``X-TOTP: <totp_code>``:
    otherwise 401 "OTP/Session required"; 5 failures in 60 s block writes for 5 min.
    Not verified: the restart reply text (AxeOS's is used) and whether shutdown checks
    OTP (docs/API.md says it does; handler_shutdown.cpp @ 1936779 has the check commented out).
    """

    supported_conditions = frozenset({"fan_stopped", "hot", "rejecting"})

    def __init__(self, spec: MinerSpec, **kwargs: Any) -> None:  # noqa: D107 - SimMiner's, not BitaxeMiner's
        SimMiner.__init__(self, spec, **kwargs)
        self.hw = NERD_HW  # the same catalogue shape as a Bitaxe (the CLI lists hw.device / hw.asic)
        self.version = spec.firmware_version or NERD_DEFAULT_VERSION
        octets = spec.ip.split(".")
        self.hostname = spec.hostname or f"qaxe-{octets[2]}-{octets[3]}"
        self.mac_addr = self.mac("AC:A7:04")
        self.frequency: float = 600.0
        self.core_voltage: int = 1150
        self.shut_down = False
        self.paused = False  # AxeOS attribute kept for tests that read it on every Bitaxe
        self.otp_enabled = False
        self.totp_code = "246810"
        self._otp_failures: list[float] = []
        self._otp_blocked_until = 0.0
        self.settings: dict[str, Any] = {
            "ssid": "miners", "jobInterval": 500, "stratumDifficulty": 1000, "overheat_temp": 70, "flipscreen": 0,
            "invertscreen": 0, "autoscreenoff": 1, "invertfanpolarity": 0, "autofanspeed": 2, "manualFanSpeed": 100,
            "stratum_keep": 1, "pidTargetTemp": 60, "pidP": 6.0, "pidI": 0.1, "pidD": 10.0, "vrFrequency": 25011,
        }
        user = f"{WORKER_ADDR}.{self.hostname}"
        pools = spec.pools or tuple((h, user) for h, _ in DEFAULT_POOLS)
        self.flat_pools: list[dict[str, Any]] = []
        for i, (url, pool_user) in enumerate(list(pools)[:2]):
            host, port = _split_url(url, DEFAULT_POOLS[min(i, 1)][1])
            self.flat_pools.append({"URL": host, "Port": port, "User": pool_user, "Password": "x"})
        while len(self.flat_pools) < 2:
            self.flat_pools.append({"URL": "", "Port": 0, "User": "", "Password": ""})
        self.pool_difficulty = 16384
        self.chip_quality = self.rng.uniform(0.97, 1.02)
        self.power_bias = self.rng.uniform(0.97, 1.03)
        self.best_diff_alltime = 0.0
        self.shares = ShareCounter()
        self._last_advance = self.now()

    # --- identity / physics ---------------------------------------------------------------
    @property
    def model(self) -> str:
        """deviceModel as NerdOS reports it."""
        return "NerdQAxe++"

    def on_boot(self) -> None:
        """Restart: the only way out of shutdown; NVS settings stay."""
        SimMiner.on_boot(self)
        self.shares = ShareCounter()
        self._last_advance = self.now()
        self.shut_down = False

    def expected_ghs(self) -> float:
        """smallCoreCount x asicCount x frequency / 1000 (GH/s)."""
        return NERD_SMALL_CORES * NERD_ASICS * self.frequency / 1000.0

    def true_ghs(self) -> float:
        """0 while shut down (NerdOS forces the hashrates to 0 then)."""
        return 0.0 if self.shut_down else self.expected_ghs() * self.chip_quality

    def power_w(self) -> float:
        """Static part plus f*V^2; the ASIC rail is off while shut down."""
        dyn = dynamic_power(NERD_POWER_W - NERD_STATIC_W, self.frequency, 600.0, self.core_voltage, 1150)
        return NERD_STATIC_W + (0.0 if self.shut_down else dyn * self.power_bias)

    def _advance(self) -> None:
        now = self.now()
        self.shares.advance(self.rng, now - self._last_advance, self.true_ghs() * 1e9, self.pool_difficulty,
                            reject_ratio=self.reject_ratio, now=now)
        self._last_advance = now
        self.best_diff_alltime = max(self.best_diff_alltime, self.shares.best_share)

    # --- replies -----------------------------------------------------------------------------
    def system_info(self) -> dict[str, Any]:
        """GET /api/system/info in handler_system.cpp's field order (recorded NerdQAxe++ capture)."""
        self._advance()
        rng = self.rng
        ghs = self.true_ghs()
        power = noisy(rng, self.power_w(), 0.01)
        ratio = self.power_w() / NERD_POWER_W
        temp = chip_temperature(NERD_TEMP_C, ratio, 54.0, 54.0) + rng.gauss(0.0, 0.3)
        if "hot" in self.conditions:
            temp = hot_c(self.kind) + rng.gauss(0.0, 0.3)
        volts_mv = 12250.0 + rng.gauss(0.0, 20.0)
        current_ma = power / (volts_mv / 1000.0) * 1000.0
        fan = 0.0 if self.shut_down else min(100.0, max(30.0, 54.0 + (temp - 60.0) * 3.0))
        rpm_factor = 0.0 if "fan_stopped" in self.conditions else 1.0  # tachometers read 0, PWM as commanded
        primary, fallback = self.flat_pools
        r3 = lambda v: round(v, 3)  # noqa: E731 - ArduinoJson prints floats at up to 9 digits
        hashrates = {k: (0.0 if self.shut_down else r3(noisy(rng, ghs, w)))
                     for k, w in (("hashRate", 0.03), ("hashRate_1m", 0.015), ("hashRate_10m", 0.006),
                                  ("hashRate_1h", 0.003), ("hashRate_1d", 0.002))}
        info: dict[str, Any] = {
            "asicCount": NERD_ASICS, "smallCoreCount": NERD_SMALL_CORES, "deviceModel": "NerdQAxe++",
            "hostip": self.ip, "macAddr": self.mac_addr, "wifiRSSI": -60 - rng.randrange(0, 8),
            "power": r3(power), "maxPower": 100, "minPower": 52, "maxVoltage": 13, "minVoltage": 11,
            "current": r3(current_ma), "currentA": r3(current_ma / 1000.0), "minCurrentA": 0, "maxCurrentA": 8,
            "temp": r3(temp), "vrTemp": r3(temp - 4.0), "vrTempInt": r3(temp - 1.0),
            "hashRateTimestamp": int(self.now() * 1000), **hashrates,
            "coreVoltage": self.core_voltage, "defaultCoreVoltage": 1150,
            "coreVoltageActual": 0 if self.shut_down else self.core_voltage,
            "fanspeed": int(fan), "manualFanSpeed": self.settings["manualFanSpeed"],
            "fanrpm": int(fan * 33 * rpm_factor), "fanrpm2": int(fan * 29 * rpm_factor), "fanspeed2": 40, "fanCount": 2,
            "lastpingrtt": r3(abs(rng.gauss(1.3, 0.2))), "recentpingloss": 0, "shutdown": self.shut_down,
            "duplicateHWNonces": 0,
            "stratum": {"poolMode": 0, "activePoolMode": 0, "poolBalance": 50,
                        "totalBestDiff": int(self.best_diff_alltime), "usingFallback": False,
                        "pools": [{"connected": not self.shut_down, "verifyBlocked": "",
                                   "poolDifficulty": self.pool_difficulty, "networkDifficulty": 124932866000000,
                                   "poolDiffErr": False, "accepted": self.shares.accepted,
                                   "rejected": self.shares.rejected, "pingRtt": 1.3, "pingLoss": 0,
                                   "bestDiff": int(self.shares.best_share), "activeProtocol": 0,
                                   "encrypted": False}]},
            "poolDifficulty": self.pool_difficulty, "networkDifficulty": 124932866000000, "foundBlocks": 0,
            "totalFoundBlocks": 0, "sharesAccepted": self.shares.accepted, "sharesRejected": self.shares.rejected,
            "bestDiff": int(self.best_diff_alltime), "bestSessionDiff": int(self.shares.best_share),
            # BM1370 chip temperatures are not read on this board (the capture shows zeros).
            "asicTemps": [0] * NERD_ASICS,
            "pidTargetTemp": self.settings["pidTargetTemp"], "pidP": self.settings["pidP"],
            "pidI": self.settings["pidI"], "pidD": self.settings["pidD"],
            "hostname": self.hostname, "ssid": self.settings["ssid"],
            "stratumURL": primary["URL"], "stratumPort": primary["Port"], "stratumUser": primary["User"],
            "stratumEnonceSubscribe": True, "stratumTLS": False,
            "fallbackStratumURL": fallback["URL"], "fallbackStratumPort": fallback["Port"],
            "fallbackStratumUser": fallback["User"], "fallbackStratumEnonceSubscribe": True,
            "fallbackStratumTLS": False,
            "voltage": r3(volts_mv), "frequency": int(self.frequency), "defaultFrequency": 600,
            "jobInterval": self.settings["jobInterval"], "stratumDifficulty": self.settings["stratumDifficulty"],
            "overheat_temp": self.settings["overheat_temp"], "flipscreen": self.settings["flipscreen"],
            "invertscreen": self.settings["invertscreen"], "autoscreenoff": self.settings["autoscreenoff"],
            "invertfanpolarity": self.settings["invertfanpolarity"], "autofanspeed": self.settings["autofanspeed"],
            "stratum_keep": self.settings["stratum_keep"], "vrFrequency": self.settings["vrFrequency"],
            "defaultVrFrequency": 25011, "otp": self.otp_enabled, "ASICModel": "BM1370",
            "uptimeSeconds": self.uptime_s, "lastResetReason": "SYSTEM.RESET_SOFTWARE",
            "wifiStatus": "WiFi Connected!", "freeHeap": 6890556 - rng.randrange(0, 20000),
            "freeHeapInt": 148248 - rng.randrange(0, 4000), "version": self.version, "runningPartition": "ota_0",
            "defaultTheme": "cosmic",
        }
        return info

    def system_asic(self) -> dict[str, Any]:
        """GET /api/system/asic (recorded NerdQAxe++ reply: ecoFrequency/ecoVoltage 0 = not set)."""
        return {"ASICModel": "BM1370", "deviceModel": "NerdQAxe++", "asicCount": NERD_ASICS,
                "defaultFrequency": 600, "defaultVoltage": 1150, "absMaxFrequency": NERD_ABS_MAX_MHZ,
                "absMaxVoltage": NERD_ABS_MAX_MV, "ecoFrequency": 0, "ecoVoltage": 0, "swarmColor": "#e700d8",
                "frequencyOptions": list(NERD_FREQ_OPTIONS), "voltageOptions": list(NERD_VOLT_OPTIONS)}

    # --- access ------------------------------------------------------------------------------------
    def network_allowed(self, request: httpd.Request) -> bool:
        """NerdOS: RFC 1918 clients, localhost and .local names (docs/API.md)."""
        if self.allow_any_client or _is_private(request.client_ip):
            return True
        try:
            return ipaddress.IPv4Address(request.client_ip.removeprefix("::ffff:")).is_loopback
        except ValueError:
            return False

    def _otp_refusal(self, request: httpd.Request) -> httpd.Response | None:
        """http_utils.cpp validateOTP(): None when the write may go ahead, else the 401 reply."""
        now = self.now()
        if now < self._otp_blocked_until:
            return _error(401, "blocked for 5 minutes")
        if not self.otp_enabled or request.header("x-totp") == self.totp_code:
            return None
        self._otp_failures = [t for t in self._otp_failures if now - t < OTP_WINDOW_S] + [now]
        if len(self._otp_failures) >= OTP_FAIL_LIMIT:
            self._otp_blocked_until, self._otp_failures = now + OTP_BLOCK_S, []
        return _error(401, "OTP/Session required")

    def handle_http(self, request: httpd.Request) -> httpd.Response | object:
        """NerdOS's legacy v1 routes (the ones the driver uses) plus /api/v2/otp/status."""
        path, method = request.path, request.method
        if not path.startswith("/api/"):
            return self._static(request)
        if not self.network_allowed(request):
            return _error(401, "Unauthorized")
        if method == "OPTIONS":
            return httpd.Response(200, b"", headers=list(CORS))
        if (method, path) == ("GET", "/api/system/info"):
            return _compact(self.system_info())
        if (method, path) == ("GET", "/api/system/asic"):
            return _compact(self.system_asic())
        if (method, path) == ("GET", "/api/v2/otp/status"):
            return _compact({"enabled": self.otp_enabled})
        if (method, path) in (("PATCH", "/api/system"), ("POST", "/api/system/restart"),
                              ("POST", "/api/system/shutdown")):
            refusal = self._otp_refusal(request)
            if refusal is not None:
                return refusal
            if method == "PATCH":
                return self._nerd_patch(request)
            return self._restart(request) if path.endswith("restart") else self._shutdown()
        return _error(404, "Not Found")

    def _shutdown(self) -> httpd.Response:
        # handler_shutdown.cpp: plain-text reply, then POWER_MANAGEMENT_MODULE.shutdown().
        response = httpd.Response(200, b"System will shutdown shortly.", headers=list(CORS))

        def go() -> None:
            self._advance()
            self.shut_down = True

        response.after = go
        return response

    def _restart(self, request: httpd.Request) -> httpd.Response:
        response = httpd.Response(200, b"System will restart shortly.", headers=list(CORS))
        self.stop_accepting()
        response.after = self.reboot
        return response

    def _nerd_patch(self, request: httpd.Request) -> httpd.Response:
        """PATCH_update_settings: typed keys only (ArduinoJson is<uint16_t>()), unknown keys ignored, empty 200."""
        try:
            body = json.loads(request.body.decode("utf-8")) if request.body else None
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return _error(400, "Invalid JSON")
        self._advance()

        def u16(key: str) -> int | None:
            value = body.get(key)
            ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 65535
            return value if ok else None

        if (freq := u16("frequency")) and freq > 0:
            self.frequency = float(min(freq, NERD_ABS_MAX_MHZ))  # Board::loadSettings clamps to absMax
        if (volt := u16("coreVoltage")) and volt > 0:
            self.core_voltage = min(volt, NERD_ABS_MAX_MV)
        for key in ("jobInterval", "overheat_temp", "autofanspeed", "manualFanSpeed", "pidTargetTemp"):
            if (value := u16(key)) is not None:
                self.settings[key] = value
        for key in ("ssid", "hostname"):
            if isinstance(body.get(key), str):
                if key == "hostname":
                    self.hostname = body[key]
                else:
                    self.settings[key] = body[key]
        for index, prefix in enumerate(("stratum", "fallbackStratum")):  # StratumManager::saveSettings
            pool = self.flat_pools[index]
            for field, kind in (("URL", str), ("User", str), ("Password", str), ("Port", int)):
                value = body.get(prefix + field)
                if isinstance(value, kind) and not isinstance(value, bool):
                    pool[field] = value
        return _empty_ok()
