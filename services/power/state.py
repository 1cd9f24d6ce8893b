"""What the controller must remember across a restart, and the store it is saved in."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

STATE_KEY = "autocontrol.controller"  # key in the database ``state`` table


class StateStore(Protocol):
    """get/set of JSON-able values; the app backs it with database.queries.get_state/set_state."""

    def get(self, key: str) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...


class DictStore:
    """An in-memory StateStore (tests, the bench)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        """The stored value or None."""
        return self.data.get(key)

    def set(self, key: str, value: Any) -> None:
        """Store a value."""
        self.data[key] = value


@dataclass
class Override:
    """A manual power setting, for the fleet or one miner, until an optional expiry."""

    percent: float
    until: float | None = None  # epoch seconds; None = until cleared
    set_at: float = 0.0
    by: str = ""  # who set it (user name or "api"), for the event log

    def expired(self, now: float) -> bool:
        """True once the expiry has passed."""
        return self.until is not None and now >= self.until


@dataclass
class ControllerState:
    """Latch, emergency, overrides, last change and timers: everything a restart must not lose."""

    enabled: bool = False
    policy: str = "ratchet"
    cap_percent: float = 100.0  # the ratchet latch: power may not rise above it until SOC is full
    emergency: bool = False  # entered at SOC <= emergency_soc; cleared as the policy allows
    applied_percent: float | None = None  # the last target handed out (None = never decided)
    last_change_at: float | None = None  # when applied_percent last changed
    stale_since: float | None = None  # first tick with stale/missing battery data
    enable_since: float | None = None  # surplus: enable condition holding since
    disable_since: float | None = None  # surplus: disable condition holding since
    last_probe_at: float | None = None  # surplus: last "battery full" probe step
    override: Override | None = None  # fleet override
    miner_overrides: dict[str, Override] = field(default_factory=dict)  # per miner id; the allocator applies them

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (what the store keeps)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> "ControllerState":
        """Rebuild from to_json's dict; unknown keys are ignored, missing ones take defaults."""
        if not isinstance(data, dict):
            return cls()
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        ov = known.get("override")
        known["override"] = Override(**ov) if isinstance(ov, dict) else None
        known["miner_overrides"] = {str(k): Override(**v) for k, v in (known.get("miner_overrides") or {}).items()
                                    if isinstance(v, dict)}
        return cls(**known)
