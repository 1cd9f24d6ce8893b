"""A discovery burst larger than paho's outgoing queue is not lost: what the queue had no room for
goes on the next passes (found with bench/scale_out.py: 2 x 500 miners, one site short of ~140
retained configs), against a real mosquitto."""

from __future__ import annotations

from tests.mqtt_broker import Listener
from tests.test_mqtt_broker import add_all, app_with_mqtt, broker, configs, sim  # noqa: F401 - fixtures

SMALL_QUEUE = 12  # the three simulated miners and the controller announce ~50 configs


def test_configs_the_queue_refused_are_sent_on_the_next_passes(tmp_path, sim, broker, monkeypatch):  # noqa: F811
    monkeypatch.setattr("services.mqtt.publisher.MAX_QUEUED", SMALL_QUEUE)
    listener = Listener(broker, "homeassistant/#")
    try:
        with app_with_mqtt(tmp_path, sim, broker) as live:
            rt = live.runtime
            add_all(rt)
            rt.fleet.poll_round()
            rt.start_mqtt()
            publisher = rt.mqtt
            rt.fleet.poll_round()

            def settled(_listener):
                wanted = {t for t, text in publisher._sent_config.items() if text}
                got = {t for t, raw in configs(_listener).items() if raw}
                return not publisher._unsent_config and len(wanted) > 3 * SMALL_QUEUE and wanted == got

            listener.wait(settled, timeout=20, message="every config on the broker, none left unsent")
    finally:
        listener.close()
