"""Solo mining: the odds maths, which pools are solo, the solo config, and the network difficulty's sources.

The fetch tests serve the difficulty from a loopback HTTP server on 127.86.3.1 (the Pools &
wallets range, docs/contracts.md).
"""

from __future__ import annotations

import http.server
import math
import os
import threading
from types import SimpleNamespace

import pytest
import yaml

from miners.base import MinerStatus, PoolStatus
from services.config import ConfigError, load_config
from services.solo.config import SoloConfig
from services.solo.difficulty import DifficultyError, DifficultySource, parse_difficulty
from services.solo.odds import chance_within, expected_seconds, is_solo_pool, pool_host_port
from services.solo.report import solo_report

HOST = "127.86.3.1"


# --- maths -------------------------------------------------------------------------------------
def test_expected_time_worked_examples():
    # A Bitaxe Gamma (1.2 TH/s) at difficulty 1.0e14: 1e14 x 4,294,967,296 / 1.2e12
    # = 357,913,941,333 s, 11,341.6 years of 365.25 days; its chance in a day 86,400 / 3.579e11 = 2.414e-7.
    t = expected_seconds(1.0e14, 1.2e12)
    assert t == pytest.approx(357_913_941_333.3, rel=1e-12)
    assert t / (365.25 * 86400) == pytest.approx(11_341.6, abs=0.1)
    assert chance_within(86400, 1.0e14, 1.2e12) == pytest.approx(2.41399e-7, rel=1e-5)
    # An S19 (95 TH/s) at 1.1e14: 4.9731e9 s (157.6 years); a year: 1 - e^(-1/157.6) = 0.63 %.
    assert expected_seconds(1.1e14, 95e12) == pytest.approx(4.97312e9, rel=1e-5)
    assert chance_within(365.25 * 86400, 1.1e14, 95e12) == pytest.approx(1 - math.exp(-1 / 157.59), rel=1e-3)
    # At the mean time to a block the chance is 1 - 1/e, whatever the numbers.
    assert chance_within(t, 1.0e14, 1.2e12) == pytest.approx(1 - math.exp(-1))


@pytest.mark.parametrize("difficulty,hashrate", [(None, 1e12), (0, 1e12), (1e14, 0), (1e14, None), (-1, 1e12)])
def test_no_odds_without_a_positive_hashrate_and_difficulty(difficulty, hashrate):
    assert expected_seconds(difficulty, hashrate) is None
    assert chance_within(86400, difficulty, hashrate) is None


# --- solo pools --------------------------------------------------------------------------------
@pytest.mark.parametrize("url", [
    "stratum+tcp://solo.ckpool.org:3333", "solo.ckpool.org:3333", "stratum+tcp://eusolo.ckpool.org:3333",
    "stratum+tcp://ausolo.ckpool.org:3333", "stratum+tcp://solo6.ckpool.org:3333", "public-pool.io:21496",
    "stratum+tcp://PUBLIC-POOL.IO:21496", "stratum+tcp://pool.nerdminer.de:3333",
    "stratum+tcp://solo.stratum.braiins.com:3333", "stratum+tcp://solo-de.solohash.co.uk:3333",
    "stratum2+tcp://public-pool.io:3336/9awtMD5KQgvRUh2yFbjVeT7b6hjipWcAsQHd6wEhgtDT9soosna",
])
def test_known_solo_pools(url):
    assert is_solo_pool(url)


@pytest.mark.parametrize("url", [
    "stratum+tcp://stratum.braiins.com:3333", "stratum+tcp://mine.ocean.xyz:3334", "stratum+tcp://btc.viabtc.io:3333",
    "stratum+tcp://ckpool.org:3333", "stratum+tcp://stratum.kano.is:3333", "stratum+tcp://notpublic-pool.io:3333",
    "", "not a url :::",
])
def test_pooled_pools_are_not_solo(url):
    assert not is_solo_pool(url)


def test_configured_solo_pools_and_exclusions():
    assert is_solo_pool("stratum+tcp://192.168.1.20:3333", extra=("192.168.1.20",))
    assert is_solo_pool("stratum+tcp://umbrel.local:2018", extra=("umbrel.local:2018",))
    assert not is_solo_pool("stratum+tcp://umbrel.local:3333", extra=("umbrel.local:2018",))  # another port
    assert not is_solo_pool("stratum+tcp://solo.ckpool.org:3333", excluded=("solo.ckpool.org",))
    assert pool_host_port("stratum+tcp://Solo.CKPool.org.:3333") == ("solo.ckpool.org", 3333)


# --- config ------------------------------------------------------------------------------------
def _load(tmp_path, solo):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"solo": solo}))
    return load_config(path, environ={})


