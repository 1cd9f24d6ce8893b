"""EMS dispatch in the control loop: precedence (safety > override > EMS > solar), lease, restart, no battery, config."""

from __future__ import annotations

import dataclasses
import time

import pytest

from services.ems import EmsService
from tests.control_site import IPS, ControlSite
from tests.fakes import FakePowerDriver
EMS_TOKEN = "ems-token-0123456789abcdef"
T0 = time.time()


class Site(ControlSite):
    """The EMS tests' site: an EMS token, SOC 80 %, overheat limit 90 C, clock at T0."""

    def __init__(self, runtime, monkeypatch, *, battery="simulated", autocontrol=None, ems=None):
        from services.config import EmsConfig
        from tests.conftest import replace_config

        config = replace_config(
            runtime.config,
            autocontrol=dataclasses.replace(runtime.config.autocontrol, overheat_c=90, **(autocontrol or {})),
            battery=dataclasses.replace(runtime.config.battery, source=battery),
            ems=EmsConfig(token=EMS_TOKEN, **(ems or {})))
        super().__init__(runtime, monkeypatch, config, soc=80.0, now=T0)
        self.control = self.rebuild()

    @property
    def service(self):
        """What the EMS routes ask (GET /api/status, /api/ems)."""
        return EmsService(self.control)

    def activate(self, kw, now):
        self.now = now
        return self.control.ems.activate(kw, 0.09, now)

    def watts(self, since=0):
        """Watts last sent per miner (0 for a sleep) from the settings since index ``since``."""
        out = {}
        for ip, kind, w in FakePowerDriver.settings[since:]:
            out[ip] = 0 if kind == "sleep" else (w if kind == "watts" else out.get(ip, 0))
        return out

    def events(self, kind="ems"):
        from database import queries

        with self.runtime.db.read() as conn:
            return [dict(r) for r in queries.recent_events(conn, limit=500) if r["kind"] == kind]


def test_dispatch_overrides_the_solar_policy_even_with_autocontrol_off(runtime, monkeypatch):
    site = Site(runtime, monkeypatch)
    assert site.tick(T0)["enabled"] is False and FakePowerDriver.settings == []  # solar off: nothing sent
    site.activate(0.03, T0 + 1)
    body = site.tick(T0 + 2)
    assert body["source"] == "ems" and body["target_w"] == 30 and "EMS dispatch 0.03 kW" in body["reason"]
    assert 25 <= sum(site.watts().values()) <= 30
    assert body["ems"] == {"state": "active", "target_kw": 0.03, "since": T0 + 1}


def test_dispatch_wins_over_an_enabled_ratchet_and_the_policy_returns_after_a_lease(runtime, monkeypatch):
    site = Site(runtime, monkeypatch, autocontrol={"enabled": True, "min_interval_sec": 0, "grace_sec": 0,
                                                  "min_on_sec": 0, "min_off_sec": 0},
                ems={"silence": "lease", "lease_minutes": 15})
    assert site.tick(T0)["target_percent"] == 80  # ratchet: SOC 80 -> 80 %
    site.activate(0.09, T0 + 10)
    body = site.tick(T0 + 20)
    assert body["source"] == "ems" and sum(site.watts().values()) == 90
    # A repeated call renews the lease: at T0 + 10 + 15 min it is still active.
    site.activate(0.09, T0 + 600)
    assert site.tick(T0 + 910)["source"] == "ems"
    body = site.tick(T0 + 600 + 15 * 60 + 1)
    assert body["source"] == "policy" and body["target_percent"] == 80
    assert site.control.ems.state.mode == "idle"
    assert any("lease expired" in e["message"] and "solar policy" in e["message"] for e in site.events())


def test_hold_never_expires(runtime, monkeypatch):
    site = Site(runtime, monkeypatch)
    site.activate(0.03, T0)
    assert site.tick(T0 + 30 * 86400)["source"] == "ems"


def test_battery_emergency_wins_and_status_says_so(runtime, monkeypatch):
    site = Site(runtime, monkeypatch)
    site.activate(0.09, T0)
    site.tick(T0 + 1)
    assert site.service.status(T0 + 1)["isAvailableForDispatch"] is True
    site.soc = 25
    body = site.tick(T0 + 30)
    assert body["source"] == "safety" and body["emergency"] is True
    assert {ip for ip, kind, _ in FakePowerDriver.settings if kind == "sleep"} == set(IPS)
    status = site.service.status(T0 + 30)
    assert status["isAvailableForDispatch"] is False and status["runningStatus"] == 2  # still dispatched, held back
    detail = site.service.detail(T0 + 30)
    assert "battery emergency" in detail["safety"] and detail["decision"]["source"] == "safety"
    assert any("held back by safety" in e["message"] for e in site.events())


def test_stale_battery_data_blocks_dispatch_only_where_a_battery_is_configured(runtime, monkeypatch):
    site = Site(runtime, monkeypatch)
    site.activate(0.06, T0)
    site.soc = None
    body = site.tick(T0 + 1)
    assert body["source"] == "safety" and body["failsafe"] is True
    assert "no battery data" in site.service.detail(T0 + 1)["safety"]
    assert site.service.status(T0 + 1)["isAvailableForDispatch"] is False


