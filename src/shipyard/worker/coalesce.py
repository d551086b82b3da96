"""Coalescing: calls from concurrent jobs that arrive while a batch runs are run together as the next batch.

A worker runs dozens of jobs at once, and each used to open its own transaction for a one-row
statement. `Coalescer.submit(item)` queues the item and waits; one task at a time runs the queued
items as one batch (one transaction for all of them), and whatever arrived meanwhile forms the
next. Nothing waits for a batch to fill: an idle worker's lone job runs at once, as a batch of one,
and under load the batches grow by themselves to the number of jobs that wait. A failed batch fails
every call in it, each as its own job would have failed.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Coalescer(Generic[Item, Result]):
    """Runs `run(items)` for the items submitted meanwhile; `run` returns one result per item, in order."""

    def __init__(self, run: Callable[[list[Item]], Awaitable[Sequence[Result]]], *, max_batch: int) -> None:
        self._run = run
        self._max_batch = max_batch
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """`item`'s result, once the batch it joined has run."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._waiting.append((item, future))
        if self._runner is None:
            # A context of its own: the batch serves many jobs, so it must not carry the first one's
            # request ID into its log lines and rows (`run` enters each item's context itself).
            self._runner = loop.create_task(self._drain(), context=contextvars.Context())
        # A caller cancelled while it waits leaves its item in the batch: the batch's transaction
        # is not cut off half-way for one job (an interrupted job is retried by its lease anyway).
        return await future

    async def _drain(self) -> None:
        batch: list[tuple[Item, asyncio.Future[Result]]] = []
        try:
            while self._waiting:
                # Let the jobs woken in the same loop iteration (one relay batch) join this batch.
                await asyncio.sleep(0)
                batch, self._waiting = self._waiting[: self._max_batch], self._waiting[self._max_batch :]
                try:
                    results = await self._run([item for item, _ in batch])
                except Exception as exc:  # noqa: BLE001 - handed to every caller, each fails as its job would have
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._runner = None
            # Cancelled (the process is ending): nobody may wait forever for a batch that will not run.
            for _, future in [*batch, *self._waiting]:
                if not future.done():
                    future.cancel()
