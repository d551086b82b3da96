"""Recording server errors (scrubbed) and reading them back with the right scope. Services never commit."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.error_reports import repository
from shipyard.identity import repository as identity_repository
from shipyard.identity.principal import Principal
from shipyard.kit.redaction import scrub
from shipyard.models.error_report import ErrorReport
from shipyard.settings import Settings

MAX_MESSAGE = 1000
MAX_ROUTE = 200
REDACTED = "[REDACTED]"
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# `password=hunter2`, `"api_key": "abc"`, `access_token: xyz`: the value after a secret-sounding key.
_KEYED_SECRET = re.compile(
    r"(?i)\b([\w-]*(?:password|passwd|pwd|secret|token|api[_-]?key|authorization|cookie|credential)[\w-]*)"
    r"(\s*[\"']?\s*[:=]\s*[\"']?)([^\s\"',;&)}\]]+)"
)
# Card and account numbers: 13 to 19 digits, optionally grouped by spaces or hyphens.
_LONG_NUMBER = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")
# SQLAlchemy appends the statement's bound values to its errors; they are row data.
_SQL_PARAMETERS = re.compile(r"\[parameters: [^\n]*")


def scrub_message(text: str) -> str:
    """`text` without credentials (tokens, bearer values, URL passwords, `key=secret`), emails or card numbers."""
    text = scrub(text)
    text = _SQL_PARAMETERS.sub(f"[parameters: {REDACTED}]", text)
    text = _KEYED_SECRET.sub(rf"\1\2{REDACTED}", text)
    text = _EMAIL.sub("[EMAIL]", text)
    text = _LONG_NUMBER.sub("[NUMBER]", text)
    # NUL cannot be stored in PostgreSQL text; other control characters only garble a terminal.
    text = "".join(char if char.isprintable() or char in "\n\t" else "?" for char in text)
    return text[:MAX_MESSAGE]


def exception_type_name(exc: BaseException) -> str:
    """`RuntimeError` for built-ins, `sqlalchemy.exc.OperationalError` for the rest."""
    cls = type(exc)
    name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    return name[:200]


def record(
    session: AsyncSession,
    *,
    status: int,
    route: str,
    method: str | None,
    request_id: str | None,
    exc: BaseException | None,
    organization_id: str | None,
) -> ErrorReport:
    """Stage a report of one server error; the message is scrubbed before it is stored."""
    message = f"The server answered {status}." if exc is None else (str(exc) or type(exc).__name__)
    report = ErrorReport(
        request_id=request_id[:128] if request_id else None,
        method=method[:8] if method else None,
        route=route[:MAX_ROUTE],
        status=status,
        exception_type=exception_type_name(exc) if exc is not None else None,
        message=scrub_message(message),
        organization_id=organization_id,
    )
    repository.add(session, report)
    return report


async def prune(session: AsyncSession) -> int:
    """Keep only the newest 1,000 reports."""
    return await repository.prune(session)


def operator_org(settings: Settings) -> str | None:
    """The slug of the deployment's operator organisation (`SHIPYARD_OPERATOR_ORG`), if any."""
    # getattr: the setting is declared in settings.py by the platform core; until then nobody is an operator.
    slug = getattr(settings, "operator_org", None)
    return str(slug) if slug else None


async def is_operator(session: AsyncSession, principal: Principal, operator_slug: str | None) -> bool:
    """True when the principal belongs to the operator organisation."""
    if not operator_slug:
        return False
    organization = await identity_repository.get_organization(session, principal.organization_id)
    return organization is not None and organization.slug == operator_slug


@dataclass(frozen=True, slots=True)
class VisibleReports:
    """A page of reports and whether it spans the whole deployment."""

    reports: list[ErrorReport]
    deployment_wide: bool


async def list_visible(
    session: AsyncSession, principal: Principal, *, operator_slug: str | None, limit: int, after_id: str | None
) -> VisibleReports:
    """Every report for an operator; otherwise only the principal's organisation's (fetches `limit + 1`)."""
    if await is_operator(session, principal, operator_slug):
        return VisibleReports(await repository.list_all(session, limit=limit, after_id=after_id), deployment_wide=True)
    reports = await repository.list_for_organization(session, principal.organization_id, limit=limit, after_id=after_id)
    return VisibleReports(reports, deployment_wide=False)
