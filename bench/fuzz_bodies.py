"""Send every malformed body of tests/bad_bodies.py to every JSON write route and count the answers.

    .venv/bin/python bench/fuzz_bodies.py [--repeat N]

In-process (Flask's test client, fake miners, no network). Prints the number of
requests, the status codes seen, every 5xx by route and case, bad bodies that
a route accepted (2xx), and answers that were not JSON. Exit status 1 if any answer was a 5xx.
"""

from __future__ import annotations

import argparse
import collections
import logging
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main() -> int:
    """Run the fuzz and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="send every case this many times")
    args = parser.parse_args()
    from tests import bad_bodies as bb

    logging.disable(logging.CRITICAL)  # a 500 logs a traceback each time; the counts are what matter here
    codes: collections.Counter = collections.Counter()
    failures: list[str] = []
    not_json: list[str] = []
    accepted: list[str] = []
    total = 0
    with tempfile.TemporaryDirectory() as tmp:
        app, runtime, _scans = bb.build(Path(tmp) / "rules")
        rules = bb.write_rules(app)
        runtime.shutdown()
    for method, rule in rules:  # a fresh app per route: one route's accepted body cannot hide another's
        with tempfile.TemporaryDirectory() as tmp:
            app, runtime, _scans = bb.build(Path(tmp))
            client = app.test_client()
            spec = bb.SPECS.get((method, rule), bb.Spec())
            try:
                for _ in range(args.repeat):
                    for case in bb.cases(spec):
                        bb.reset_login_limit()
                        reply = bb.send(client, method, rule, spec, case)
                        total += 1
                        codes[reply.status_code] += 1
                        line = f"{reply.status_code} {method} {rule}: {case.label}"
                        if reply.status_code >= 500:
                            failures.append(line)
                        if reply.status_code < 300 and (method, rule) not in bb.IGNORES_BODY:
                            accepted.append(line)
                        if reply.get_json(silent=True) is None:
                            not_json.append(line)
            finally:
                runtime.shutdown()
    print(f"requests: {total}")
    print("status codes: " + ", ".join(f"{code} x{n}" for code, n in sorted(codes.items())))
    print(f"5xx: {len(failures)}")
    for line in failures:
        print("  " + line)
    print(f"bad bodies accepted (2xx) by a route that reads its body: {len(accepted)}")
    for line in accepted[:60]:
        print("  " + line)
    print(f"answers that are not JSON: {len(not_json)}")
    for line in not_json[:40]:
        print("  " + line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
