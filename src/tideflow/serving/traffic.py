"""Traffic split between versions of an endpoint (pure): weights, an optional sticky key."""

from __future__ import annotations

import bisect
import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class TrafficSplit:
    """Versions with weights. ``choose`` is deterministic for a sticky value, weighted-random otherwise."""

    labels: tuple[str, ...]
    cumulative: tuple[float, ...]

    @classmethod
    def of(cls, labels: Sequence[str], weights: Sequence[float]) -> TrafficSplit:
        if len(labels) != len(weights) or not labels:
            raise ValueError("a traffic split needs one weight per version and at least one version")
        total = float(sum(weights))
        if total <= 0:
            raise ValueError("the weights of a traffic split must not all be 0")
        acc, cumulative = 0.0, []
        for w in weights:
            acc += float(w) / total
            cumulative.append(acc)
        cumulative[-1] = 1.0
        return cls(tuple(labels), tuple(cumulative))

    def pick(self, u: float) -> str:
        """The version for a uniform number ``u`` in [0, 1)."""
        if len(self.labels) == 1:
            return self.labels[0]
        return self.labels[min(bisect.bisect_right(self.cumulative, u), len(self.labels) - 1)]

    def choose(self, sticky: object | None = None, rng: random.Random | None = None) -> str:
        if len(self.labels) == 1:
            return self.labels[0]
        if sticky is not None:
            return self.pick(sticky_unit(sticky))
        return self.pick((rng or random).random())


def sticky_unit(value: object) -> float:
    """A stable number in [0, 1) for a sticky value: the same key always lands on the same version."""
    digest = hashlib.blake2b(str(value).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64
