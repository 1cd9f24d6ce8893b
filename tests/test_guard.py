"""The Host allow-list (DNS rebinding), the security headers, and ems.allow_from."""

from __future__ import annotations

import dataclasses
import socket

import pytest

from services.hostcheck import HostAllowList, local_addresses, search_domains, split_host
from tests.test_ems_api import EMS, build, drain


def app_with(config, runtime, **server):
    from app import create_app

    config = dataclasses.replace(config, server=dataclasses.replace(config.server, **server))
    return create_app(config=config, runtime=runtime, start_background=False, test_config={"TESTING": True})


@pytest.mark.parametrize("host", ["evil.example", "evil.example:5000", "192.0.2.1", "10.255.0.7:80",
                                  "localhost.evil.example", "[2001:db8::1]:5000"])
def test_a_foreign_host_is_refused(client, host):
    for path in ("/", "/api/miners", "/api/session", "/login", "/static/css/app.css", "/ws"):
        reply = client.get(path, headers={"Host": host})
        assert reply.status_code == 400, (path, host)
        assert "server.allowed_hosts" in reply.get_json()["error"]
    assert client.post("/login", json={"password": "x"}, headers={"Host": host}).status_code == 400


@pytest.mark.parametrize("host", ["localhost", "localhost:5000", "LOCALHOST.", "127.0.0.1", "127.3.4.5:8000",
                                  "[::1]:5000", "[::1]"])
def test_loopback_names_are_allowed(client, host):
    assert client.get("/api/miners", headers={"Host": host}).status_code == 200


def test_own_hostname_and_addresses_are_allowed(client):
    name = socket.gethostname().split(".")[0]
    for host in (name, f"{name}.local:5000", f"{name.upper()}.LOCAL"):
        assert client.get("/api/miners", headers={"Host": host}).status_code == 200, host
    for addr in local_addresses():
        host = f"[{addr}]:5000" if ":" in addr else f"{addr}:5000"
        assert client.get("/api/miners", headers={"Host": host}).status_code == 200, host


def test_configured_names_and_the_wildcard(config, runtime):
    client = app_with(config, runtime, allowed_hosts=("miners.example.net", "203.0.113.9")).test_client()
    assert client.get("/api/miners", headers={"Host": "miners.example.net:443"}).status_code == 200
    assert client.get("/api/miners", headers={"Host": "203.0.113.9"}).status_code == 200
    assert client.get("/api/miners", headers={"Host": "other.example.net"}).status_code == 400
    anything = app_with(config, runtime, allowed_hosts=("*",)).test_client()
    assert anything.get("/api/miners", headers={"Host": "other.example.net"}).status_code == 200


def test_the_allow_list_alone():
    reads = []

    def addresses():
        reads.append(1)
        return {"192.168.1.40"} if len(reads) == 1 else {"192.168.1.41"}

    now = [0.0]
    allow = HostAllowList(["pi.example"], hostname="minerpi", addresses=addresses, domains=lambda: ["lan"],
                          clock=lambda: now[0])
    assert allow.allows("minerpi.lan:5000") and allow.allows("minerpi") and allow.allows("minerpi.local")
    assert allow.allows("pi.example") and allow.allows("192.168.1.40:5000") and allow.allows(None)
    assert not allow.allows("minerpi.evil.example") and not allow.allows("192.168.1.41")
    assert len(reads) == 1  # an unknown address re-reads at most every 30 s
    now[0] += 31
    assert allow.allows("192.168.1.41")  # DHCP moved us: found after a re-read
    assert split_host("[FE80::1]:80") == "fe80::1" and split_host("Pi.Lan.:5000") == "pi.lan"


def test_search_domains_and_local_addresses_read_proc(tmp_path):
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 10.0.0.1\nsearch lan fritz.box.\n")
    assert search_domains(str(resolv)) == ["lan", "fritz.box"]
    trie = tmp_path / "fib_trie"
    trie.write_text("  |-- 10.0.0.5\n     /32 host LOCAL\n  |-- 10.0.0.255\n     /32 link BROADCAST\n")
    inet6 = tmp_path / "if_inet6"
    inet6.write_text("fd000000000000000000000000000002 04 40 00 82     eth0\n")
    assert local_addresses(str(trie), str(inet6)) == {"10.0.0.5", "fd00::2"}


def test_config_rejects_a_url_as_allowed_host(tmp_path):
    from services.config import ConfigError, load_config

    path = tmp_path / "config.yaml"
    path.write_text("server: {allowed_hosts: ['http://pi:5000/']}\n")
    with pytest.raises(ConfigError, match=r"server.allowed_hosts\[0\]"):
        load_config(path, environ={})


