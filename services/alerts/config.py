"""The ``alerts`` section of config.yaml: channels, what raises an alert and how loudly (docs/alerts.md)."""

from __future__ import annotations

from dataclasses import dataclass

from services.alerts.kinds import KINDS
from services.prices.config import parse_hours


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass(frozen=True)
class AlertsConfig:
    """Notification channels (Apprise URLs) and the triggers' thresholds; every field has a default."""

    # Apprise URLs, one per channel (ntfy://, tgram://, mailto://, json://, ...); ${VAR} is read from
    # the environment when the app starts, so a token can stay out of the file. Empty = no notifications
    # (the error window and the events still work).
    urls: tuple[str, ...] = ()
    dashboard_url: str = ""  # the link in every message; "" = http://<this host's name>:<server.port>/
    # A miner that stopped answering (marked offline after polling.offline_after failed polls) alerts
    # after this many more minutes; 0 = at once. Flapping Wi-Fi miners come back before it.
    offline_after_min: float = 5
    quiet_hours: str | None = None  # "22:00-07:00" local time: only critical alerts are sent meanwhile
    hold_min: float = 2  # the other miner problems (fan, temperature, board, pool) must last this long
    hashrate_drop_percent: float = 80  # below this % of the miner's own 1-hour average ...
    hashrate_drop_min: float = 10  # ... for this long: "a board lost"
    reject_percent: float = 5  # rejected shares above this % ...
    reject_window_min: float = 30  # ... of the shares sent in this window
    reject_min_shares: int = 20  # a window with fewer shares says nothing
    battery_lost_min: float = 2  # the battery source has not answered for this long
    disk_percent: float = 90  # the data disk this full
    digest_at: int = 5  # this many miners with the same news in one check: one message that lists them
    best_difficulty: bool = False  # also tell a new all-time best difficulty (a block found is always told)
    network_difficulty: float | None = None  # for "block found" offline; None = profitability's figure
    disabled: tuple[str, ...] = ()  # kinds that never raise an alert (they still show as events)

    def validate(self) -> None:
        for i, url in enumerate(self.urls):
            _check(isinstance(url, str) and url.strip() != "", f"urls[{i}]: must be an Apprise URL like ntfy://topic")
        if self.urls:
            from services.alerts.notifier import check_urls  # apprise is imported only when a URL is set

            check_urls(self.urls)
        _check(self.dashboard_url == "" or self.dashboard_url.startswith(("http://", "https://")),
               f"dashboard_url: must start with http:// or https://, got {self.dashboard_url!r}")
        if self.quiet_hours is not None:
            try:
                parse_hours(self.quiet_hours)
            except ValueError as exc:
                raise ValueError(f"quiet_hours: {exc}") from None
        for key in ("offline_after_min", "hold_min", "hashrate_drop_min", "battery_lost_min"):
            _check(0 <= getattr(self, key) <= 1440, f"{key}: must be 0-1440 minutes, got {getattr(self, key)}")
        _check(0 < self.hashrate_drop_percent < 100,
               f"hashrate_drop_percent: must be between 0 and 100, got {self.hashrate_drop_percent}")
        _check(0 < self.reject_percent < 100, f"reject_percent: must be between 0 and 100, got {self.reject_percent}")
        _check(1 <= self.reject_window_min <= 1440, f"reject_window_min: must be 1-1440, got {self.reject_window_min}")
        _check(1 <= self.reject_min_shares <= 100000, f"reject_min_shares: must be 1-100000, got {self.reject_min_shares}")
        _check(50 <= self.disk_percent <= 100, f"disk_percent: must be 50-100, got {self.disk_percent}")
        _check(2 <= self.digest_at <= 10000, f"digest_at: must be 2 or more, got {self.digest_at}")
        _check(self.network_difficulty is None or self.network_difficulty > 0,
               f"network_difficulty: must be above 0, got {self.network_difficulty}")
        for i, kind in enumerate(self.disabled):
            _check(kind in KINDS, f"disabled[{i}]: unknown alert kind {kind!r} (known: {', '.join(sorted(KINDS))})")

    def quiet_minutes(self) -> tuple[int, int] | None:
        """(start, end) minute of the day of the quiet hours, or None."""
        return parse_hours(self.quiet_hours) if self.quiet_hours else None
