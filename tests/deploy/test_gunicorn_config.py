"""deploy/gunicorn.conf.py as gunicorn and its uvicorn worker read it."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

from gunicorn.config import Config as GunicornConfig
from uvicorn.config import Config as UvicornConfig

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "gunicorn.conf.py"


def _gunicorn_config() -> GunicornConfig:
    """The file's settings, validated by gunicorn the way `gunicorn -c` applies them."""
    config = GunicornConfig()
    for name, value in runpy.run_path(str(CONFIG)).items():
        if name in config.settings:
            config.set(name, value)
    return config


async def _client_seen_by_the_app(headers: list[tuple[bytes, bytes]]) -> Any:
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], _receive: Any, _send: Any) -> None:
        seen["client"] = scope["client"]

    # What uvicorn_worker builds from the gunicorn settings (its proxy headers stay on by default).
    uvicorn = UvicornConfig(app=app, forwarded_allow_ips=_gunicorn_config().forwarded_allow_ips, lifespan="off")
    uvicorn.load()
    scope = {"type": "http", "client": ("127.0.0.1", 50000), "headers": headers, "scheme": "http"}
    await uvicorn.loaded_app(scope, None, None)
    return seen["client"]


async def test_uvicorn_under_gunicorn_trusts_no_forwarded_for_even_from_loopback() -> None:
    client = await _client_seen_by_the_app([(b"x-forwarded-for", b"203.0.113.7")])
    assert client == ("127.0.0.1", 50000)


def test_the_file_is_valid_gunicorn_configuration() -> None:
    config = _gunicorn_config()
    assert config.worker_class_str == "uvicorn_worker.UvicornWorker"
    assert config.forwarded_allow_ips == []
