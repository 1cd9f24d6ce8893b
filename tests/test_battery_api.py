"""The battery monitor wired into the runtime: scheduled reads, storage, GET /api/battery(/history)."""

from __future__ import annotations


import pytest

from services.battery import BatteryError, BatteryReading


class ScriptedSource:
    """A battery source whose next reading (or error) the test sets."""

    name = "scripted"

    def __init__(self):
        self.next: BatteryReading | Exception | None = None
        self.last_reading = None
        self.extra_load = None

    def read(self):
        if isinstance(self.next, Exception):
            raise self.next
        self.last_reading = self.next
        return self.next

    def set_extra_load(self, watts):
        self.extra_load = watts

    def status(self):
        from services.battery import SourceStatus

        return SourceStatus(source="scripted", connected=self.last_reading is not None, last_success_ts=None,
                            last_error="", max_age_sec=120, rejected_count=0, error_count=0)

    def close(self):
        pass


def reading(soc, at, **kw):
    values = {"pv_w": 1000.0, "load_w": 400.0, "battery_w": -600.0, "grid_w": None}
    values.update(kw)
    return BatteryReading(soc_pct=soc, measured_at=at, source="scripted", **values)


@pytest.fixture
def scripted(runtime):
    source = ScriptedSource()
    runtime.battery.source = source
    return source


def test_default_source_is_the_simulated_house(runtime, client):
    runtime.battery.poll()
    data = client.get("/api/battery").get_json()
    assert data["simulated"] is True
    assert 0 <= data["reading"]["soc_pct"] <= 100
    assert data["status"]["connected"] is True and data["age_sec"] is not None


def test_new_readings_are_stored_once_and_history_buckets_them(runtime, client, scripted):
    import time

    now = time.time()
    runtime.fleet.add("10.0.0.1", "fake")
    runtime.fleet.poll_round()
    scripted.next = reading(55.0, now - 30)
    runtime.battery.poll()
    runtime.battery.poll()  # the same measurement again: not stored twice
    scripted.next = reading(56.0, now)
    runtime.battery.poll()
    assert scripted.extra_load == 15.0  # the fleet's measured power reaches a simulated house
    runtime.history.flush()
    with runtime.db.read() as conn:
        count = conn.execute("SELECT COUNT(*) FROM battery_samples").fetchone()[0]
    assert count == 2
    history = client.get("/api/battery/history?range=1h").get_json()
    assert set(history["series"]) == {"soc_pct", "pv_w", "load_w", "battery_w", "grid_w"}
    assert history["bucket_s"] == 12  # 1 h in ~300 points, a whole number of 2 s poll intervals
    assert history["series"]["soc_pct"] == [55.0, 56.0]  # 30 s apart: two buckets
    assert client.get("/api/battery/history?range=forever").status_code == 400


def test_lost_and_regained_source_are_events_once(runtime, client, scripted):
    import time

    scripted.next = reading(50.0, time.time())
    runtime.battery.poll()
    scripted.next = BatteryError("portal said success: false")
    runtime.battery.poll()
    runtime.battery.poll()
    scripted.next = reading(50.0, time.time() + 1)
    runtime.battery.poll()
    kinds = [e["kind"] for e in client.get("/api/events").get_json()]
    assert kinds.count("battery_lost") == 1 and kinds.count("battery_connected") == 1


def test_battery_api_never_shows_portal_secrets(config, runtime):
    from app import create_app
    from services.battery_monitor import BatteryMonitor
    from services.config import load_config

    path = config.data_path.parent / "eg4.yaml"
    path.write_text("battery:\n  source: eg4\n  eg4:\n    username: me@example.com\n    password: hunter2-secret\n"
                    "    serial: '1234567890'\nsecurity:\n  api_token: test-token-0123456789abcdef\n"
                    "  admin_password: correct horse battery\n")
    eg4 = load_config(path, environ={})
    runtime.battery = BatteryMonitor(eg4, runtime.history)
    app = create_app(config=eg4, runtime=runtime, start_background=False, test_config={"TESTING": True})
    text = app.test_client().get("/api/battery").get_data(as_text=True)
    assert "hunter2-secret" not in text
    assert '"simulated":false' in text.replace(" ", "")