def test_without_a_battery_the_ems_runs_the_site(runtime, monkeypatch):
    site = Site(runtime, monkeypatch, battery="none")
    site.soc = None  # no battery at all: no fail-safe, no emergency
    body = site.tick(T0)
    assert body["source"] == "policy" and "no battery" in body["reason"] and FakePowerDriver.settings == []
    assert site.service.status(T0)["isAvailableForDispatch"] is True
    site.activate(0.045, T0 + 1)
    body = site.tick(T0 + 2)
    assert body["source"] == "ems" and body["failsafe"] is False and 40 <= sum(site.watts().values()) <= 45
    assert body["battery_configured"] is False


def test_overheating_wins_per_miner_and_for_the_whole_fleet(runtime, monkeypatch):
    site = Site(runtime, monkeypatch, battery="none")
    site.activate(0.09, T0)
    site.tick(T0 + 1)
    site.temps[IPS[2]] = 95
    body = site.tick(T0 + 10)
    assert body["source"] == "ems" and site.watts()[IPS[2]] == 0  # the hot miner sleeps; the dispatch goes on
    status = site.service.status(T0 + 10)
    assert status["isAvailableForDispatch"] is True and status["ratedPowerInKw"] == 0.045  # the hot one cannot run
    for ip in IPS:
        site.temps[ip] = 95
    body = site.tick(T0 + 20)
    assert body["source"] == "safety" and "overheating" in body["reason"]
    assert site.service.status(T0 + 20)["isAvailableForDispatch"] is False
    assert site.service.detail(T0 + 20)["safety"] == "every controllable miner is overheated"


def test_a_manual_override_outranks_the_dispatch(runtime, monkeypatch):
    site = Site(runtime, monkeypatch, battery="none")
    site.activate(0.09, T0)
    site.control.command({"override": {"percent": 0}}, by="operator")
    body = site.tick(T0 + 1)
    assert body["source"] == "override"
    assert site.service.status(T0 + 1)["isAvailableForDispatch"] is False
    assert "manual override" in site.service.detail(T0 + 1)["unavailable_reason"]
    assert any("held back by a manual override" in e["message"] for e in site.events())
    site.control.command({"override": {"clear": True}}, by="operator")
    assert site.tick(T0 + 2)["source"] == "ems"
    assert any("applies again" in e["message"] for e in site.events())


def test_a_dispatch_survives_a_restart_and_is_reapplied(runtime, monkeypatch):
    site = Site(runtime, monkeypatch, battery="none")
    site.activate(0.045, T0)
    site.tick(T0 + 1)
    sent = len(FakePowerDriver.settings)
    again = site.rebuild()  # a new process on the same database
    assert again.ems.state.mode == "active" and again.ems.state.target_kw == 0.045
    assert EmsService(again).status(T0 + 2)["runningStatus"] == 2
    body = site.tick(T0 + 5, control=again)
    assert body["source"] == "ems" and body["target_w"] == 45
    assert len(FakePowerDriver.settings) == sent  # the miners already run it: re-applied without repeats
    # A miner that lost its setting meanwhile (the history forgot it) gets it again at once, grace or not.
    again.history.pop(IPS[0], None)
    third = site.rebuild()
    third.history.pop(IPS[0], None)
    site.tick(T0 + 6, control=third)
    assert any(ip == IPS[0] for ip, _, _ in FakePowerDriver.settings[sent:])


def test_a_deactivation_survives_a_restart(runtime, monkeypatch):
    site = Site(runtime, monkeypatch, battery="none", autocontrol={"enabled": True})
    site.control.ems.deactivate(T0)
    site.tick(T0 + 1)
    again = site.rebuild()
    assert again.ems.state.mode == "stopped"
    body = site.tick(T0 + 2, control=again)
    assert body["source"] == "ems" and body["target_percent"] == 0 and "deactivated" in body["reason"]


def test_runtime_reapplies_a_saved_dispatch_after_start(config, monkeypatch):
    """Runtime.start schedules one kicked tick after the first poll when a dispatch is engaged."""
    from database.db import Database
    from services.config import EmsConfig
    from services.fleet import FleetManager
    from services.runtime import Runtime
    from tests.conftest import replace_config
    from tests.fakes import fake_factory, reset_fakes

    reset_fakes()
    cfg = replace_config(config, ems=EmsConfig(token=EMS_TOKEN),
                         battery=dataclasses.replace(config.battery, source="none"))
    db = Database(cfg.data_path / "fleet.db")
    first = Runtime(cfg, fleet=FleetManager(cfg, db, driver_factory=fake_factory), db=db)
    for ip in IPS:
        first.fleet.add(ip, "fakepower")
    first.autocontrol.ems.activate(0.045, 0.09)
    first.shutdown()
    db = Database(cfg.data_path / "fleet.db")
    second = Runtime(cfg, fleet=FleetManager(cfg, db, driver_factory=fake_factory), db=db)
    try:
        second.start()
        assert {j.id for j in second.scheduler.get_jobs()} >= {"poll", "autocontrol", "ems_reapply"}
        assert "battery" not in {j.id for j in second.scheduler.get_jobs()}
        from tests.integration import wait_for

        # The commands go out in parallel: wait for the whole plan, not the first one.
        wait_for(lambda: 40 <= sum(w for _, kind, w in FakePowerDriver.settings if kind == "watts") <= 45,
                 timeout=10, message=f"not re-applied: {FakePowerDriver.settings}")
    finally:
        second.shutdown()


