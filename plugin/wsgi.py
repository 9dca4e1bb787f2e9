"""WSGI entry point for gunicorn: ``gunicorn plugin.wsgi:app``."""

from plugin.app import create_app
from plugin.live import engines

app = create_app()

# The serving process loads the speech and embedding models at start, not on the first call.
if app.config["SETTINGS"].env != "test":
    engines.warm_up_in_background(app.config["SETTINGS"])
