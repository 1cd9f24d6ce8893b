"""GET /api/wallets, /api/solo, /api/shares and /api/miners/<ip>/shares on the real app, simulated miners on 127.86.3.x.

Pool users carry real-looking payout addresses (the BIP-173/350 and Bitcoin wiki examples), a
worker suffix or none, an account name (no wallet) and a typo (a wallet flagged invalid).
"""

from __future__ import annotations

import pytest

from simulator import MinerSpec, SimFleet
from tests.integration import AUTH, add_miner, live_app

pytestmark = pytest.mark.integration

NET = "127.86.3"
SEGWIT = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
TAPROOT = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"
P2SH = "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"
TYPO = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5"  # last character changed: the checksum fails
NETWORK_DIFFICULTY = 1.2e14

SPECS = [
    MinerSpec("bitaxe", f"{NET}.10", model="Gamma", pools=(("stratum+tcp://solo.ckpool.org:3333", f"{SEGWIT}.gamma"),
                                                           ("stratum+tcp://public-pool.io:21496", f"{TAPROOT}.gamma"))),
    MinerSpec("bitaxe", f"{NET}.11", model="NerdQAxe++", pools=(("stratum+tcp://public-pool.io:21496", SEGWIT),)),
    MinerSpec("cgminer", f"{NET}.12", model="GekkoScience Compac F",
              pools=(("stratum+tcp://stratum.braiins.com:3333", "myaccount.compac"),)),
    MinerSpec("avalon", f"{NET}.13", model="Avalon Nano3s", pools=(("stratum+tcp://eusolo.ckpool.org:3333", f"{P2SH}_nano"),)),
    MinerSpec("bitaxe", f"{NET}.14", model="Gamma", pools=(("stratum+tcp://solo.ckpool.org:3333", f"{TYPO}.oops"),)),
]
FAMILIES = {f"{NET}.10": "bitaxe", f"{NET}.11": "bitaxe", f"{NET}.12": "cgminer", f"{NET}.13": "avalon",
            f"{NET}.14": "bitaxe"}


@pytest.fixture(scope="module")
def sim():
    with SimFleet(SPECS, allow_any_client=True, seed=3) as fleet:  # AxeOS answers private ranges only otherwise
        yield fleet


@pytest.fixture
def live(tmp_path, sim):
    with live_app(tmp_path, f"{NET}.0/24", sim.port_offset,
                  solo={"network_difficulty": NETWORK_DIFFICULTY}) as app:
        for ip, family in FAMILIES.items():
            add_miner(app.client, ip, family)
        app.runtime.fleet.poll_round()
        yield app


def test_wallets_contract_and_grouping(live):
    client = live.client
    miners = {m["ip"]: m for m in client.get("/api/miners").get_json()}
    assert all(m["online"] for m in miners.values()), {ip: m["last_error"] for ip, m in miners.items()}
    reply = client.get("/api/wallets")
    assert reply.status_code == 200
    wallets = reply.get_json()
    for wallet in wallets:  # the contract's names and types
        assert {"address", "valid", "miners", "hashrate_hs"} <= set(wallet)
        assert isinstance(wallet["valid"], bool) and isinstance(wallet["hashrate_hs"], float)
    by_address = {w["address"]: w for w in wallets}
    assert set(by_address) == {SEGWIT, TAPROOT, P2SH, TYPO}  # the account name has no wallet
    segwit = by_address[SEGWIT]
    assert segwit["valid"] and segwit["kind"] == "p2wpkh" and segwit["network"] == "mainnet"
    assert segwit["miners"] == [f"{NET}.10", f"{NET}.11"]
    assert segwit["hashrate_hs"] == pytest.approx(miners[f"{NET}.10"]["hashrate_hs"] + miners[f"{NET}.11"]["hashrate_hs"])
    assert segwit["workers"] == {f"{NET}.10": "gamma"}
    assert segwit["solo"] is True and by_address[P2SH]["solo"] is True
    assert by_address[TAPROOT]["miners"] == [] and by_address[TAPROOT]["backup_miners"] == [f"{NET}.10"]
    assert by_address[P2SH]["kind"] == "p2sh" and by_address[P2SH]["workers"] == {f"{NET}.13": "nano"}
    typo = by_address[TYPO]
    assert typo["valid"] is False and "checksum" in typo["error"] and typo["miners"] == [f"{NET}.14"]
    rates = [w["hashrate_hs"] for w in wallets]
    assert rates == sorted(rates, reverse=True) and rates[0] > 0  # the biggest hashrate first


def test_solo_report(live):
    report = live.client.get("/api/solo").get_json()
    assert report["network_difficulty"] == {"value": NETWORK_DIFFICULTY, "source": "solo.network_difficulty",
                                            "age_sec": None, "error": None}
    rows = {r["ip"]: r for r in report["miners"]}
    assert {ip for ip, r in rows.items() if r["solo"]} == {f"{NET}.10", f"{NET}.11", f"{NET}.13", f"{NET}.14"}
    gamma = rows[f"{NET}.10"]
    assert gamma["hashrate_hs"] > 0 and gamma["best_session_difficulty"] is not None
    assert gamma["expected_block_s"] == pytest.approx(NETWORK_DIFFICULTY * 2**32 / gamma["hashrate_hs"])
    assert 0 < gamma["chance_per_day"] < 1e-3
    assert rows[f"{NET}.12"]["expected_block_s"] is None  # a pooled miner: no solo odds
    assert rows[f"{NET}.14"]["address_valid"] is False
    assert report["solo"]["miners"] == 4


