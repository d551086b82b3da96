"""Tests for shipyard.email."""  # noqa: A005 - mirrors src/shipyard/email, as tests.email
