"""The retry schedule, Retry-After parsing, and the encryption of secrets at rest."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from shipyard.kit.crypto import DecryptionError, SecretBox
from shipyard.settings import Settings
from shipyard.webhooks.delivery import parse_retry_after
from shipyard.webhooks.retry import RetryPolicy


def test_the_default_schedule_is_eleven_attempts_over_about_three_days() -> None:
    policy = RetryPolicy.from_settings(Settings())
    assert policy.max_attempts == 11
    total = sum(policy.schedule)
    assert timedelta(days=3) < timedelta(seconds=total) < timedelta(days=4)
    assert policy.schedule[:3] == (0.0, 5.0, 300.0)


def test_delays_follow_the_schedule_within_the_jitter_and_end_after_the_last_slot() -> None:
    policy = RetryPolicy(schedule=(0.0, 10.0, 100.0), jitter=0.1, retry_after_max_s=50.0, rng=random.Random(7))  # noqa: S311 - jitter, seeded for the test
    for _ in range(50):
        assert 9.0 <= (policy.delay_after(1) or 0) <= 11.0
        assert 90.0 <= (policy.delay_after(2) or 0) <= 110.0
    assert policy.delay_after(3) is None
    assert policy.delay_after(1, retry_after_s=30.0) == 30.0
    assert policy.delay_after(1, retry_after_s=500.0) == 50.0  # capped
    assert policy.delay_after(3, retry_after_s=1.0) is None  # no attempt left, whatever the receiver says


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120", now=now) == 120.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now) == 90.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=90), usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


def test_a_sealed_secret_opens_only_with_its_key_and_for_its_row() -> None:
    box = SecretBox("k" * 40, "purpose")
    sealed = box.encrypt("whsec_abc", associated="we_1")
    assert sealed.startswith("v1:")
    assert box.decrypt(sealed, associated="we_1") == "whsec_abc"
    assert box.encrypt("whsec_abc", associated="we_1") != sealed  # a fresh nonce each time
    with pytest.raises(DecryptionError):
        box.decrypt(sealed, associated="we_2")
    with pytest.raises(DecryptionError):
        SecretBox("j" * 40, "purpose").decrypt(sealed, associated="we_1")
    with pytest.raises(DecryptionError):
        SecretBox("k" * 40, "other purpose").decrypt(sealed, associated="we_1")
    with pytest.raises(DecryptionError):
        box.decrypt(sealed[:-4] + "AAAA", associated="we_1")