# --- pure pieces ------------------------------------------------------------------------------
def test_dispatcher_state_round_trip_and_config_change_of_the_silence_rule():
    from services.config import EmsConfig
    from services.ems import EmsDispatcher
    from services.power import DictStore

    store = DictStore()
    d = EmsDispatcher(EmsConfig(token=EMS_TOKEN, silence="lease", lease_minutes=10), store, clock=lambda: 100.0)
    assert d.activate(2.0, 5.0, 100.0).changed and d.state.lease_until == 700.0
    assert not d.activate(2.0, 5.0, 200.0).changed and d.state.lease_until == 800.0
    held = EmsDispatcher(EmsConfig(token=EMS_TOKEN), store, clock=lambda: 300.0)
    assert held.state.mode == "active" and held.state.lease_until is None  # hold: a saved lease means nothing
    store.data["ems.dispatch"] = {"mode": "active", "target_kw": "lots"}
    assert EmsDispatcher(EmsConfig(), store).state.mode == "idle"
    store.data["ems.dispatch"] = {"mode": "active", "target_kw": 1.5, "lease_until": None}
    leased = EmsDispatcher(EmsConfig(silence="lease", lease_minutes=5), store, clock=lambda: 1000.0)
    assert leased.state.lease_until == 1300.0  # switched to lease: a full lease from the start


@pytest.mark.parametrize("section, fragment", [
    ({"token": "short"}, "ems.token: must be at least 16 characters"),
    ({"token": " ems-token-0123456789 "}, "ems.token: must not start or end with spaces"),
    ({"rated_kw": 0}, "ems.rated_kw"),
    ({"rated_kw": "5"}, "ems.rated_kw: expected a number"),
    ({"silence": "forever"}, "ems.silence: must be hold or lease"),
    ({"lease_minutes": 0}, "ems.lease_minutes"),
    ({"tokn": "x"}, "ems.tokn: unknown key"),
])
def test_bad_ems_config_is_one_line_naming_the_key(tmp_path, section, fragment):
    import yaml

    from services.config import ConfigError, load_config

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"ems": section}))
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_ems_token_from_the_environment_and_distinct_from_the_api_token(tmp_path):
    from services.config import ConfigError, load_config

    path = tmp_path / "config.yaml"
    path.write_text("security:\n  api_token: same-token-0123456789\n")
    cfg = load_config(path, environ={"EMS_TOKEN": EMS_TOKEN})
    assert cfg.ems.token == EMS_TOKEN and EMS_TOKEN not in repr(cfg)
    assert load_config(path, environ={}).ems.silence == "hold"
    with pytest.raises(ConfigError, match="ems.token: must differ from security.api_token"):
        load_config(path, environ={"EMS_TOKEN": "same-token-0123456789"})


def test_battery_source_none_is_not_configured(tmp_path):
    from app import create_app
    from services.config import load_config

    path = tmp_path / "config.yaml"
    path.write_text("server:\n  data_dir: data\nbattery:\n  source: none\n")
    cfg = load_config(path, environ={})
    app = create_app(config=cfg, start_background=False, test_config={"TESTING": True})
    runtime = app.extensions["runtime"]
    try:
        runtime.battery.poll()  # nothing read, no "battery lost" event
        body = app.test_client().get("/api/battery").get_json()
        assert body["configured"] is False and body["reading"] is None and "none" in body["status"]["last_error"]
        from database import queries
        with runtime.db.read() as conn:
            assert not [r for r in queries.recent_events(conn) if r["kind"].startswith("battery")]
    finally:
        runtime.shutdown()


def test_the_loop_the_app_builds_is_the_view_the_ems_service_types(runtime, monkeypatch):
    """services.ems.service.ControlLoop lists every member of AutoControl the EMS service uses."""
    from services.autocontrol import AutoControl
    from services.ems.service import ControlLoop

    import re
    from pathlib import Path

    control = Site(runtime, monkeypatch).control
    assert isinstance(control, AutoControl) and isinstance(control, ControlLoop)
    # ... and the EMS code reaches nothing of the loop outside that view.
    members = {name for name in vars(ControlLoop) if not name.startswith("_")} | set(ControlLoop.__annotations__)
    source = (Path(__file__).resolve().parents[1] / "services/ems/service.py").read_text()
    used = set(re.findall(r"\bcontrol\.([a-z_]+)", source))
    assert used and used <= members, used - members
