"""The coalescer: calls that wait together run together, a lone call runs at once, a failure fails its batch."""

from __future__ import annotations

import asyncio

import pytest

from shipyard.worker.coalesce import Coalescer

pytestmark = pytest.mark.database_independent


class Recorder:
    """A batch function that remembers its batches and can be held open or made to fail."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_on: int | None = None

    async def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        await self.gate.wait()
        if self.fail_on in items:
            msg = "the database went away"
            raise RuntimeError(msg)
        return [item * 10 for item in items]


async def test_calls_made_together_run_as_one_batch_and_each_gets_its_own_result() -> None:
    run = Recorder()
    coalescer = Coalescer(run, max_batch=50)
    results = await asyncio.gather(*(coalescer.submit(n) for n in range(5)))
    assert results == [0, 10, 20, 30, 40]
    assert run.batches == [[0, 1, 2, 3, 4]]


async def test_a_lone_call_runs_at_once_and_calls_made_meanwhile_form_the_next_batch() -> None:
    run = Recorder()
    run.gate.clear()
    coalescer = Coalescer(run, max_batch=50)
    first = asyncio.ensure_future(coalescer.submit(1))
    await asyncio.sleep(0.01)
    assert run.batches == [[1]]  # it did not wait for company
    later = [asyncio.ensure_future(coalescer.submit(n)) for n in (2, 3, 4)]
    await asyncio.sleep(0.01)
    run.gate.set()
    assert await first == 10
    assert await asyncio.gather(*later) == [20, 30, 40]
    assert run.batches == [[1], [2, 3, 4]]


async def test_batches_are_no_larger_than_max_batch() -> None:
    run = Recorder()
    coalescer = Coalescer(run, max_batch=3)
    assert await asyncio.gather(*(coalescer.submit(n) for n in range(7))) == [n * 10 for n in range(7)]
    assert run.batches == [[0, 1, 2], [3, 4, 5], [6]]


async def test_a_failed_batch_fails_every_call_in_it_and_only_those() -> None:
    run = Recorder()
    run.fail_on = 4
    coalescer = Coalescer(run, max_batch=3)
    results = await asyncio.gather(*(coalescer.submit(n) for n in range(6)), return_exceptions=True)
    assert results[:3] == [0, 10, 20]
    assert all(isinstance(result, RuntimeError) for result in results[3:])
    assert await coalescer.submit(7) == 70  # and the next call runs normally


async def test_a_cancelled_caller_leaves_the_batch_to_finish_for_the_others() -> None:
    run = Recorder()
    run.gate.clear()
    coalescer = Coalescer(run, max_batch=50)
    calls = [asyncio.ensure_future(coalescer.submit(n)) for n in range(3)]
    await asyncio.sleep(0.01)
    calls[0].cancel()
    run.gate.set()
    assert await asyncio.gather(*calls[1:]) == [10, 20]
    assert run.batches == [[0, 1, 2]]
