"""When to try a failed delivery again: the schedule, its jitter, and `Retry-After`."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from shipyard.settings import Settings


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`schedule[n]` is the delay before attempt n+1; the first is normally 0 (at once)."""

    schedule: tuple[float, ...]
    jitter: float
    retry_after_max_s: float
    rng: random.Random = field(default_factory=random.Random, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        """The configured policy."""
        return cls(
            schedule=tuple(settings.webhook_retry_schedule_s),
            jitter=settings.webhook_retry_jitter,
            retry_after_max_s=settings.webhook_retry_after_max_s,
        )

    @property
    def max_attempts(self) -> int:
        """How many requests a delivery gets before it fails."""
        return len(self.schedule)

    def delay_after(self, attempts_made: int, retry_after_s: float | None = None) -> float | None:
        """Seconds until the next attempt, or None when none is left.

        Jitter spreads retries of many deliveries that failed together (a receiver that was down)
        so that they do not return together. A receiver's `Retry-After` wins over the schedule,
        within `retry_after_max_s`.
        """
        if attempts_made >= self.max_attempts:
            return None
        if retry_after_s is not None:
            return min(max(retry_after_s, 0.0), self.retry_after_max_s)
        base = self.schedule[attempts_made]
        return max(0.0, base * (1 + self.rng.uniform(-self.jitter, self.jitter)))
