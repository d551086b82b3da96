"""Domain-agnostic building blocks: database, problems, idempotency, request context, logging, metrics."""
