"""Response models for error reports."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorReportRead(BaseModel):
    """One recorded server error (a 5xx answer or an unhandled exception)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    object: Literal["error_report"] = "error_report"
    occurred_at: datetime
    request_id: str | None = Field(description="The X-Request-ID of the failed request; quote it to support.")
    method: str | None = Field(description="The HTTP method, or TOOL for an MCP tool call.")
    route: str = Field(description="The route template (`/api/v1/customers/{customer_id}`), or `mcp:<tool>`.")
    status: int
    exception_type: str | None
    message: str = Field(description="The error message with credentials, emails and card numbers removed.")
    organization_id: str | None = Field(description="The caller's organisation, when the request was authenticated.")