# --- headers -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/login", "/api/miners", "/api/nowhere", "/static/css/app.css",
                                  "/static/js/dashboard.js"])
def test_security_headers_on_every_response(client, path):
    reply = client.get(path, headers={"Host": "127.0.0.1:5000"})
    assert reply.headers["X-Frame-Options"] == "DENY"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["Referrer-Policy"] == "same-origin"
    csp = dict(part.strip().split(" ", 1) for part in reply.headers["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'self'" and csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'"
    assert csp["connect-src"] == "'self' ws://127.0.0.1:5000 wss://127.0.0.1:5000"
    assert "unsafe" not in reply.headers["Content-Security-Policy"]


def test_headers_on_refusals_too(client):
    for reply in (client.get("/api/miners", headers={"Host": "evil.example"}),
                  client.post("/api/miners/10.0.0.1/restart"), client.post("/logout")):
        assert reply.headers["X-Frame-Options"] == "DENY" and "Content-Security-Policy" in reply.headers


def test_pages_carry_no_inline_script_or_style(client):
    import re

    for path in ("/", "/login"):
        html = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path  # every script is a file
        assert "<style" not in html and " style=" not in html and not re.search(r"\son[a-z]+=", html), path


# --- ems.allow_from ------------------------------------------------------------------------------------------
@pytest.fixture
def ems_env(tmp_path):
    made = []

    def make(**ems):
        app, runtime = build(tmp_path / str(len(made)), ems={"token": EMS["Authorization"][7:], **ems})
        made.append(runtime)
        return app.test_client(), runtime

    (tmp_path / "0").mkdir()
    (tmp_path / "1").mkdir()
    yield make
    for runtime in made:
        drain(runtime)
        runtime.shutdown()


def test_allow_from_is_off_by_default(ems_env):
    client, runtime = ems_env()
    assert runtime.config.ems.allow_from == ()
    assert client.get("/api/status").status_code == 401
    assert client.get("/api/status", headers=EMS).status_code == 200


def test_allow_from_lets_a_listed_address_in_without_a_token(ems_env):
    client, runtime = ems_env(allow_from=["127.0.0.0/30", "192.168.7.20"])
    assert client.get("/api/status").status_code == 200  # 127.0.0.1: listed, no header
    assert client.get("/api/status", environ_overrides={"REMOTE_ADDR": "192.168.7.20"}).status_code == 200
    reply = client.post("/api/activate", json={"activationPowerInKw": 0.045})
    assert reply.status_code == 200 and reply.get_json()["accepted"] is True
    assert client.post("/api/deactivate").status_code == 200
    # Not listed: the token is still needed (and still works).
    other = {"REMOTE_ADDR": "192.168.7.21"}
    assert client.get("/api/status", environ_overrides=other).status_code == 401
    assert client.get("/api/status", headers=EMS, environ_overrides=other).status_code == 200
    # A listed address with a wrong token is refused: a misconfigured EMS is noticed.
    assert client.get("/api/status", headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 401
    # The dashboard's routes are not opened by it.
    assert client.post("/api/ems/release").status_code == 401


def test_allow_from_without_a_token_configures_the_ems(ems_env):
    client, runtime = ems_env(token="", allow_from=["127.0.0.1"])
    assert client.get("/api/status").status_code == 200
    assert client.get("/api/status", environ_overrides={"REMOTE_ADDR": "10.0.0.9"}).status_code == 401
    assert client.get("/api/status", headers={"Authorization": "Bearer "}, environ_overrides={
        "REMOTE_ADDR": "10.0.0.9"}).status_code == 401  # an empty token never matches the unset one


def test_allow_from_is_validated(tmp_path):
    from services.config import ConfigError, load_config

    path = tmp_path / "config.yaml"
    path.write_text("ems: {allow_from: ['192.168.1.300']}\n")
    with pytest.raises(ConfigError, match=r"ems.allow_from\[0\]"):
        load_config(path, environ={})


# --- the WebSocket's Origin ------------------------------------------------------------------------------------
def test_a_cross_origin_websocket_is_refused(client):
    handshake = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                 "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    for origin in ("http://evil.example", "null", "http://localhost.evil.example"):
        reply = client.get("/ws", headers={**handshake, "Origin": origin})
        assert reply.status_code == 403 and "cross-origin WebSocket" in reply.get_json()["error"], origin
    # Our own page, and a script that sends no Origin, get past the guard (to the handshake's own checks).
    for headers in ({"Origin": "http://localhost"}, {}):
        reply = client.get("/ws", headers=headers)
        assert reply.status_code != 403, headers
