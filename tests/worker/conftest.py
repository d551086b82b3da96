"""Worker tests share the webhooks fixtures (an app with jobs, a receiver, an endpoint)."""

from tests.webhooks.conftest import fast_settings, hooked, receiver

__all__ = ["fast_settings", "hooked", "receiver"]
