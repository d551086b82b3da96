"""Job context: the request ID (and job name) that every log line of a job carries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

from shipyard.kit.context import RequestContext, reset_request_context, set_request_context


@contextmanager
def job_context(job: str, request_id: str | None, **fields: Any) -> Iterator[None]:  # noqa: ANN401 - log fields
    """Run a block as job `job` on behalf of the request `request_id`."""
    token = set_request_context(RequestContext(request_id=request_id)) if request_id else None
    try:
        with structlog.contextvars.bound_contextvars(job=job, request_id=request_id, **fields):
            yield
    finally:
        if token is not None:
            reset_request_context(token)
