"""Discovery of a subnet as a background job with progress.

Two phases, as cheap as a LAN allows: one non-blocking TCP connect sweep of
every address on the miner ports at once (absent hosts stay silent, so the
sweep costs one short deadline, not one timeout per address), then a
fingerprint of each host that answered, in parallel on the fleet executor.
Nothing but read requests is ever sent.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from typing import Any, Callable

from miners import detect
from services.fleet import FleetManager
from services.miner_state import ip_sort_key
from services.netinfo import MAX_SUBNETS, resolve_subnets, subnet_parts, subnets_text

log = logging.getLogger(__name__)

MAX_HOSTS = 4096  # a /20; larger scans are refused (they would take minutes and annoy the LAN)


class DiscoveryBusy(RuntimeError):
    """A discovery job is already running."""


@dataclass
class DiscoveryJob:
    """Progress of one scan, as GET /api/discover shows it."""

    job_id: str
    subnet: str
    total: int
    state: str = "running"
    probed: int = 0
    found: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    started_ts: float = field(default_factory=time.time)
    finished_ts: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON view."""
        return {"job_id": self.job_id, "state": self.state, "subnet": self.subnet, "probed": self.probed,
                "total": self.total, "found": list(self.found), "error": self.error,
                "started_ts": self.started_ts, "finished_ts": self.finished_ts}


class Discovery:
    """Runs at most one scan at a time and remembers the latest."""

    def __init__(self, fleet: FleetManager, *, on_progress: Callable[[dict], None] | None = None) -> None:
        self.fleet = fleet
        self.on_progress = on_progress or fleet.notify
        self.latest: DiscoveryJob | None = None
        self._lock = threading.Lock()
        self._last_push = 0.0

    def status(self) -> dict[str, Any]:
        """The latest job, or an idle placeholder naming the default subnet; both with ``default_subnet``."""
        default = self.default_subnet()
        if self.latest:
            return {**self.latest.to_dict(), **default}
        return {"job_id": None, "state": "idle", "subnet": default["default_subnet"], "probed": 0, "total": 0,
                "found": [], "error": None, **default}

    def default_subnet(self) -> dict[str, Any]:
        """What a scan without a subnet would cover (the first-run welcome pre-fills it) and whether it was
        detected from this host's own LAN (network.subnet "auto" or empty) rather than configured."""
        setting = self.fleet.config.network.subnet
        try:
            subnet: str | None = subnets_text(resolve_subnets(setting))
        except ValueError:  # no default route and nothing configured: the user must type one
            subnet = None
        return {"default_subnet": subnet, "subnet_detected": "auto" in subnet_parts(setting)}

    def start(self, subnet: str | None = None, *, wait: bool = False) -> DiscoveryJob:
        """Validate the subnet(s) and scan them in a background thread (ValueError, DiscoveryBusy).

        ``subnet`` may list several networks ("192.168.1.0/24, 10.0.5.0/24"), as network.subnet may;
        together they hold at most MAX_HOSTS addresses, each address probed once.
        """
        nets = resolve_subnets(subnet or self.fleet.config.network.subnet)
        if len(nets) > MAX_SUBNETS:
            raise ValueError(f"at most {MAX_SUBNETS} networks at once, got {len(nets)}")
        size = sum(net.num_addresses for net in nets)
        if size > MAX_HOSTS:
            what = str(nets[0]) if len(nets) == 1 else f"{subnets_text(nets)} together"
            raise ValueError(f"{what} has {size} addresses; scan at most {MAX_HOSTS} (a /20) at once")
        hosts = list(dict.fromkeys(str(h) for net in nets for h in (net.hosts() if net.num_addresses > 2 else net)))
        with self._lock:
            if self.latest and self.latest.state == "running":
                raise DiscoveryBusy("a discovery is already running")
            job = DiscoveryJob(job_id=uuid.uuid4().hex[:12], subnet=subnets_text(nets), total=len(hosts))
            self.latest = job
        thread = threading.Thread(target=self._run, args=(job, hosts), name="discovery", daemon=True)
        thread.start()
        if wait:
            thread.join()
        return job

    def _push(self, job: DiscoveryJob, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_push > 0.25:  # at most 4 progress messages a second
            self._last_push = now
            self.on_progress({"type": "discovery", **job.to_dict()})

    def _run(self, job: DiscoveryJob, hosts: list[str]) -> None:
        cfg = self.fleet.config.network
        ports = detect.sweep_ports(cfg.port_offset)  # cgminer API, Whatsminer API 3, HTTP
        try:
            self._push(job, force=True)
            open_ports = detect.sweep(hosts, ports, cfg.probe_timeout_sec)
            job.probed = len(hosts) - len(open_ports)
            self._push(job)
            futures = {self.fleet.executor.submit(detect.fingerprint, host, found, port_offset=cfg.port_offset,
                                                  timeout=max(1.0, self.fleet.config.polling.timeout_sec)): host
                       for host, found in open_ports.items()}
            new_records = []
            for future in as_completed(futures):
                host = futures[future]
                job.probed += 1
                try:
                    detection = future.result()
                except Exception as exc:  # noqa: BLE001 - one odd host must not end the scan
                    log.info("discovery: %s: %s", host, exc)
                    detection = None
                if detection is not None:
                    record = self._store(host, detection)
                    if record is not None:
                        new_records.append(record)
                        job.found.append(record.to_dict())
                self._push(job)
            if new_records:
                self.fleet.poll_round(new_records)  # show them at once, not one interval later
                job.found = [r.to_dict() for r in sorted(new_records, key=lambda r: ip_sort_key(r.ip))] + [
                    m for m in job.found if m["ip"] not in {r.ip for r in new_records}]
                job.found.sort(key=lambda m: ip_sort_key(m["ip"]))
            job.state = "done"
            self.fleet.event("discovery", f"{job.subnet}: {len(job.found)} miners found in "
                             f"{time.time() - job.started_ts:.1f} s")
        except Exception as exc:  # noqa: BLE001 - reported through the job, never crashes the app
            log.exception("discovery of %s failed", job.subnet)
            job.state, job.error = "failed", str(exc)
        finally:
            job.finished_ts = time.time()
            self._push(job, force=True)

    def _store(self, host: str, detection: detect.Detection):
        """Add or refresh a found miner; a known one keeps its settings."""
        try:
            known = self.fleet.get(host)
        except KeyError:
            known = None
        if known is not None and known.family == detection.family:
            return known
        try:  # port None: the family's default port plus network.port_offset, where it was found
            return self.fleet.add(host, detection.family, model=detection.model, source="discovery")
        except ValueError as exc:  # detected a family we have no driver for
            log.info("discovery: %s looks like %s, which is not supported yet (%s)", host, detection.family, exc)
            return None
