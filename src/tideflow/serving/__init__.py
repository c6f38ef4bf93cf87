"""The API node: a protocol-free dataplane, thin protocol adapters, batching, worker pools.

The HTTP app lives in ``tideflow.serving.app`` (``create_app``, ``serve``); it needs starlette and uvicorn.
"""

from tideflow.serving.dataplane import DataPlane, InferenceResult
from tideflow.serving.errors import (
    BadRequest,
    Forbidden,
    InvalidInput,
    InvalidJson,
    ModelError,
    PayloadTooLarge,
    ServingError,
    Unauthorized,
    Unavailable,
    UnknownEndpoint,
)
from tideflow.serving.specs import ServiceSpec, load_service

__all__ = [
    "BadRequest",
    "DataPlane",
    "Forbidden",
    "InferenceResult",
    "InvalidInput",
    "InvalidJson",
    "ModelError",
    "PayloadTooLarge",
    "ServiceSpec",
    "ServingError",
    "Unauthorized",
    "Unavailable",
    "UnknownEndpoint",
    "load_service",
]
