"""The versioned API's path prefix.

Routers carry the full prefix themselves (rather than receiving it from `include_router`) so that
each route's `path` is the complete template that logs and metrics label requests with.
"""

API_V1 = "/api/v1"
