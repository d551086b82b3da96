"""Operator tooling: checks a deployment from the outside, the way a client sees it."""
