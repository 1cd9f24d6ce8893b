"""ProfitabilityService against a loopback HTTP server playing mempool.space: refresh, backoff, stale fallback, close.

The server (127.0.0.1, port 0) serves the documented samples of tests/fixtures/profitability.
"""

from __future__ import annotations

import http.server
import os
import threading
import time
from pathlib import Path

import pytest

from services.config import ConfigError, load_config
from services.profitability import NetworkFigures, ProfitabilityConfig, ProfitabilityService
from services.profitability.hashprice import HASHES_PER_TH_DAY

FIXTURES = Path(__file__).parent / "fixtures" / "profitability"
T0 = 1_750_000_000.0

# What the fixtures add up to: difficulty 31251101365711.12, height 698767 (6.25 BTC), fees 0.1311748254 BTC
# a block, BTC 43753 USD, 2 % pool fee.
FIXTURE_HASHPRICE = HASHES_PER_TH_DAY / (31251101365711.12 * 2**32) * (6.25 + 0.1311748254) * 43753 * 0.98


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class MempoolStub:
    """A loopback mempool.space: ``mode`` "ok", "fail" (HTTP 503), "hang" (answers after 3 s) or "garbage"."""

    ROUTES = {
        "/api/v1/mining/hashrate/3d": "hashrate_3d.json",
        "/api/blocks/tip/height": "tip_height.txt",
        "/api/v1/mining/reward-stats/100": "reward_stats_100.json",
        "/api/v1/prices": "prices.json",
    }

    def __init__(self) -> None:
        self.mode = "ok"
        self.paths: list[str] = []
        self.release = threading.Event()
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like the real site: close() must end the pooled connections
            disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed-ACK stall

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                stub.paths.append(self.path)
                if stub.mode == "hang":
                    stub.release.wait(3)
                if stub.mode == "fail":
                    self.send_error(503)
                    return
                name = stub.ROUTES.get(self.path)
                if name is None:
                    self.send_error(404)
                    return
                body = b"<html>busy</html>" if stub.mode == "garbage" else (FIXTURES / name).read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), name="mempool-stub",
                                       daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/api"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def stub():
    server = MempoolStub()
    yield server
    server.close()


def live_config(base_url: str, **kw) -> ProfitabilityConfig:
    values = {"source": "mempool", "base_url": base_url, "fee_blocks": 100, "refresh_min": 60, "timeout_sec": 1,
              **kw}
    return ProfitabilityConfig(**values)


def test_refresh_reads_the_four_endpoints_and_computes_the_hashprice(stub):
    service = ProfitabilityService(live_config(stub.base_url), clock=Clock())
    hp = service.refresh()
    service.close()
    assert sorted(stub.paths) == sorted(MempoolStub.ROUTES)
    assert hp is not None and hp.source == "mempool" and not hp.stale and hp.error is None
    assert (hp.difficulty, hp.subsidy_btc, hp.btc_price) == (31251101365711.12, 6.25, 43753)
    assert hp.fees_btc == pytest.approx(0.1311748254)
    assert hp.per_th_day == pytest.approx(FIXTURE_HASHPRICE, rel=1e-12)
    assert hp.age_sec == 0 and hp.fetched_at == T0


def test_schedule_backoff_stale_flag_and_recovery(stub):
    clock = Clock()
    service = ProfitabilityService(live_config(stub.base_url), clock=clock)
    service.maybe_refresh()  # due at once
    assert len(stub.paths) == 4
    clock.t += 59 * 60
    service.maybe_refresh()  # not due before refresh_min
    assert len(stub.paths) == 4

    stub.mode = "fail"
    clock.t = T0 + 3600
    service.maybe_refresh()
    assert len(stub.paths) == 5  # the first call failed: the others were not made
    hp = service.hashprice()
    assert hp is not None and hp.stale and hp.source == "mempool" and "HTTP 503" in hp.error
    assert hp.per_th_day == pytest.approx(FIXTURE_HASHPRICE) and hp.age_sec == 3600  # the last good value

    # Retries after 1, 2, 4, 8 ... minutes, never more often.
    calls, waits = len(stub.paths), []
    last = clock.t
    for _ in range(400):
        clock.t += 30
        service.maybe_refresh()
        if len(stub.paths) > calls:
            waits.append(clock.t - last)
            calls, last = len(stub.paths), clock.t
    assert waits[:6] == [60, 120, 240, 480, 960, 1920]
    assert max(waits) == 3600  # capped at refresh_min

    stub.mode = "ok"
    clock.t += 3600
    service.maybe_refresh()
    hp = service.hashprice()
    assert not hp.stale and hp.error is None and hp.age_sec == 0
    service.close()


def test_old_live_value_gives_way_to_the_configured_figures_then_to_none(stub):
    clock = Clock()
    net = NetworkFigures(difficulty=1.10e14, btc_price=95_000, fees_btc=0.02)
    service = ProfitabilityService(live_config(stub.base_url, network=net, max_age_hours=24), clock=clock)
    service.refresh()
    stub.mode = "fail"
    clock.t += 23 * 3600
    service.refresh()
    assert service.hashprice().source == "mempool"  # 23 h old: still the last good value, stale
    clock.t += 2 * 3600
    hp = service.hashprice()
    assert hp.source == "config" and hp.stale and "h old" in hp.error and "HTTP 503" in hp.error
    assert hp.per_th_day == pytest.approx(0.0535465540, abs=1e-10)  # the worked example's figures
    service.close()

    bare = ProfitabilityService(live_config(stub.base_url, max_age_hours=24), clock=Clock())
    assert bare.hashprice() is None  # nothing fetched, nothing configured
    status = bare.status()
    assert status["hashprice"] is None and "no live data yet" in status["error"]
    bare.close()


