"""The deferred final write: its placeholder, and a response held until the write ran and committed."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Message

from shipyard.kit import final_write
from shipyard.kit.final_write import StoredResponse

pytestmark = pytest.mark.database_independent


class _Numbering:
    placeholder = b"123456789012345678"

    def __init__(self) -> None:
        self.calls: list[StoredResponse | None] = []

    async def __call__(self, _session: AsyncSession, stored: StoredResponse | None) -> tuple[bytes, bool]:
        self.calls.append(stored)
        return b"7", True


@pytest.mark.parametrize("body", [b'{"number":1}', b'{"a":123456789012345678,"b":123456789012345678}'])
def test_a_body_must_hold_the_placeholder_exactly_once(body: bytes) -> None:
    with pytest.raises(RuntimeError, match="exactly once"):
        final_write.split(body, _Numbering.placeholder)


async def test_a_response_is_held_until_the_write_ran_then_sent_with_the_value_and_its_length() -> None:
    session = AsyncSession()
    write = _Numbering()
    final_write.defer(session, write)
    sent: list[Message] = []
    finished: list[bool] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def finish(commit: bool) -> None:
        assert not write.calls or final_write.pending(session) is None
        finished.append(commit)

    deferring = final_write.deferring_send(send, lambda: session, finish)
    start: dict[str, Any] = {"type": "http.response.start", "status": 201, "headers": [(b"content-length", b"31")]}
    await deferring(start)
    await deferring({"type": "http.response.body", "body": b'{"number":1234567890', "more_body": True})
    assert sent == []  # nothing leaves before the write ran and the transaction committed
    await deferring({"type": "http.response.body", "body": b"12345678}"})

    assert finished == [True]
    assert len(write.calls) == 1
    assert write.calls[0] is None  # no Idempotency-Key: nothing to store
    assert sent[0]["headers"] == [(b"content-length", b"12")]
    assert sent[1]["body"] == b'{"number":7}'
    assert final_write.pending(session) is None


async def test_a_failed_response_rolls_back_without_running_the_write() -> None:
    session = AsyncSession()
    write = _Numbering()
    final_write.defer(session, write)
    finished: list[bool] = []

    async def send(_message: Message) -> None:
        return

    async def finish(commit: bool) -> None:
        finished.append(commit)

    await final_write.deferring_send(send, lambda: session, finish)({"type": "http.response.start", "status": 500})

    assert finished == [False]
    assert write.calls == []


def test_a_request_defers_one_write_at_most() -> None:
    session = AsyncSession()
    final_write.defer(session, _Numbering())
    with pytest.raises(RuntimeError, match="one final write"):
        final_write.defer(session, _Numbering())
