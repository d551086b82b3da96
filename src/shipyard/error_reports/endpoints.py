"""Routes for `/api/v1/errors`: recent server errors, an operator's view of the deployment."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from shipyard.error_reports import service as error_service
from shipyard.error_reports.schemas import ErrorReportRead
from shipyard.identity.auth import require_scopes
from shipyard.identity.principal import Principal
from shipyard.kit.api import API_V1
from shipyard.kit.deps import AppSettings, DBSession
from shipyard.kit.pagination import Page, PageParams, make_page, page_params_for
from shipyard.kit.problems import problem_responses

router = APIRouter(prefix=f"{API_V1}/errors", tags=["errors"], responses=problem_responses(401, 403))
Paging = Annotated[PageParams, Depends(page_params_for("err"))]
ErrorsRead = Annotated[Principal, require_scopes("errors:read")]


@router.get("", response_model=Page[ErrorReportRead], responses=problem_responses(400, 422))
async def list_errors(
    principal: ErrorsRead, session: DBSession, paging: Paging, settings: AppSettings
) -> Page[ErrorReportRead]:
    """Recent server errors (5xx and unhandled exceptions), newest first; the last 1,000 are kept.

    Operators (members of the organisation named by `SHIPYARD_OPERATOR_ORG`) see every
    organisation's errors and those of unauthenticated requests; any other token sees only its own
    organisation's. Messages are scrubbed of credentials, emails and card numbers.
    """
    visible = await error_service.list_visible(
        session,
        principal,
        operator_slug=error_service.operator_org(settings),
        limit=paging.limit,
        after_id=paging.after_id,
    )
    reports = visible.reports
    items, cursor = make_page(
        [ErrorReportRead.model_validate(r) for r in reports], [r.id for r in reports], paging.limit
    )
    return Page[ErrorReportRead](data=items, next_cursor=cursor)
