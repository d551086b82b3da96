"""Background jobs: broker selection, the outbox relay, the worker and the scheduler."""
