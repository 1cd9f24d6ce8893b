"""Every alert kind: its label, severity, and the words of its message (docs/alerts.md lists them)."""

from __future__ import annotations

from dataclasses import dataclass

INFO, WARNING, CRITICAL = "info", "warning", "critical"
SEVERITIES = (INFO, WARNING, CRITICAL)


@dataclass(frozen=True, slots=True)
class Kind:
    """One trigger. A problem is raised and later resolved; a notice is told once."""

    label: str  # what the dashboard's mute menu and the digest say
    severity: str
    problem: bool  # False: a one-off notice (block found, EMS dispatch started)
    title: str  # "{who}" = "<name> (<ip>)" or the controller
    resolved: str = ""  # title of the "resolved" message ("" = "<title>: resolved")
    digest_hint: str = ""  # added to a digest's title: what many at once usually means
    many: str = ""  # a digest's title, "{n}" = how many ("" = "{n} alerts: <label>")


KINDS: dict[str, Kind] = {
    # Miners
    "miner_offline": Kind("miner offline", WARNING, True, "{who} is offline", "{who} is back online",
                          "switch or power?", "{n} miners offline"),
    "miner_auth": Kind("miner refuses the login", WARNING, True, "{who} refuses our login",
                       "{who} accepts our login again"),
    "hashrate_low": Kind("hashrate below its average", WARNING, True, "{who}: hashrate low (a board lost?)",
                         "{who}: hashrate back to normal", "", "{n} miners: hashrate low"),
    "board_missing": Kind("hash board missing", WARNING, True, "{who}: a hash board is missing",
                          "{who}: every hash board is back"),
    "fan_failed": Kind("fan stopped", CRITICAL, True, "{who}: fan stopped", "{who}: fans turning again"),
    "temp_high": Kind("temperature above the limit", CRITICAL, True, "{who} is too hot", "{who}: temperature normal",
                       "", "{n} miners too hot"),
    "overheat_stop": Kind("stopped for overheating", CRITICAL, True, "{who} stopped: overheating",
                          "{who}: cooled down, may run again", "", "{n} miners stopped: overheating"),
    "shares_rejected": Kind("rejected shares", WARNING, True, "{who}: many shares rejected",
                            "{who}: rejected shares back to normal"),
    "pool_down": Kind("pool down", WARNING, True, "{who}: pool down", "{who}: pool back", "", "{n} miners: pool down"),
    "pool_backup": Kind("mining on a backup pool", WARNING, True, "{who} switched to a backup pool",
                        "{who} is back on its first pool", "the main pool down?",
                        "{n} miners on a backup pool"),
    # Energy and control
    "battery_lost": Kind("battery source lost", WARNING, True, "Battery source not answering",
                         "Battery source answering again"),
    "battery_low": Kind("battery under the emergency floor", CRITICAL, True, "Battery under the emergency floor",
                        "Battery above the emergency floor again"),
    "failsafe": Kind("control fail-safe", CRITICAL, True, "Controller in its fail-safe", "Controller left its fail-safe"),
    "ems_dispatch": Kind("EMS dispatch", INFO, False, "EMS dispatch"),
    "ems_refused": Kind("EMS call refused", WARNING, False, "EMS call refused"),
    # Mining luck
    "block_found": Kind("block found", CRITICAL, False, "{who} found a block!"),
    "best_difficulty": Kind("new best difficulty", INFO, False, "{who}: new best difficulty"),
    # The controller itself
    "controller_restart": Kind("controller restarted after a crash", WARNING, False,
                               "Controller restarted after a crash"),
    "disk_full": Kind("disk nearly full", WARNING, True, "Disk nearly full", "Disk space is fine again"),
    "database_error": Kind("database error", CRITICAL, True, "Database error", "Database writing again"),
    "notify_failed": Kind("notification channel failing", WARNING, True, "Notification channel failing",
                          "Notification channel working again"),
    "backup_failing": Kind("scheduled backup failing", WARNING, True, "Scheduled backup failing",
                           "Scheduled backup working again"),  # services/backup_schedule.py: 2 failed runs in a row
}

# Kinds about one miner: the message names it by name and IP and links to its detail view.
MINER_KINDS = frozenset(k for k in KINDS if k in {
    "miner_offline", "miner_auth", "hashrate_low", "board_missing", "fan_failed", "temp_high", "overheat_stop",
    "shares_rejected", "pool_down", "pool_backup", "block_found", "best_difficulty"})
