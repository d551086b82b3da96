"""Scope dependencies for webhooks and events."""

from __future__ import annotations

from typing import Annotated

from shipyard.identity.auth import require_scopes
from shipyard.identity.principal import Principal

WebhooksRead = Annotated[Principal, require_scopes("webhooks:read")]
WebhooksWrite = Annotated[Principal, require_scopes("webhooks:write")]
