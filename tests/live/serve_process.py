"""A second web process for tests: ``python tests/live/serve_process.py '<json overrides>'``
builds the app from those settings, serves it on a free port (werkzeug, threaded; the
WebSocket routes work on it) and prints ``PORT <n>`` once it listens."""

from __future__ import annotations

import json
import sys

from werkzeug.serving import make_server


def main() -> None:
    from plugin.app import create_app

    app = create_app(json.loads(sys.argv[1]))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(f"PORT {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
