"""Every metric the collector exports: name, type, help and labels, in one table (docs/metrics.md lists them).

Units are in the names, as in the rest of the app (``_hs`` hashes per second, ``_w``
watts, ``_c`` degrees Celsius, ``_seconds``); the four contract names of issue 14
(``minerfleet_miner_hashrate_hs``, ``minerfleet_miner_power_w``, ``minerfleet_miner_online``,
``minerfleet_fleet_power_w``) are fixed. Every metric carries ``site`` (config ``site``), so
several controllers can feed one Prometheus.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

GAUGE, COUNTER = "gauge", "counter"
SITE = ("site",)
MINER = ("site", "ip", "name", "family", "model")


@dataclass(frozen=True, slots=True)
class Spec:
    """One exported metric family."""

    name: str  # a counter's name without _total (prometheus_client adds it in the exposition)
    kind: str
    help: str
    labels: tuple[str, ...]

    @property
    def sample_name(self) -> str:
        """The name the samples carry in the text format (a counter's with _total)."""
        return self.name + "_total" if self.kind == COUNTER else self.name


_SPECS = (
    # --- per miner (values only while online; a value the firmware does not report is absent, never 0)
    Spec("minerfleet_miner_online", GAUGE, "1 if the last poll of the miner answered, else 0", MINER),
    Spec("minerfleet_miner_info", GAUGE, "Always 1; firmware and algorithm of the miner as labels",
         MINER + ("firmware", "firmware_version", "algorithm")),
    Spec("minerfleet_miner_hashrate_hs", GAUGE, "Hashrate in hashes per second", MINER),
    Spec("minerfleet_miner_expected_hashrate_hs", GAUGE, "Hashrate the firmware expects, hashes per second", MINER),
    Spec("minerfleet_miner_power_w", GAUGE, "Power draw in watts (absent when the firmware reports none)", MINER),
    Spec("minerfleet_miner_temp_c", GAUGE, "Hottest chip or board temperature in degrees Celsius", MINER),
    Spec("minerfleet_miner_fan_rpm", GAUGE, "Fastest fan in revolutions per minute", MINER),
    Spec("minerfleet_miner_fan_percent", GAUGE, "Fan duty in percent", MINER),
    Spec("minerfleet_miner_efficiency_j_th", GAUGE, "Joules per terahash (power / hashrate)", MINER),
    Spec("minerfleet_miner_uptime_seconds", GAUGE, "Seconds since the mining process started", MINER),
    Spec("minerfleet_miner_last_seen_timestamp_seconds", GAUGE, "Unix time of the last good poll", MINER),
    Spec("minerfleet_miner_shares_accepted", COUNTER,
         "Shares accepted, as the miner counts them (resets when the miner restarts)", MINER),
    Spec("minerfleet_miner_shares_rejected", COUNTER,
         "Shares rejected, as the miner counts them (resets when the miner restarts)", MINER),
    Spec("minerfleet_miner_best_difficulty", GAUGE, "Best share difficulty, the firmware's all-time counter", MINER),
    Spec("minerfleet_miner_best_session_difficulty", GAUGE,
         "Best share difficulty since the miner's last boot or restart", MINER),
    # --- fleet totals over the online miners
    Spec("minerfleet_fleet_hashrate_hs", GAUGE, "Hashrate of the online miners per algorithm, hashes per second",
         SITE + ("algorithm",)),
    Spec("minerfleet_fleet_power_w", GAUGE,
         "Power of the online miners that report it, watts (absent when none does)", SITE),
    Spec("minerfleet_fleet_power_reported_by", GAUGE, "Online miners whose power is in minerfleet_fleet_power_w", SITE),
    Spec("minerfleet_fleet_efficiency_j_th", GAUGE, "Joules per terahash of the sha256d miners reporting both", SITE),
    Spec("minerfleet_fleet_miners", GAUGE, "Miners known to this controller", SITE),
    Spec("minerfleet_fleet_miners_online", GAUGE, "Miners online", SITE),
    Spec("minerfleet_fleet_miners_offline", GAUGE, "Miners not online (offline, refusing the login, not polled yet)",
         SITE),
    Spec("minerfleet_fleet_last_round_timestamp_seconds", GAUGE, "Unix time the last full poll round started", SITE),
    Spec("minerfleet_poll_errors", COUNTER, "Failed miner polls per family since the controller started",
         SITE + ("family",)),
    # --- this controller
    Spec("minerfleet_controller_polling", GAUGE,
         "1 in the process that polls, 0 in a read-only one (another process holds the poller lock)", SITE),
    # --- house battery (only when battery.source is not none)
    Spec("minerfleet_battery_connected", GAUGE, "1 if the last battery read worked", SITE + ("source",)),
    Spec("minerfleet_battery_soc_percent", GAUGE, "Battery state of charge in percent", SITE + ("source",)),
    Spec("minerfleet_battery_pv_w", GAUGE, "Solar (PV) power in watts", SITE + ("source",)),
    Spec("minerfleet_battery_load_w", GAUGE, "House load in watts", SITE + ("source",)),
    Spec("minerfleet_battery_power_w", GAUGE, "Battery power in watts, + discharging, - charging",
         SITE + ("source",)),
    Spec("minerfleet_battery_grid_w", GAUGE, "Grid power in watts, + import, - export (absent when unknown)",
         SITE + ("source",)),
    Spec("minerfleet_battery_reading_age_seconds", GAUGE, "Age of the last battery reading", SITE + ("source",)),
    # --- power controller (autocontrol) and EMS
    Spec("minerfleet_control_enabled", GAUGE, "1 if autocontrol is on", SITE),
    Spec("minerfleet_control_target_percent", GAUGE, "Fleet power target in percent of rated power", SITE),
    Spec("minerfleet_control_target_w", GAUGE, "Fleet power target in watts", SITE),
    Spec("minerfleet_control_failsafe", GAUGE, "1 while the controller is in its fail-safe (stale battery data)",
         SITE),
    Spec("minerfleet_control_layer", GAUGE, "1 for the layer that decided the last step, 0 for the others",
         SITE + ("layer",)),
    Spec("minerfleet_ems_state", GAUGE, "1 for the EMS dispatch state now, 0 for the others", SITE + ("state",)),
    Spec("minerfleet_ems_target_kw", GAUGE, "The EMS dispatch's power target in kW (only while active)", SITE),
    # --- electricity price
    Spec("minerfleet_price_per_kwh", GAUGE, "Electricity price now, main currency units per kWh",
         SITE + ("currency", "source")),
    Spec("minerfleet_price_stale", GAUGE, "1 if the price is the configured default (no current published price)",
         SITE + ("currency", "source")),
    # --- alerts
    Spec("minerfleet_alerts_active", GAUGE, "Active problems per severity", SITE + ("severity",)),
)

SPECS: dict[str, Spec] = {spec.name: spec for spec in _SPECS}

# The histogram is a prometheus_client Histogram observed by each poll round (services/metrics/service.py).
POLL_HISTOGRAM = "minerfleet_poll_round_duration_seconds"
POLL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)


def family(name: str) -> Metric:
    """An empty family for ``name`` (a KeyError for a name missing from the table)."""
    spec = SPECS[name]
    cls = CounterMetricFamily if spec.kind == COUNTER else GaugeMetricFamily
    return cls(spec.name, spec.help, labels=spec.labels)
