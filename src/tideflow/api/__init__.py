"""The platform REST API: a thin FastAPI adapter over the services (see docs/rest-api.md).

``create_app(project_root, api_keys=[...])`` returns the ASGI app; ``tide platform serve`` runs it.
"""

from tideflow.api.app import API_KEY_HEADER, KEYS_ENV, create_app, keys_from_env
from tideflow.api.errors import ErrorBody, UnknownName

__all__ = ["API_KEY_HEADER", "KEYS_ENV", "ErrorBody", "UnknownName", "create_app", "keys_from_env"]
