"""ETag and If-Match for optimistic concurrency."""

from __future__ import annotations

from fastapi import Request

from shipyard.kit.problems import ProblemError


def etag_for(resource_id: str, version: int) -> str:
    """A strong ETag that changes with every committed update."""
    return f'"{resource_id}.{version}"'


def check_if_match(request: Request, current: str, *, required: bool) -> None:
    """412 when If-Match names another version; 428 when it is required and absent."""
    fields = request.headers.getlist("if-match")
    if not fields:
        if required:
            raise ProblemError(
                428,
                "precondition_required",
                "Send If-Match with the ETag from your last read to change this resource.",
            )
        return
    # The header is a list, and a list may arrive split over several fields.
    candidates = {candidate.strip() for field in fields for candidate in field.split(",")}
    if "*" in candidates or current in candidates:
        return
    raise ProblemError(
        412,
        "precondition_failed",
        "The resource changed since you read it; fetch it again and retry with the new ETag.",
        current_etag=current,
    )
