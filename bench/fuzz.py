"""Zero 5xx on any input: schemathesis over ``/api/v1/openapi.json`` against the real app
(a real admin session, real row ids), positive and negative cases for every operation.

    .venv/bin/python bench/fuzz.py [--examples 120] [--database-url postgresql+psycopg://…]

Last line: one JSON object with ``requests``, ``statuses`` (count per status), ``5xx``
(target 0), the slowest operations and the time taken.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=120,
                        help="generated cases per operation (about; > 5,000 in all at 120)")
    parser.add_argument("--database-url", default="",
                        help="default: a fresh SQLite file; a PostgreSQL URL is used as is")
    parser.add_argument("--seed", type=int, default=None, help="derandomize the generation")
    args = parser.parse_args()

    from plugin import migrate
    from plugin.app import create_app
    from plugin.web.core import demo_identity
    from tests.inputs.api_fuzz import fuzz, seed_rows

    instance = Path(tempfile.mkdtemp(prefix="salescoach-fuzz-"))
    url = args.database_url or f"sqlite:///{instance / 'fuzz.db'}"
    migrate.upgrade(url)
    app = create_app({"env": "test", "instance_path": instance, "database_url": url,
                      "secret_key": "fuzz-" + "k" * 40, "demo": True,
                      "salesforce_client_id": "sf-client", "salesforce_client_secret": "sf-s",
                      "hubspot_client_id": "hs-client", "hubspot_client_secret": "hs-s",
                      "public_base_url": "https://coach.example.test"})
    logging.getLogger().setLevel(logging.CRITICAL)  # refused input is logged at INFO/WARNING
    with app.app_context():
        identity = demo_identity()
    real = seed_rows(app, identity)
    token = app.extensions["salescoach.signer"].issue(identity)
    began = time.perf_counter()
    result = fuzz(app, token, args.examples, real_ids=real, seed=args.seed)
    elapsed = time.perf_counter() - began
    for line in result.server_errors[:20]:
        print(line, file=sys.stderr)
    server_errors = sum(n for code, n in result.statuses.items() if code >= 500)
    print(json.dumps({
        "requests": result.requests,
        "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
        "5xx": server_errors,
        "check_failures": len(result.server_errors),
        "operations": len(result.seconds),
        "database": url.split(":", 1)[0],
        "slowest_s": {k: round(v, 2) for k, v in result.seconds.most_common(3)},
        "seconds": round(elapsed, 1),
    }))


if __name__ == "__main__":
    main()