def test_solo_config_defaults_and_values(tmp_path):
    assert _load(tmp_path, {}).solo == SoloConfig()
    cfg = _load(tmp_path, {"network_difficulty": 1.49e14, "fetch_url": "http://umbrel.local:3006/api/v1/mining/hashrate/3d",
                           "pools": ["192.168.1.20:3333"]}).solo
    assert cfg.network_difficulty == 1.49e14 and cfg.pools == ("192.168.1.20:3333",) and cfg.fetch_every_min == 60


@pytest.mark.parametrize("solo,message", [
    ({"network_difficulty": 0}, "solo.network_difficulty: must be above 0"),
    ({"network_difficulty": "1.1e14"}, "solo.network_difficulty: expected a number"),  # YAML's 1.1e14 is text
    ({"fetch_url": "ftp://x"}, "solo.fetch_url: must start with http"),
    ({"fetch_every_min": 1}, "solo.fetch_every_min: must be 5-1440"),
    ({"pools": ["a b"]}, "solo.pools: a host name"),
    ({"nope": 1}, "solo.nope: unknown key"),
])
def test_solo_config_errors_name_the_key(tmp_path, solo, message):
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, solo)


# --- network difficulty ----------------------------------------------------------------------------
@pytest.mark.parametrize("body,value", [
    ("149301205959699.9", 149301205959699.9),  # blockchain.info/q/getdifficulty style: plain text
    ('{"currentHashrate": 1e21, "currentDifficulty": 1.49e14}', 1.49e14),  # mempool /v1/mining/hashrate/3d
    ('{"chain": "main", "blocks": 900000, "difficulty": 1.2e14}', 1.2e14),  # Bitcoin Core REST chaininfo.json
    ("1.0e14\n", 1.0e14),
])
def test_parse_difficulty(body, value):
    assert parse_difficulty(body) == value


@pytest.mark.parametrize("body", ["", "null", '{"x": 1}', "-5", "0", "NaN", "true", "<html>", '{"difficulty": "abc"}'])
def test_parse_difficulty_refuses(body):
    with pytest.raises(DifficultyError):
        parse_difficulty(body)


def test_difficulty_source_order():
    hashprice = SimpleNamespace(difficulty=1.3e14, age_sec=120.0)
    assert DifficultySource(SoloConfig()).current().value is None
    assert DifficultySource(SoloConfig(), profitability=lambda: hashprice).current().to_dict() == {
        "value": 1.3e14, "source": "profitability", "age_sec": 120.0, "error": None}
    src = DifficultySource(SoloConfig(), alerts_difficulty=1.2e14, profitability=lambda: hashprice)
    assert (src.current().value, src.current().source) == (1.2e14, "alerts.network_difficulty")
    src = DifficultySource(SoloConfig(network_difficulty=1.1e14), alerts_difficulty=1.2e14)
    assert (src.current().value, src.current().source) == (1.1e14, "solo.network_difficulty")


