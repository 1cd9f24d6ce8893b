"""Command line for a running simulator's control server (``python -m simulator --control HOST:PORT``).

    python -m simulator.ctl list
    python -m simulator.ctl stop 127.77.0.10          # fault "down": connection refused
    python -m simulator.ctl start 127.77.0.10         # no fault, no conditions
    python -m simulator.ctl fault 127.77.0.10 hang    # any fault name; "none" clears it
    python -m simulator.ctl condition 127.77.0.10 hot fan_stopped   # replaces the set
    python -m simulator.ctl clear 127.77.0.10         # the conditions only (a stopped miner stays stopped)

The address comes from --control, else $SIM_CONTROL, else 127.77.0.2:8750 (the demo's).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

from .conditions import CONDITIONS
from .control import DEFAULT_PORT, parse_address
from .faults import FAULTS

DEFAULT_ADDRESS = f"127.77.0.2:{DEFAULT_PORT}"
TIMEOUT_S = 10.0


class CtlError(Exception):
    """The control server refused a request or could not be reached (the message says which)."""


def request(address: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One request to the control server; its JSON reply, or CtlError with the server's reason."""
    host, port = parse_address(address)
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://{host}:{port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as reply:
            return json.loads(reply.read().decode())
    except urllib.error.HTTPError as exc:
        try:
            reason = json.loads(exc.read().decode()).get("error", exc.reason)
        except (ValueError, AttributeError):
            reason = exc.reason
        raise CtlError(f"{exc.code}: {reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CtlError(f"no simulator control server at {host}:{port} ({reason}); "
                       "start the simulator with --control HOST:PORT") from None


def line(miner: dict[str, Any]) -> str:
    """One miner as `list` prints it."""
    state = "down" if miner.get("fault") == "down" else (miner.get("fault") or "ok")
    conditions = ",".join(miner.get("conditions") or []) or "-"
    return f"{miner['ip']:<15} {miner['kind']:<12} {str(miner['model'])[:22]:<22} {state:<10} {conditions}"


def build_parser() -> argparse.ArgumentParser:
    """Subcommands list/stop/start/fault/condition/clear."""
    parser = argparse.ArgumentParser(prog="python -m simulator.ctl",
                                     description="Control a running simulator (python -m simulator --control).")
    parser.add_argument("--control", default=os.environ.get("SIM_CONTROL") or DEFAULT_ADDRESS,
                        help=f"HOST:PORT of the control server (default $SIM_CONTROL or {DEFAULT_ADDRESS})")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every miner: address, kind, model, fault, conditions")
    for name, text in (("stop", "stop listening (fault down: connection refused)"),
                       ("start", "listen again, no fault and no conditions"),
                       ("clear", "drop the conditions (the fault stays)")):
        sub.add_parser(name, help=text).add_argument("ip")
    fault = sub.add_parser("fault", help="set a fault ('none' clears it)")
    fault.add_argument("ip")
    fault.add_argument("name", choices=[f or "none" for f in FAULTS])
    condition = sub.add_parser("condition", help="replace the conditions with NAME... (none: clear them)")
    condition.add_argument("ip")
    condition.add_argument("names", nargs="*", choices=list(CONDITIONS), metavar="NAME",
                           help=f"one or more of {', '.join(CONDITIONS)}")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; 0 on success, 1 when the server refused, 2 for a bad address/unreachable server."""
    args = build_parser().parse_args(argv)
    body: dict[str, Any] | None = None
    if args.command == "stop":
        body = {"fault": "down"}
    elif args.command == "start":
        body = {"fault": None, "conditions": []}
    elif args.command == "clear":
        body = {"conditions": []}
    elif args.command == "fault":
        body = {"fault": None if args.name == "none" else args.name}
    elif args.command == "condition":
        body = {"conditions": list(args.names)}
    try:
        if args.command == "list":
            for miner in request(args.control, "GET", "/miners"):
                print(line(miner))
        else:
            print(line(request(args.control, "POST", f"/miners/{args.ip}", body)))
    except ValueError as exc:  # a bad --control address
        print(f"simulator.ctl: {exc}", file=sys.stderr)
        return 2
    except CtlError as exc:
        print(f"simulator.ctl: {exc}", file=sys.stderr)
        return 1 if str(exc)[:3].isdigit() else 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