def test_shares_per_miner_and_pool(live, sim):
    client, runtime = live.client, live.runtime
    for _ in range(3):
        runtime.fleet.poll_round()
    runtime.history.flush(final=True)  # the open buckets too: one row per miner and pool
    runtime.fleet.poll_round()
    reply = client.get("/api/shares?range=1h")
    assert reply.status_code == 200
    body = reply.get_json()
    assert body["range"] == "1h"
    rows = {m["ip"]: m for m in body["miners"]}
    # The AxeOS simulators count shares from their start; a pool that never got a share has no rows yet.
    assert {f"{NET}.10", f"{NET}.11", f"{NET}.14"} <= set(rows) <= set(FAMILIES)
    gamma = rows[f"{NET}.10"]
    assert [(p["url"], p["user"]) for p in gamma["pools"]] == [("stratum+tcp://solo.ckpool.org:3333", f"{SEGWIT}.gamma")]
    detail = client.get(f"/api/miners/{NET}.10").get_json()
    # Counted from the value the flush wrote (its 5-minute row) to the last poll's counter.
    record = runtime.fleet.get(f"{NET}.10")
    with runtime.db.read() as conn:
        written = conn.execute("SELECT accepted FROM shares_5m WHERE ((id >> 16) & 1048575) = ? ORDER BY id DESC",
                               (record.id,)).fetchone()[0]
    assert gamma["accepted"] == detail["shares_accepted"] - written >= 0
    assert gamma["reject_pct"] is None or 0 <= gamma["reject_pct"] <= 100
    chart = client.get(f"/api/miners/{NET}.10/shares?range=6h").get_json()
    assert chart["ip"] == f"{NET}.10" and chart["bucket_s"] % 300 == 0 and len(chart["ts"]) >= 1
    pool = chart["pools"][0]
    assert pool["url"] == "stratum+tcp://solo.ckpool.org:3333" and len(pool["accepted"]) == len(chart["ts"])
    assert pool["total_accepted"] == sum(pool["accepted"])


def test_errors(live):
    client = live.client
    assert client.get("/api/shares?range=2y").status_code == 400
    assert client.get(f"/api/miners/{NET}.99/shares").status_code == 404
    assert client.get("/api/miners/not-an-ip/shares").status_code == 400
    assert client.post("/api/wallets", headers=AUTH).status_code == 405


def test_reads_follow_the_read_guard(tmp_path, sim):
    with live_app(tmp_path, f"{NET}.0/24", sim.port_offset, security={"reads_require_login": True}) as app:
        for path in ("/api/wallets", "/api/solo", "/api/shares", f"/api/miners/{NET}.10/shares"):
            assert app.client.get(path).status_code == 401, path
            assert app.client.get(path, headers=AUTH).status_code in (200, 404), path


def test_best_share_survives_a_cgminer_restart(live, sim):
    """An Avalon keeps only the session's best: the controller's record keeps it across a restart."""
    from tests.integration import wait_for

    ip = f"{NET}.13"
    client, runtime = live.client, live.runtime
    sim.call(lambda: setattr(sim.miner(ip), "best_session_diff", 7.5e11))
    runtime.fleet.poll_round()
    row = next(r for r in client.get("/api/solo").get_json()["miners"] if r["ip"] == ip)
    assert row["best_difficulty"] is None and row["best_session_difficulty"] == pytest.approx(7.5e11, rel=1e-3)
    assert row["best_ever"] == pytest.approx(7.5e11, rel=1e-3) and row["best_ever_since"] is not None
    sim.restart(ip, seconds=0.3)

    def restarted():
        runtime.fleet.poll_round()
        found = next(r for r in client.get("/api/solo").get_json()["miners"] if r["ip"] == ip)
        return found if found["online"] and (found["best_session_difficulty"] or 0) < 7.5e11 else None

    after = wait_for(restarted, timeout=15, message="the simulated Avalon did not come back with a new session")
    assert after["best_ever"] == pytest.approx(7.5e11, rel=1e-3)  # kept by the controller
    assert after["best_vs_network"] == pytest.approx(7.5e11 / NETWORK_DIFFICULTY, rel=1e-3)


def test_a_wallet_shows_its_miners_best_share(live, sim):
    sim.call(lambda: setattr(sim.miner(f"{NET}.11"), "best_session_diff", 3.3e12))
    live.runtime.fleet.poll_round()
    wallets = {w["address"]: w for w in live.client.get("/api/wallets").get_json()}
    assert wallets[SEGWIT]["best_difficulty"] == pytest.approx(3.3e12, rel=1e-3)  # the NerdQAxe's new best
    assert wallets[TYPO]["best_difficulty"] < 3.3e12
