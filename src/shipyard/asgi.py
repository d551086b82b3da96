"""The ASGI app for gunicorn: `gunicorn -c deploy/gunicorn.conf.py shipyard.asgi:app`.

Building the app connects to nothing; the lifespan opens the database when a worker starts.
"""

from shipyard.app import create_app
from shipyard.kit.logging import configure_logging
from shipyard.settings import LogFormat, Settings

_settings = Settings()
configure_logging(json_lines=_settings.log_format is LogFormat.JSON, level=_settings.log_level)
app = create_app(_settings)
