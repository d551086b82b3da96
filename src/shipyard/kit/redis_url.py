"""Valkey/Redis URLs: one REDIS_URL, a logical database per role (db0 sessions, db1 rate limits, db2 jobs)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit


def redis_db_url(url: str, db: int) -> str:
    """`url` pointed at logical database `db`, credentials and other options kept.

    redis-py reads the database from the path of a redis:// URL but lets a `db` query parameter win,
    and a unix:// URL has only the parameter; so any `db` parameter is dropped and the database set
    where each scheme expects it.
    """
    parts = urlsplit(url)
    options = [(name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if name != "db"]
    if parts.scheme == "unix":
        # geturl() would drop the empty authority ("unix:/run/..."); keep the usual spelling.
        return f"unix://{parts.netloc}{parts.path}?{urlencode([*options, ('db', str(db))])}"
    return parts._replace(path=f"/{db}", query=urlencode(options)).geturl()
