"""The event outbox: what happened in an organisation, recorded with the change that caused it."""
