"""Retries on the compressed schedule, 410 Gone, Retry-After, and giving up: real receiver, real failures."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from shipyard.models import AuditEvent, EmailMessage
from tests.fixtures.jobs import eventually
from tests.fixtures.receiver import Received, Reply
from tests.webhooks.conftest import Hooked


def _fail_first(count: int, reply: Reply) -> Any:
    seen: list[str] = []

    def script(_request: Received) -> Reply:
        seen.append("x")
        return reply if len(seen) <= count else Reply(200, b"finally")

    return script


async def _only_delivery(hooked: Hooked, status: str) -> dict[str, Any]:
    async def finished() -> list[dict[str, Any]]:
        return [d for d in await hooked.deliveries() if d["status"] == status]

    [delivery] = await eventually(finished)
    return delivery


async def test_a_receiver_failing_twice_gets_three_attempts_with_growing_gaps(hooked: Hooked) -> None:
    hooked.receiver.script = _fail_first(2, Reply(500, b"boom"))
    await hooked.create_customer()
    requests = await hooked.receiver.wait_for(3)
    delivery = await _only_delivery(hooked, "succeeded")
    assert delivery["attempts"] == 3
    assert len({r.webhook_id for r in requests}) == 1  # the same message, retried
    first_gap, second_gap = requests[1].at - requests[0].at, requests[2].at - requests[1].at
    # Schedule [0, 0.3, 0.6, ...]: each wait is at least its slot, and the second is longer.
    assert first_gap >= 0.3
    assert second_gap >= 0.6
    assert second_gap > first_gap
    log = (await hooked.delivery(delivery["id"]))["attempt_log"]
    assert [a["status_code"] for a in log] == [500, 500, 200]
    assert [a["outcome"] for a in log] == ["failed", "failed", "succeeded"]
    assert log[0]["response_body"] == "boom"


async def test_410_gone_fails_the_delivery_disables_the_endpoint_and_tells_the_owners(hooked: Hooked) -> None:
    hooked.receiver.script = lambda _r: Reply(410, b"gone")
    await hooked.create_customer()
    delivery = await _only_delivery(hooked, "failed")
    assert delivery["attempts"] == 1
    assert delivery["last_status_code"] == 410
    endpoint = await hooked.read_endpoint()
    assert endpoint["enabled"] is False
    assert endpoint["disabled_reason"] == "gone"
    async with hooked.app.state.database.reader() as session:
        audit = list(await session.scalars(select(AuditEvent).where(AuditEvent.action == "webhook_endpoint.disabled")))
        emails = list(await session.scalars(select(EmailMessage).where(EmailMessage.kind == "webhook_disabled")))
    assert [(a.target_id, a.organization_id, a.details["reason"]) for a in audit] == [
        (hooked.endpoint["id"], hooked.tenant.organization_id, "gone")
    ]
    assert [e.to_address for e in emails] == ["owner@acme.example"]
    # A disabled endpoint receives nothing more.
    await hooked.create_customer("Bob")
    await hooked.create_customer("Cy")
    async with hooked.app.state.database.reader() as session:
        assert len(await hooked.deliveries()) == 1
    assert len(hooked.receiver.requests) == 1


async def test_retry_after_on_503_is_honoured_over_the_schedule(hooked: Hooked) -> None:
    hooked.receiver.script = _fail_first(1, Reply(503, b"busy", {"Retry-After": "2"}))
    await hooked.create_customer()
    first, second = await hooked.receiver.wait_for(2, timeout=10)
    assert second.at - first.at >= 2.0  # the schedule alone would have waited 0.3 s
    await _only_delivery(hooked, "succeeded")


async def test_retry_after_on_429_is_honoured_too(hooked: Hooked) -> None:
    hooked.receiver.script = _fail_first(1, Reply(429, b"slow down", {"Retry-After": "1"}))
    await hooked.create_customer()
    first, second = await hooked.receiver.wait_for(2, timeout=10)
    assert second.at - first.at >= 1.0
    await _only_delivery(hooked, "succeeded")


async def test_after_the_last_attempt_the_delivery_fails_and_the_endpoint_is_disabled(hooked: Hooked) -> None:
    hooked.receiver.script = lambda _r: Reply(500, b"down")
    await hooked.create_customer()
    delivery = await _only_delivery(hooked, "failed")
    assert delivery["attempts"] == 4  # the compressed schedule has four slots
    assert len(hooked.receiver.requests) == 4
    endpoint = await hooked.read_endpoint()
    assert (endpoint["enabled"], endpoint["disabled_reason"]) == (False, "failing")
    response = await hooked.client.get(
        "/api/v1/audit-events", params={"action": "webhook_endpoint.disabled"}, headers=hooked.headers
    )
    [event] = response.json()["data"]
    assert event["actor_type"] == "system"
    assert event["details"]["delivery_id"] == delivery["id"]


async def test_a_redirect_is_not_followed_and_counts_as_a_failure(hooked: Hooked) -> None:
    hooked.receiver.script = _fail_first(1, Reply(302, b"", {"Location": "http://127.0.0.1:9/elsewhere"}))
    await hooked.create_customer()
    await hooked.receiver.wait_for(2)
    delivery = await _only_delivery(hooked, "succeeded")
    log = (await hooked.delivery(delivery["id"]))["attempt_log"]
    assert log[0]["status_code"] == 302
    assert "not followed" in log[0]["error"]
    assert all(r.path == "/hooks" for r in hooked.receiver.requests)


async def test_a_long_answer_is_stored_truncated_to_4_kib(hooked: Hooked) -> None:
    hooked.receiver.script = lambda _r: Reply(200, b"x" * 10_000)
    await hooked.create_customer()
    delivery = await _only_delivery(hooked, "succeeded")
    [attempt] = (await hooked.delivery(delivery["id"]))["attempt_log"]
    assert len(attempt["response_body"]) == 4096


async def test_a_receiver_that_never_answers_times_out_and_is_retried(hooked: Hooked) -> None:
    import asyncio

    async def hang_once(_request: Received) -> Reply:
        if len(hooked.receiver.requests) == 1:
            await asyncio.sleep(5)  # past the 2 s timeout
        return Reply()

    hooked.receiver.script = hang_once
    await hooked.create_customer()
    delivery = await _only_delivery(hooked, "succeeded")
    log = (await hooked.delivery(delivery["id"]))["attempt_log"]
    assert log[0]["error"].startswith("timeout")
    assert log[0]["status_code"] is None
    assert 1900 <= log[0]["latency_ms"] < 4000
