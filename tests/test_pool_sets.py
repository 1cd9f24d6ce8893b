"""The pool library: Stratum V1/V2 URL checks, the store, the /api/pool-sets routes, passwords never shown."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from database.db import Database
from services.pool_sets import MAX_NAME, PoolSets, UnknownPoolSet, parse_pools
from services.pool_urls import check_authority_key, check_url, same_pool

# SRI spec 04-Protocol-Security.md 4.7.1 test vector, and Braiins Pool's published V2 key.
SRI_KEY = "9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXh"
BRAIINS_KEY = "u95GEReVMjK6k5YqiSFNqqTnKU4ypU2Wm8awa6tmbmDmk1bWt"
SECRET = "pool-pw-Zq81"


# --- URLs -------------------------------------------------------------------------------
@pytest.mark.parametrize("url, host, port", [
    ("stratum+tcp://pool.example.org:3333", "pool.example.org", 3333),
    ("  STRATUM+TCP://Pool.Example.org:3333 ", "pool.example.org", 3333),
    ("stratum+ssl://pool.example.org:443", "pool.example.org", 443),
    ("stratum+tls://solo.ckpool.org:3334", "solo.ckpool.org", 3334),
    ("stratum+tcp://192.168.1.20:3333", "192.168.1.20", 3333),
    ("stratum+tcp://[2001:db8::1]:3333", "2001:db8::1", 3333),
    ("stratum+tcp://umbrel.local:1", "umbrel.local", 1),
    ("stratum+tcp://pool:65535", "pool", 65535),
    (f"stratum2+tcp://thepool.com:34254/{SRI_KEY}", "thepool.com", 34254),
    (f"stratum2+tcp://v2.stratum.braiins.com:3336/{BRAIINS_KEY}", "v2.stratum.braiins.com", 3336),
    (f"stratum2+tcp://[::1]:3336/{SRI_KEY}", "::1", 3336),
])
def test_good_urls(url, host, port):
    checked = check_url(url)
    assert (checked.host, checked.port) == (host, port)
    assert (checked.key is not None) == url.strip().lower().startswith("stratum2")


@pytest.mark.parametrize("url, reason", [
    ("", "empty"),
    ("pool.example.org:3333", "must start with"),
    ("http://pool.example.org:3333", "must start with"),
    ("stratum+udp://pool.example.org:3333", "must start with"),
    ("stratum+tcp://pool.example.org", "port"),
    ("stratum+tcp://pool.example.org:0", "port"),
    ("stratum+tcp://pool.example.org:65536", "port"),
    ("stratum+tcp://pool.example.org:33a3", "port"),
    ("stratum+tcp://pool .example.org:3333", "spaces"),
    ("stratum+tcp://user:pw@pool.example.org:3333", "login"),
    ("stratum+tcp://pool.example.org:3333/path", "no path"),
    ("stratum+tcp://-pool.example.org:3333", "host"),
    ("stratum+tcp://2001:db8::1:3333", "brackets"),
    ("stratum+tcp://[2001:db8::zz]:3333", "IPv6"),
    ("stratum+tcp://[2001:db8::1]", "port"),
    ("stratum2+tcp://thepool.com:34254", "authority public key"),
    ("stratum2+tcp://thepool.com:34254/", "authority public key"),
    (f"stratum2+tcp://thepool.com/{SRI_KEY}", "port"),
    (f"stratum2+tcp://thepool.com:34254/{SRI_KEY[:-1]}X", "checksum"),  # one character off
    ("stratum2+tcp://thepool.com:34254/0OIl0OIl0OIl0OIl0OIl0OIl", "base58"),
    ("stratum+tcp://" + "a" * 250 + ".org:1", "too long"),
    (3333, "string"),
])
def test_bad_urls(url, reason):
    with pytest.raises(ValueError, match=reason):
        check_url(url)


def test_authority_key_forms():
    check_authority_key(SRI_KEY)
    check_authority_key(BRAIINS_KEY)
    # A valid base58-check string of the wrong size (a Bitcoin P2PKH address: 21 bytes).
    with pytest.raises(ValueError, match="21 bytes"):
        check_authority_key("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2")


def test_same_pool_as_firmwares_show_it():
    assert same_pool("stratum+tcp://Pool.example.org:3333", "stratum+tcp://pool.example.org:3333")
    assert same_pool("stratum+tcp://pool.example.org:3333", "pool.example.org:3333")  # no scheme shown
    assert same_pool("stratum+ssl://pool.example.org:443", "stratum+tls://pool.example.org:443")
    assert not same_pool("stratum+tcp://pool.example.org:3333", "stratum+ssl://pool.example.org:3333")
    assert not same_pool("stratum+tcp://pool.example.org:3333", "stratum+tcp://pool.example.org:3334")
    assert not same_pool("stratum+tcp://pool.example.org:3333", "stratum+tcp://other.example.org:3333")
    # BOS+ shows a V2 pool without its key; a different key is a different pool.
    v2 = f"stratum2+tcp://v2.stratum.braiins.com:3336/{BRAIINS_KEY}"
    assert same_pool(v2, "stratum2+tcp://v2.stratum.braiins.com:3336")
    assert same_pool(v2, v2)
    assert not same_pool(v2, f"stratum2+tcp://v2.stratum.braiins.com:3336/{SRI_KEY}")
    assert not same_pool(v2, "stratum+tcp://v2.stratum.braiins.com:3336")


def test_parse_pools_fields_and_limits():
    pools = parse_pools([{"url": "stratum+tcp://a.example:1", "user": " me.w1 ", "password": SECRET},
                         {"url": "stratum+tcp://b.example:2", "user": "me.w1"}])
    assert [(p.url, p.user, p.password) for p in pools] == [("stratum+tcp://a.example:1", "me.w1", SECRET),
                                                             ("stratum+tcp://b.example:2", "me.w1", "")]
    assert SECRET not in repr(pools)
    for bad, reason in (([], "1 to 3"), ([{"url": "stratum+tcp://a.example:1", "user": "u"}] * 4, "at most 3"),
                        ([{"url": "stratum+tcp://a.example:1"}], r"pools\[0\].user must be a string"),
                        ([{"url": "stratum+tcp://a.example:1", "user": ""}], "must not be empty"),
                        ([{"url": "stratum+tcp://a.example:1", "user": "a b"}], "spaces"),
                        ([{"url": "stratum+tcp://a.example:1", "user": "u", "password": 5}], "password must be"),
                        ([{"url": "stratum+tcp://a.example:1", "user": "u", "pass": "x"}], "unknown field"),
                        ([{"url": "ftp://a.example:1", "user": "u"}], r"pools\[0\].url must start"),
                        (["stratum+tcp://a.example:1"], "must be an object")):
        with pytest.raises(ValueError, match=reason):
            parse_pools(bad)


# --- the store --------------------------------------------------------------------------
def test_store_round_trip_and_password_kept_by_url(tmp_path):
    store = PoolSets(Database(tmp_path / "fleet.db"))
    made = store.create("Main", [{"url": "stratum+tcp://a.example:1", "user": "u1", "password": SECRET},
                                 {"url": "stratum+tcp://b.example:2", "user": "u2", "password": "other-pw"}])
    assert store.get(made.id) == made
    # Reordered, passwords left out: each keeps the password of its own URL, never the other's.
    changed = store.update(made.id, pools=[{"url": "stratum+tcp://b.example:2", "user": "u2b"},
                                           {"url": "stratum+tcp://a.example:1", "user": "u1", "password": None}])
    assert [p.password for p in changed.pools] == ["other-pw", SECRET]
    # A new URL without a password has none; "" clears one.
    changed = store.update(made.id, pools=[{"url": "stratum+tcp://c.example:3", "user": "u3"},
                                           {"url": "stratum+tcp://a.example:1", "user": "u1", "password": ""}])
    assert [p.password for p in changed.pools] == ["", ""]
    assert [c.password for c in changed.pool_configs()] == ["x", "x"]  # what a driver is sent then
    assert store.update(made.id, name="Renamed").pools == changed.pools
    with pytest.raises(ValueError, match="already exists"):
        store.create("renamed", [{"url": "stratum+tcp://a.example:1", "user": "u"}])  # names are case-blind
    store.delete(made.id)
    with pytest.raises(UnknownPoolSet):
        store.get(made.id)


def test_an_older_database_file_gains_the_table(tmp_path):
    path = tmp_path / "fleet.db"
    Database(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE pool_sets")  # as a file written before pool sets
    store = PoolSets(Database(path))
    assert store.list() == []
    assert store.create("After", [{"url": "stratum+tcp://a.example:1", "user": "u"}]).id == 1


# --- the API ----------------------------------------------------------------------------
BODY = {"name": "Main pools", "pools": [
    {"url": "stratum+tcp://pool.example.org:3333", "user": "bc1qexample.w1", "password": SECRET},
    {"url": f"stratum2+tcp://v2.stratum.braiins.com:3336/{BRAIINS_KEY}", "user": "me.w1"}]}


def _events(runtime) -> list[str]:
    with runtime.db.read() as conn:
        return [row["message"] for row in conn.execute("SELECT message FROM events ORDER BY id")]


def test_crud_never_shows_a_password(client, auth, runtime, caplog):
    caplog.set_level(logging.DEBUG)
    reply = client.post("/api/pool-sets", json=BODY, headers=auth)
    assert reply.status_code == 201, reply.get_json()
    made = reply.get_json()
    assert made["name"] == "Main pools" and made["id"] >= 1
    assert made["pools"] == [{"url": BODY["pools"][0]["url"], "user": "bc1qexample.w1", "password_set": True},
                             {"url": BODY["pools"][1]["url"], "user": "me.w1", "password_set": False}]
    texts = [reply.get_data(as_text=True)]
    texts.append(client.get("/api/pool-sets").get_data(as_text=True))
    texts.append(client.get(f"/api/pool-sets/{made['id']}").get_data(as_text=True))
    assert client.get("/api/pool-sets").get_json() == [made]
    # PUT without the password keeps it (password_set stays true); the name changes.
    pools = [dict(p, password=None) for p in BODY["pools"]]
    reply = client.put(f"/api/pool-sets/{made['id']}", json={"name": "Renamed", "pools": pools}, headers=auth)
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json()["name"] == "Renamed" and reply.get_json()["pools"][0]["password_set"] is True
    texts.append(reply.get_data(as_text=True))
    assert PoolSets(runtime.db).get(made["id"]).pools[0].password == SECRET  # kept for the miners
    texts.append(client.delete(f"/api/pool-sets/{made['id']}", headers=auth).get_data(as_text=True))
    assert client.get("/api/pool-sets").get_json() == []
    events = _events(runtime)
    assert any("created" in e for e in events) and any("deleted" in e for e in events)
    for text in [*texts, *events, caplog.text]:
        assert SECRET not in text


def test_writes_need_auth_and_reads_are_open(client, auth):
    assert client.post("/api/pool-sets", json=BODY).status_code == 401
    assert client.get("/api/pool-sets").status_code == 200
    made = client.post("/api/pool-sets", json=BODY, headers=auth).get_json()
    assert client.put(f"/api/pool-sets/{made['id']}", json={"name": "x"}).status_code == 401
    assert client.delete(f"/api/pool-sets/{made['id']}").status_code == 401
    assert client.post(f"/api/pool-sets/{made['id']}/apply", json={"miners": ["127.86.2.10"]}).status_code == 401
    assert client.get("/api/pool-sets").get_json()[0]["name"] == "Main pools"


@pytest.mark.parametrize("body, status, reason", [
    ("{not json", 400, "not valid JSON"),
    ([], 400, "JSON object"),
    ({"name": "x"}, 400, "send"),
    ({"name": "", "pools": BODY["pools"]}, 400, "name must not be empty"),
    ({"name": "n" * (MAX_NAME + 1), "pools": BODY["pools"]}, 400, "too long"),
    ({"name": "x", "pools": []}, 400, "1 to 3"),
    ({"name": "x", "pools": [{"url": "stratum+tcp://a.example:99999", "user": "u"}]}, 400, r"pools\[0\].url"),
    ({"name": "x", "pools": BODY["pools"], "extra": 1}, 400, "unknown field"),
    ({"name": "Main pools", "pools": BODY["pools"]}, 409, "already exists"),
])
def test_bad_bodies_change_nothing(client, auth, body, status, reason):
    assert client.post("/api/pool-sets", json=BODY, headers=auth).status_code == 201
    before = client.get("/api/pool-sets").get_json()
    if isinstance(body, str):
        reply = client.post("/api/pool-sets", data=body, headers={**auth, "Content-Type": "application/json"})
    else:
        reply = client.post("/api/pool-sets", json=body, headers=auth)
    assert reply.status_code == status, reply.get_json()
    assert reason.replace("\\", "") in reply.get_json()["error"] or reason in reply.get_json()["error"]
    assert client.get("/api/pool-sets").get_json() == before


def test_put_and_delete_edge_cases(client, auth):
    made = client.post("/api/pool-sets", json=BODY, headers=auth).get_json()
    other = client.post("/api/pool-sets", json=dict(BODY, name="Other"), headers=auth).get_json()
    before = client.get("/api/pool-sets").get_json()
    assert client.put("/api/pool-sets/999", json={"name": "x"}, headers=auth).status_code == 404
    assert client.put(f"/api/pool-sets/{made['id']}", json={}, headers=auth).status_code == 400
    assert client.put(f"/api/pool-sets/{made['id']}", json={"name": "OTHER"}, headers=auth).status_code == 409
    reply = client.put(f"/api/pool-sets/{made['id']}", json={"pools": [{"url": "bad", "user": "u"}]}, headers=auth)
    assert reply.status_code == 400 and "pools[0].url" in reply.get_json()["error"]
    assert client.get("/api/pool-sets").get_json() == before
    assert client.delete("/api/pool-sets/999", headers=auth).status_code == 404
    assert client.delete(f"/api/pool-sets/{other['id']}", json={"x": 1}, headers=auth).status_code == 400
    assert client.get("/api/pool-sets").get_json() == before
    assert client.post("/api/pool-sets/999/apply", json={"miners": ["127.86.2.10"]}, headers=auth).status_code == 404
    for body in ({}, {"miners": []}, {"miners": ["nope"]}, {"miners": ["127.86.2.10"], "tag": "a"}, {"all": False},
                 {"tag": ""}):
        reply = client.post(f"/api/pool-sets/{made['id']}/apply", json=body, headers=auth)
        assert reply.status_code == 400, (body, reply.get_json())
