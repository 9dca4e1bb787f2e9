"""WSGI entry point for gunicorn: ``gunicorn plugin.wsgi:app``."""

import os
import sys

# Many small matrix products (one per coached turn) run at once on the pool threads; a BLAS
# thread team per product only adds hand-offs and spin-waiting (measured: 11.7 ms CPU per
# MiniLM turn single-threaded, 15.2 ms with two threads). Set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from plugin.app import create_app  # noqa: E402
from plugin.live import engines  # noqa: E402

# One asyncio thread carries every live socket; each of its syscalls gives up the GIL and it
# must get it back from whichever pool thread (coach, database) holds it. CPython's default
# 5 ms switch interval turns that into a convoy under load; 0.5 ms keeps the loop responsive.
sys.setswitchinterval(0.0005)

app = create_app()

# The serving process loads the speech and embedding models at start, not on the first call.
if app.config["SETTINGS"].env != "test":
    engines.warm_up_in_background(app.config["SETTINGS"])
