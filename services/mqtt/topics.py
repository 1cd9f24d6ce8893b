"""Every topic this controller publishes or subscribes to, built from base_topic and the site (docs/mqtt.md)."""

from __future__ import annotations

from dataclasses import dataclass

CONTROL = "control"  # <base>/control/...: the controller's own state and commands
MINER_CONTROLS = ("mining", "power", "mode", "restart")  # <base>/<miner_id>/<control>/set
CONTROLLER_CONTROLS = ("autocontrol", "policy", "fleet_target")  # <base>/control/<control>/set


@dataclass(frozen=True)
class Topics:
    """Topic names of one controller."""

    base: str  # base_topic with {site} replaced
    discovery_prefix: str

    @classmethod
    def build(cls, base_topic: str, discovery_prefix: str, site: str) -> "Topics":
        """Topics for the configured base_topic ("{site}" replaced) and discovery prefix."""
        return cls(base_topic.replace("{site}", site), discovery_prefix)

    @property
    def status(self) -> str:
        """Availability: "online" (retained) while connected, "offline" by the broker's last will."""
        return f"{self.base}/status"

    @property
    def fleet(self) -> str:
        """Fleet totals."""
        return f"{self.base}/fleet"

    @property
    def battery(self) -> str:
        """The house battery's last reading."""
        return f"{self.base}/battery"

    @property
    def control(self) -> str:
        """The controller's decision, EMS state and price."""
        return f"{self.base}/{CONTROL}"

    def state(self, miner: str) -> str:
        """One miner's state JSON."""
        return f"{self.base}/{miner}/state"

    def result(self, miner: str) -> str:
        """Answers to commands for one miner, or the controller's (miner = "control")."""
        return f"{self.base}/{miner}/result"

    def command(self, miner: str, control: str) -> str:
        """Where a command for one control of a miner (or of "control") is published."""
        return f"{self.base}/{miner}/{control}/set"

    @property
    def commands(self) -> str:
        """The one subscription that receives every command."""
        return f"{self.base}/+/+/set"

    def parse_command(self, topic: str) -> tuple[str, str] | None:
        """(miner id or "control", control) of a command topic, or None."""
        prefix = f"{self.base}/"
        if not topic.startswith(prefix) or not topic.endswith("/set"):
            return None
        parts = topic[len(prefix):-len("/set")].split("/")
        return (parts[0], parts[1]) if len(parts) == 2 and all(parts) else None

    @property
    def ha_status(self) -> str:
        """Home Assistant's birth message ("online" when it starts): discovery is published again."""
        return f"{self.discovery_prefix}/status"

    def config(self, component: str, node_id: str, object_id: str) -> str:
        """A discovery config topic: <discovery_prefix>/<component>/<node_id>/<object_id>/config."""
        return f"{self.discovery_prefix}/{component}/{node_id}/{object_id}/config"
