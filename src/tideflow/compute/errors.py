"""Errors of the compute layer (the lead will move ``ComputeError`` into ``tideflow.errors``)."""

from __future__ import annotations

from tideflow.errors import TideflowError


class ComputeError(TideflowError):
    """Elastic compute cannot do what was asked: a resource profile no node can ever satisfy, a cluster
    that cannot be started or reached, a task whose worker kept dying."""


__all__ = ["ComputeError"]
