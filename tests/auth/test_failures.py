"""The `auth_failed` event: its shape (what fail2ban and operators rely on) and what it never carries."""

from __future__ import annotations

import re

import pytest
import structlog

from shipyard.auth.failures import EVENT, KNOWN_REASONS, MAX_FIELD_CHARS, report_auth_failure
from tests.fixtures.log_capture import production_logs

JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJhZGEiLCJlbWFpbCI6ImFkYUBleGFtcGxlLmNvbSJ9.c2lnbmF0dXJl"


def test_a_failure_is_one_warning_event_with_the_client_ip_and_reason() -> None:
    with production_logs() as logs:
        structlog.contextvars.bind_contextvars(request_id="req-123")
        try:
            report_auth_failure(reason="state_mismatch", client_ip="203.0.113.7", provider="google")
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
    [line] = logs.lines()
    assert line["event"] == EVENT == "auth_failed"
    assert line["level"] == "warning"
    assert line["client_ip"] == "203.0.113.7"
    assert line["reason"] == "state_mismatch"
    assert line["provider"] == "google"
    assert line["request_id"] == "req-123"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", line["timestamp"])


def test_the_event_is_logged_even_when_the_level_is_warning() -> None:
    with production_logs(level="WARNING") as logs:
        report_auth_failure(reason="invalid_session", client_ip="198.51.100.4")
    assert [line["reason"] for line in logs.events("auth_failed")] == ["invalid_session"]


def test_token_looking_values_are_scrubbed_whatever_their_key() -> None:
    with production_logs() as logs:
        report_auth_failure(
            reason="invalid_id_token",
            client_ip="203.0.113.7",
            provider="github",
            id_token=JWT,
            detail=f"the provider sent {JWT}",
            header="Bearer abc.def.ghi-secret",
            client_secret="s3cr3t-value",
        )
    text = logs.text
    assert "eyJhbGci" not in text
    assert "abc.def.ghi-secret" not in text
    assert "s3cr3t-value" not in text
    [line] = logs.lines()
    assert line["id_token"] == "[REDACTED]"
    assert line["detail"] == "the provider sent [REDACTED]"
    assert line["client_secret"] == "[REDACTED]"


def test_the_client_ip_is_canonical_or_null_never_free_text() -> None:
    with production_logs() as logs:
        report_auth_failure(reason="rate_limited", client_ip="::ffff:203.0.113.9")
        report_auth_failure(reason="rate_limited", client_ip="2001:DB8::0001")
        report_auth_failure(reason="rate_limited", client_ip='1.2.3.4", "client_ip": "6.6.6.6')
        report_auth_failure(reason="rate_limited", client_ip=None)
    assert [line["client_ip"] for line in logs.lines()] == ["203.0.113.9", "2001:db8::1", None, None]


def test_extra_fields_are_flattened_so_nothing_nests_a_second_client_ip() -> None:
    with production_logs() as logs:
        report_auth_failure(
            reason="provider_error",
            client_ip="203.0.113.7",
            upstream={"client_ip": "6.6.6.6"},
            attempts=3,
            remembered=True,
            description="x" * 1000,
        )
    [raw] = logs.raw_lines()
    assert raw.count('"client_ip"') == 1
    [line] = logs.lines()
    assert isinstance(line["upstream"], str)
    assert line["attempts"] == 3
    assert line["remembered"] is True
    assert len(line["description"]) == MAX_FIELD_CHARS


@pytest.mark.parametrize("reason", ["State Mismatch", "state-mismatch", "", "x" * 65])
def test_a_reason_that_is_not_a_stable_snake_case_code_is_a_programming_error(reason: str) -> None:
    with pytest.raises(ValueError, match="snake_case"):
        report_auth_failure(reason=reason, client_ip="203.0.113.7")


@pytest.mark.parametrize("field", ["event", "timestamp", "level", "request_id"])
def test_fields_cannot_overwrite_the_keys_the_pipeline_sets(field: str) -> None:
    with pytest.raises(ValueError, match="reserved"):
        report_auth_failure(reason="state_mismatch", client_ip="203.0.113.7", **{field: "x"})


def test_the_documented_reasons_are_snake_case() -> None:
    assert {"state_mismatch", "invalid_id_token", "rate_limited", "refresh_reuse_detected"} <= KNOWN_REASONS
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", reason) for reason in KNOWN_REASONS)
