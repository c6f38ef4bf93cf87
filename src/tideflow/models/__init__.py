"""Saved models: the registry, artifacts and experiment records."""

from tideflow.models.registry import Comparison, ModelVersion, Registry

__all__ = ["Comparison", "ModelVersion", "Registry"]
