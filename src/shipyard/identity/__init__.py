"""Organisations, users, memberships, API tokens and the Principal every request resolves to."""
