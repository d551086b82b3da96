"""Choosing the broker: taskiq's in-process broker by default, Redis Streams when REDIS_URL is set."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from contextlib import ExitStack
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq import AckableMessage, AsyncBroker, InMemoryBroker, TaskiqMessage, TaskiqMiddleware, TaskiqResult
from taskiq_redis import RedisStreamBroker

from shipyard.kit.logging import get_logger
from shipyard.kit.redis_url import redis_db_url
from shipyard.settings import Settings
from shipyard.worker.context import job_context

log = get_logger("shipyard.worker")
RECONNECT_DELAY_S = 0.5


def jobs_redis_url(settings: Settings) -> str:
    """REDIS_URL pointed at the job queue's database (db2 unless configured otherwise)."""
    if settings.redis_url is None:
        msg = "REDIS_URL is not set"
        raise ValueError(msg)
    return redis_db_url(settings.redis_url, settings.jobs_redis_db)


class StreamBroker(RedisStreamBroker):
    """taskiq-redis's Streams broker, made to survive a Redis restart and to reclaim while idle.

    Upstream's `listen` ends on a connection error and reclaims a dead worker's messages only
    after it has read new ones. This one reconnects (recreating the consumer group that a restart
    without persistence loses) and runs XAUTOCLAIM on a timer, so crashed work is picked up on
    a quiet queue too. Messages are acknowledged when the job has run.
    """

    def __init__(self, url: str, *, queue_name: str, reclaim_idle_s: float, block_ms: int = 1000) -> None:
        super().__init__(
            url,
            queue_name=queue_name,
            consumer_group_name="shipyard",
            idle_timeout=int(reclaim_idle_s * 1000),
            xread_block=block_ms,
            xread_count=20,
            unacknowledged_batch_size=20,
            consumer_id="0",
            socket_timeout=max(5.0, block_ms / 1000 + 5),
        )
        self.reclaim_every_s = max(0.1, min(reclaim_idle_s / 2, 30.0))

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        """Yield messages (new ones, then reclaimed ones) forever, across Redis restarts."""
        last_reclaim = 0.0
        while True:
            try:
                async with Redis(connection_pool=self.connection_pool) as redis:
                    while True:
                        for message in await self._read_new(redis):
                            yield message
                        if time.monotonic() - last_reclaim >= self.reclaim_every_s:
                            last_reclaim = time.monotonic()
                            for message in await self._reclaim(redis):
                                yield message
            except (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError) as exc:
                log.warning("job_queue_unreachable", error=str(exc))
                await asyncio.sleep(RECONNECT_DELAY_S)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # Redis restarted without its data: the stream and the group are gone.
                log.warning("job_queue_group_missing_recreating")
                await self._declare_consumer_group()

    async def _read_new(self, redis: Redis) -> list[AckableMessage]:
        fetched: Any = await redis.xreadgroup(
            self.consumer_group_name,
            self.consumer_name,
            {self.queue_name: ">"},
            block=self.block,
            count=self.count,
        )
        return [
            self._ackable(stream, message_id, fields) for stream, items in fetched or [] for message_id, fields in items
        ]

    async def _reclaim(self, redis: Redis) -> list[AckableMessage]:
        result = await redis.xautoclaim(
            self.queue_name,
            self.consumer_group_name,
            self.consumer_name,
            min_idle_time=self.idle_timeout,
            count=self.unacknowledged_batch_size,
        )
        claimed = result[1] if result else []
        if claimed:
            log.info("job_messages_reclaimed", count=len(claimed))
        return [self._ackable(self.queue_name, message_id, fields) for message_id, fields in claimed if fields]

    def _ackable(self, stream: Any, message_id: Any, fields: Any) -> AckableMessage:  # noqa: ANN401 - redis replies
        name = stream.decode() if isinstance(stream, bytes) else str(stream)
        return AckableMessage(data=fields[b"data"], ack=self._ack_generator(id=message_id, queue_name=name))


class RequestIdMiddleware(TaskiqMiddleware):
    """Jobs run with the request ID of the request that caused them, in context and in every log line."""

    def __init__(self) -> None:
        super().__init__()
        self._open: dict[str, ExitStack] = {}

    def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        """Enter the job's context (request ID from the message's labels)."""
        request_id = message.labels.get("request_id")
        stack = ExitStack()
        stack.enter_context(job_context(message.task_name, str(request_id) if request_id else None))
        self._open[message.task_id] = stack
        return message

    def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:  # noqa: ARG002 - taskiq's signature
        """Leave it."""
        stack = self._open.pop(message.task_id, None)
        if stack is not None:
            stack.close()


def create_broker(settings: Settings) -> AsyncBroker:
    """The in-process broker without REDIS_URL, the Redis Streams broker (acks, reclaim) with it."""
    broker: AsyncBroker
    if settings.redis_url is None:
        broker = InMemoryBroker(max_async_tasks=settings.jobs_concurrency)
    else:
        broker = StreamBroker(
            jobs_redis_url(settings), queue_name=settings.jobs_queue_name, reclaim_idle_s=settings.jobs_reclaim_idle_s
        )
    return broker.with_middlewares(RequestIdMiddleware())
