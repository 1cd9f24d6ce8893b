"""Publishing the fleet to an MQTT broker, with Home Assistant discovery and command topics (docs/mqtt.md)."""
