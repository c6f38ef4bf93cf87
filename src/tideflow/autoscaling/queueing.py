"""Closed forms of the M/M/c queue, used by the trace replay for the stochastic part of latency.

``c`` servers (replicas x concurrency), Poisson arrivals at ``arrival_rps``, exponential service
with mean ``service_s``. With offered load ``a = arrival_rps x service_s`` and ``rho = a / c < 1``:

- Erlang C, the probability that a request waits: ``C = c B / (c - a (1 - B))`` with ``B`` the
  Erlang B blocking probability (computed by its stable recurrence);
- waiting time ``W``: 0 with probability ``1 - C``, else exponential with rate ``c mu - lambda``;
- response time ``T = W + S``: ``P(T > x) = (1 - C) e^(-mu x) + C P(Exp(theta) + Exp(mu) > x)``;
- mean number in the system ``L = a + C rho / (1 - rho)`` (Little: ``L = lambda E[T]``).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def erlang_b(servers: int, offered: float) -> float:
    """Erlang B blocking probability for ``servers`` servers and ``offered`` erlangs."""
    b = 1.0
    for k in range(1, servers + 1):
        b = offered * b / (k + offered * b)
    return b


def erlang_c(servers: int, offered: float) -> float:
    """Probability that an arrival waits (``offered`` < ``servers``); 1.0 when saturated."""
    if servers <= 0 or offered >= servers:
        return 1.0
    if offered <= 0:
        return 0.0
    b = erlang_b(servers, offered)
    return servers * b / (servers - offered * (1 - b))


def mean_in_system(servers: int, arrival_rps: float, service_s: float) -> float:
    """L: requests in the system on average (waiting + in service); infinite when saturated."""
    offered = arrival_rps * service_s
    if offered <= 0:
        return 0.0
    if offered >= servers:
        return math.inf
    rho = offered / servers
    return offered + erlang_c(servers, offered) * rho / (1 - rho)


def mean_response_s(servers: int, arrival_rps: float, service_s: float) -> float:
    """E[T] = service + C / (c mu - lambda)."""
    offered = arrival_rps * service_s
    if offered >= servers:
        return math.inf
    if offered <= 0:
        return service_s
    return service_s + erlang_c(servers, offered) / (servers / service_s - arrival_rps)


def response_survival(x: FloatArray | float, wait_probability: FloatArray | float, theta: FloatArray | float,
                      mu: FloatArray | float) -> FloatArray:
    """P(T > x) for T = W + S (vectorized): W is 0 w.p. 1 - C, else Exp(theta); S is Exp(mu)."""
    x_ = np.asarray(x, dtype=np.float64)
    c_ = np.asarray(wait_probability, dtype=np.float64)
    th = np.asarray(theta, dtype=np.float64)
    m = np.asarray(mu, dtype=np.float64)
    service_tail = np.exp(-m * x_)
    diff = th - m
    close = np.abs(diff) < 1e-9 * np.maximum(m, 1e-12)
    safe = np.where(close, 1.0, diff)
    hypo = np.where(close, (1 + m * x_) * service_tail, (th * service_tail - m * np.exp(-th * x_)) / safe)
    out: FloatArray = (1 - c_) * service_tail + c_ * np.clip(hypo, 0.0, 1.0)
    return out


def response_quantile_s(servers: int, arrival_rps: float, service_s: float, q: float = 0.99) -> float:
    """The ``q`` quantile of M/M/c response time (bisection on the closed-form survival)."""
    offered = arrival_rps * service_s
    if offered >= servers:
        return math.inf
    c = erlang_c(servers, offered)
    mu = 1 / service_s
    theta = servers * mu - arrival_rps
    lo, hi = 0.0, service_s
    while float(response_survival(hi, c, theta, mu)) > 1 - q:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        if float(response_survival(mid, c, theta, mu)) > 1 - q:
            lo = mid
        else:
            hi = mid
    return hi