class _Handler(http.server.BaseHTTPRequestHandler):
    replies: list[tuple[int, str]] = []
    hits = 0

    def do_GET(self):  # noqa: N802 - http.server's name
        type(self).hits += 1
        status, body = self.replies.pop(0) if self.replies else (200, "1.5e14")
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer((HOST, 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.hits, _Handler.replies = 0, []
    yield f"http://{HOST}:{httpd.server_address[1]}/difficulty"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_fetch_then_fall_back_to_config_with_backoff(server):
    clock = [1_000_000.0]
    fds, threads = _fds(), threading.active_count()
    src = DifficultySource(SoloConfig(network_difficulty=1.1e14, fetch_url=server, fetch_every_min=60, timeout_sec=2),
                           clock=lambda: clock[0])
    _Handler.replies = [(200, '{"currentDifficulty": 1.5e14}'), (500, "oops"), (200, "not a number")]
    src.maybe_refresh()
    now = src.current()
    assert (now.value, now.source, now.age_sec, now.error) == (1.5e14, "fetched", 0.0, None)
    src.maybe_refresh()  # not due: no request
    assert _Handler.hits == 1
    clock[0] += 3600
    src.maybe_refresh()  # due: HTTP 500 -> the fetched value stays, with the error
    now = src.current()
    assert now.source == "fetched" and now.age_sec == 3600 and "HTTP 500" in now.error
    clock[0] += 30
    src.maybe_refresh()  # backoff: first retry after 60 s
    assert _Handler.hits == 2
    clock[0] += 31
    src.maybe_refresh()
    assert _Handler.hits == 3 and "not a number" in src.current().error
    clock[0] += 3 * 3600  # the fetched value is now older than three intervals: the configured one is used
    now = src.current()
    assert (now.value, now.source) == (1.1e14, "solo.network_difficulty") and now.error
    src.close()
    src.close()
    # The test server closes its side of the last connection in its own handler thread: wait for it.
    from tests.integration import wait_for

    wait_for(lambda: _fds() <= fds and threading.active_count() <= threads, timeout=5,
             message=f"descriptors or threads left open: {_fds()} > {fds} or {threading.active_count()} > {threads}")


def test_no_url_never_fetches(server):
    src = DifficultySource(SoloConfig(network_difficulty=1.1e14))
    src.maybe_refresh()
    assert src.refresh() is None and _Handler.hits == 0


def test_unreachable_url_times_out_and_keeps_the_config():
    # Nothing listens on this loopback port: refused at once, never a hang.
    src = DifficultySource(SoloConfig(network_difficulty=1.1e14, fetch_url=f"http://{HOST}:9/x", timeout_sec=1))
    assert src.refresh() is None
    assert src.current().source == "solo.network_difficulty" and "ConnectionError" in src.current().error
    src.close()


# --- the report --------------------------------------------------------------------------------
ADDR = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"


def _miner(ip, url, hashrate, session, best, online=True):
    status = MinerStatus(hashrate_hs=hashrate, best_session_difficulty=session, best_difficulty=best,
                         pools=[PoolStatus(url=url, user=f"{ADDR}.{ip[-1]}", active=True, priority=0)])
    return SimpleNamespace(ip=ip, name=None, model="Gamma", status=status, online=online, enabled=True)


def test_solo_report():
    from services.solo.difficulty import NetworkDifficulty

    records = [_miner("10.0.0.2", "stratum+tcp://solo.ckpool.org:3333", 1.2e12, 5.0e9, 3.0e10),
               _miner("10.0.0.3", "stratum+tcp://stratum.braiins.com:3333", 100e12, 2.0e9, None),
               _miner("10.0.0.4", "stratum+tcp://public-pool.io:21496", 0.8e12, 2.0e14, 2.0e14)]
    report = solo_report(records, NetworkDifficulty(1.0e14, "solo.network_difficulty", None, None), SoloConfig())
    rows = {r["ip"]: r for r in report["miners"]}
    assert rows["10.0.0.2"]["solo"] and rows["10.0.0.2"]["expected_block_s"] == pytest.approx(357_913_941_333.3)
    assert rows["10.0.0.2"]["best_vs_network"] == pytest.approx(3.0e-4) and not rows["10.0.0.2"]["block_found"]
    assert not rows["10.0.0.3"]["solo"] and rows["10.0.0.3"]["expected_block_s"] is None
    assert rows["10.0.0.4"]["block_found"] and rows["10.0.0.4"]["address"] == ADDR and rows["10.0.0.4"]["address_valid"]
    solo = report["solo"]
    assert solo["miners"] == 2 and solo["hashrate_hs"] == 2.0e12 and solo["best_difficulty"] == 2.0e14
    assert solo["expected_block_s"] == pytest.approx(1.0e14 * 2**32 / 2.0e12)
    assert report["network_difficulty"]["source"] == "solo.network_difficulty"


# --- the controller's best-share record ------------------------------------------------------------
def test_best_log_keeps_a_best_across_restarts_and_process_restarts(tmp_path):
    import dataclasses

    from database.db import Database
    from services.config import StorageConfig
    from services.history import History
    from services.solo.best import BestLog

    db = Database(tmp_path / "fleet.db")
    try:
        clock = [1_000_000.0]
        history = History(db, dataclasses.replace(StorageConfig()), clock=lambda: clock[0])
        best = BestLog(db, clock=lambda: clock[0])
        history.companions.append(best)

        def miner(session, all_time=None, online=True):
            status = MinerStatus(best_session_difficulty=session, best_difficulty=all_time)
            return SimpleNamespace(id=7, ip="10.0.0.7", name=None, model=None, status=status, online=online)

        best.observe([miner(0)])  # no share yet: nothing to keep
        assert best.get(7) is None
        best.observe([miner(4.0e9)])
        clock[0] += 60
        best.observe([miner(9.5e9)])
        best.observe([miner(1.0e3)])  # the mining process restarted: its session best starts again
        best.observe([miner(5e12, online=False)])  # an offline miner's last reading is not new
        assert best.get(7) == (9.5e9, 1_000_000.0)
        history.flush(final=True)  # written with the history, in its transaction
        again = BestLog(db)  # after a restart of the controller
        assert again.get(7) == (9.5e9, 1_000_000.0)
        from services.solo.difficulty import NetworkDifficulty

        cfg, nd = SoloConfig(), NetworkDifficulty(1.0e14, "solo.network_difficulty", None, None)
        row = solo_report([miner(1.0e3)], nd, cfg, again.get)["miners"][0]
        assert (row["best_ever"], row["best_ever_since"], row["best_session_difficulty"]) == (9.5e9, 1_000_000.0, 1.0e3)
        row = solo_report([miner(1.0e3, all_time=2.0e10)], nd, cfg, again.get)["miners"][0]
        assert (row["best_ever"], row["best_ever_since"]) == (2.0e10, None)  # the firmware's own is higher
        with db.write() as conn:
            assert again.purge(conn, 0, [7]) == 1
        assert again.get(7) is None
    finally:
        db.close()
