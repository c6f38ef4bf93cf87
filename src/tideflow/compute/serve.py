"""Ray Serve targets of an API service: the application config and a dashboard-free deployment.

``serve_app_config`` is pure: it builds the application config ``serve deploy`` reads. The
deployment (``TideApiDeployment``) runs the API node's ASGI app inside each Ray Serve replica; the
app comes from a factory given by import path (``tideflow.serving.app:create_app``), so this package
does not import ``serving`` (layering). ``deploy`` starts it through the Python API (``serve.run``)
with the mapped ``AutoscalingConfig``: no dashboard, no config file, loopback only.
"""

from __future__ import annotations

import importlib
from typing import Any

from tideflow.compute._ray import import_ray
from tideflow.compute.errors import ComputeError

DEPLOYMENT = "TideApiDeployment"


def serve_app_config(name: str, *, project_root: str, app_factory: str, autoscaling: dict[str, Any],
                     max_ongoing_requests: int, graceful_shutdown_timeout_s: float,
                     route_prefix: str = "/") -> dict[str, Any]:
    """The Ray Serve application config (``applications:`` list) of one API service."""
    return {
        "proxy_location": "HeadOnly",
        "http_options": {"host": "127.0.0.1", "port": 8000},
        "applications": [{
            "name": name,
            "route_prefix": route_prefix,
            "import_path": "tideflow.compute.serve:build_app",
            "args": {"project_root": project_root, "service": name, "app_factory": app_factory},
            "deployments": [{
                "name": DEPLOYMENT,
                "max_ongoing_requests": max_ongoing_requests,
                "autoscaling_config": dict(autoscaling),
                "graceful_shutdown_timeout_s": graceful_shutdown_timeout_s,
                "graceful_shutdown_wait_loop_s": 1.0,
            }],
        }],
    }


def _factory(path: str) -> Any:
    module, _, attr = path.partition(":")
    if not module or not attr:
        raise ComputeError(f"app_factory: expected 'module:function', got {path!r}")
    return getattr(importlib.import_module(module), attr)


class AsgiReplica:
    """One Ray Serve replica: the API node's ASGI app, started (lifespan) on first use, called in-process."""

    def __init__(self, project_root: str, service: str, app_factory: str, factory_kwargs: dict[str, Any]) -> None:
        self.project_root = project_root
        self.service = service
        self.app_factory = app_factory
        self.factory_kwargs = factory_kwargs
        self._client: Any = None
        self._lifespan: Any = None

    async def _ensure(self) -> Any:
        if self._client is None:
            import httpx

            app = _factory(self.app_factory)(self.project_root, self.service, **self.factory_kwargs)
            self._lifespan = app.router.lifespan_context(app)
            await self._lifespan.__aenter__()
            self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://replica")
        return self._client

    async def __call__(self, request: Any) -> Any:
        from starlette.responses import Response

        client = await self._ensure()
        response = await client.request(request.method, request.url.path, params=dict(request.query_params),
                                        content=await request.body(),
                                        headers={k: v for k, v in request.headers.items() if k.lower() != "host"})
        return Response(response.content, status_code=response.status_code,
                        media_type=response.headers.get("content-type"))

    async def shutdown(self) -> None:
        if self._lifespan is not None:
            await self._lifespan.__aexit__(None, None, None)


def serve_module() -> Any:
    """``ray.serve``, or ``ComputeError`` saying what to install (it needs ``ray[serve]``: fastapi and friends)."""
    import_ray()
    try:
        from ray import serve
    except ImportError as error:
        raise ComputeError(f"Ray Serve is not installed ({error}); install it with: pip install 'ray[serve]'") \
            from error
    return serve


def build_app(args: dict[str, Any]) -> Any:
    """The application builder ``serve deploy`` calls with the config's ``args``."""
    config = {k: v for k, v in args.items() if k in ("autoscaling", "max_ongoing_requests")}
    factory = args.get("app_factory", "tideflow.serving.app:create_app")
    return _application(args["project_root"], args["service"], factory, config.get("autoscaling"),
                        config.get("max_ongoing_requests"), args.get("factory_kwargs") or {})


def _application(project_root: str, service: str, app_factory: str, autoscaling: dict[str, Any] | None,
                 max_ongoing_requests: int | None, factory_kwargs: dict[str, Any]) -> Any:
    serve = serve_module()
    options: dict[str, Any] = {"name": DEPLOYMENT}
    if autoscaling is not None:
        from ray.serve.config import AutoscalingConfig

        options["autoscaling_config"] = AutoscalingConfig(**autoscaling)
    if max_ongoing_requests is not None:
        options["max_ongoing_requests"] = max_ongoing_requests
    deployment = serve.deployment(AsgiReplica).options(**options)
    return deployment.bind(project_root, service, app_factory, factory_kwargs)


def deploy(config: dict[str, Any], *, port: int, factory_kwargs: dict[str, Any] | None = None,
           ray_actor_options: dict[str, Any] | None = None) -> Any:
    """Deploy the (first) application of ``config`` on the connected Ray runtime with ``serve.run``.

    HTTP on 127.0.0.1:``port``; returns the application handle. ``serve.shutdown()`` (``undeploy``) stops it.
    """
    serve = serve_module()
    app_config = config["applications"][0]
    deployment_config = app_config["deployments"][0]
    args = app_config["args"]
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    app = _application(args["project_root"], args["service"], args["app_factory"],
                       deployment_config.get("autoscaling_config"), deployment_config.get("max_ongoing_requests"),
                       factory_kwargs or {})
    if ray_actor_options:
        app = serve.deployment(AsgiReplica).options(
            name=DEPLOYMENT, ray_actor_options=ray_actor_options,
            autoscaling_config=deployment_config.get("autoscaling_config"),
            max_ongoing_requests=deployment_config.get("max_ongoing_requests")).bind(
            args["project_root"], args["service"], args["app_factory"], factory_kwargs or {})
    return serve.run(app, name=app_config["name"], route_prefix=app_config.get("route_prefix", "/"))


def num_replicas(app_name: str) -> int:
    """Running replicas of the application's deployment (from ``serve.status()``)."""
    serve = serve_module()
    status = serve.status()
    app = status.applications.get(app_name)
    if app is None:
        return 0
    deployment = app.deployments.get(DEPLOYMENT)
    if deployment is None:
        return 0
    return int(deployment.replica_states.get("RUNNING", 0))


def undeploy() -> None:
    serve_module().shutdown()