def test_before_the_first_reply_the_configured_figures_stand_in(stub):
    net = NetworkFigures(difficulty=1.10e14, btc_price=95_000, fees_btc=0.02)
    service = ProfitabilityService(live_config(stub.base_url, network=net), clock=Clock())
    hp = service.hashprice()
    assert hp.source == "config" and hp.stale and hp.error == "no mempool.space reply yet"
    assert stub.paths == []  # reading never fetches
    service.close()


def test_a_hung_server_costs_one_timeout_and_is_reported(stub):
    stub.mode = "hang"
    service = ProfitabilityService(live_config(stub.base_url, timeout_sec=0.5), clock=Clock())
    started = time.monotonic()
    assert service.refresh() is None
    assert time.monotonic() - started < 2.5
    assert "ReadTimeout" in service.status()["error"]
    service.close()


def test_a_reply_that_is_not_json_is_an_error_not_a_crash(stub):
    stub.mode = "garbage"
    service = ProfitabilityService(live_config(stub.base_url), clock=Clock())
    assert service.refresh() is None
    assert "not JSON" in service.status()["error"]
    service.close()


def test_nobody_listening_is_reported():
    service = ProfitabilityService(live_config("http://127.0.0.1:9/api"), clock=Clock())
    assert service.refresh() is None
    assert "unreachable (ConnectionError)" in service.status()["error"]
    service.close()


def test_a_currency_mempool_lacks_uses_the_configured_btc_price(stub):
    cfg = live_config(stub.base_url, currency="NZD", network=NetworkFigures(btc_price=160_000))
    service = ProfitabilityService(cfg, clock=Clock())
    hp = service.refresh()
    assert "/api/v1/prices" not in stub.paths
    assert hp.btc_price == 160_000 and hp.currency == "NZD" and hp.difficulty == 31251101365711.12
    service.close()


def test_fixed_sources_never_touch_the_network(stub):
    for cfg in (ProfitabilityConfig(hashprice=0.05, base_url=stub.base_url),
                ProfitabilityConfig(network=NetworkFigures(difficulty=1.1e14, btc_price=95_000), base_url=stub.base_url),
                ProfitabilityConfig(base_url=stub.base_url)):
        service = ProfitabilityService(cfg, clock=Clock())
        service.maybe_refresh()
        service.refresh()
        service.close()
    assert stub.paths == []
    assert ProfitabilityService(ProfitabilityConfig(hashprice=0.05)).hashprice().per_th_day == pytest.approx(0.049)
    none = ProfitabilityService(ProfitabilityConfig()).status()
    assert none["hashprice"] is None and "not configured" in none["error"]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_descriptors_and_threads_come_back_after_close(stub):
    clock = Clock()
    warm = ProfitabilityService(live_config(stub.base_url), clock=clock)
    warm.refresh()
    warm.close()
    time.sleep(0.2)
    fds, threads = open_fds(), threading.active_count()
    for _ in range(5):
        service = ProfitabilityService(live_config(stub.base_url), clock=clock)
        for _ in range(3):
            service.refresh()
        service.close()
        service.close()  # twice is fine
        assert service.refresh() is not None  # closed: no fetch, the cached value
    time.sleep(0.2)
    assert open_fds() <= fds
    assert threading.active_count() <= threads
    assert len(stub.paths) == 4 + 5 * 3 * 4


@pytest.mark.parametrize("yaml_text, message", [
    ("profitability:\n  source: coingecko\n", "profitability.source: must be fixed or mempool"),
    ("profitability:\n  currency: usd\n", "profitability.currency: must be a 3-letter ISO code"),
    ("profitability:\n  source: mempool\n  currency: NZD\n", "profitability.currency: mempool.space prices BTC in"),
    ("profitability:\n  source: mempool\n  hashprice: 0.05\n", "profitability.hashprice: a fixed hashprice uses no network"),
    ("profitability:\n  pool_fee_percent: 100\n", "profitability.pool_fee_percent: must be 0 to below 100"),
    ("profitability:\n  network:\n    difficulty: -1\n", "profitability.network.difficulty: must be above 0"),
    ("profitability:\n  base_url: ftp://x\n", "profitability.base_url: must start with http"),
    ("profitability:\n  refresh_min: 1\n", "profitability.refresh_min: must be 5-1440"),
    ("profitability:\n  price: 3\n", "profitability.price: unknown key"),
])
def test_config_errors_name_the_key(tmp_path, yaml_text, message):
    path = tmp_path / "c.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load_config(path, environ={})


def test_config_defaults_and_contract_keys(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("")
    cfg = load_config(path, environ={}).profitability
    assert (cfg.source, cfg.currency, cfg.pool_fee_percent, cfg.hashprice) == ("fixed", "USD", 2.0, None)
    path.write_text("profitability:\n  hashprice: 0.052\n  currency: EUR\n  pool_fee_percent: 0\n"
                    "  network: {difficulty: 1.1e+14, btc_price: 95000, fees_btc: 0.02}\n")
    cfg = load_config(path, environ={}).profitability
    assert cfg.hashprice == 0.052 and cfg.network.difficulty == 1.1e14 and cfg.network.subsidy_btc == 3.125
    assert ProfitabilityService(cfg).hashprice().source == "config-hashprice"  # hashprice wins over network


def test_shipped_config_shows_the_defaults():
    shipped = load_config(Path(__file__).resolve().parent.parent / "config.yaml", environ={}).profitability
    assert shipped == ProfitabilityConfig()
