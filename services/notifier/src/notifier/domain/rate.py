"""Token buckets: the rate each provider allows us (per account, per sender number)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """`rate` tokens a second, up to `capacity` saved for bursts."""

    rate: float
    capacity: float
    tokens: float = field(default=-1.0)
    updated: float = 0.0

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.capacity < 1:
            raise ValueError("a bucket needs a positive rate and room for one token")
        if self.tokens < 0:
            self.tokens = self.capacity

    def reserve(self, now: float) -> float:
        """Take one token; return how long to wait before using it (0 when available)."""
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
        self.tokens -= 1.0
        if self.tokens >= 0:
            return 0.0
        return -self.tokens / self.rate
