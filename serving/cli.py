"""``dubber serve``: start Ray (or join a cluster) and deploy the dubbing app; ``--stop`` removes it.

    dubber serve [--host 127.0.0.1] [--port 8000] [--address auto] [--no-llm]
    dubber serve --stop [--address auto]

Without ``--address`` a local Ray is started in this process and the app runs until Ctrl-C. With
``--address`` (``auto``: the cluster running here) the app is deployed into that cluster and the command
returns; it keeps running there until ``dubber serve --stop``. Binding anything but a loopback address needs
``serving.token`` (clients send it as ``Authorization: Bearer <token>``). The websocket API is
``ws://HOST:PORT/v1/session`` (``docs/protocol.md``); beside it ``POST /v1/dub``, ``GET /healthz`` and
``GET /v1/sessions/{id}/log``.
"""

from __future__ import annotations

import argparse
import os
import time


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="address to listen on (default: serving.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: serving.port, 8000)")
    p.add_argument(
        "--address", help="join this Ray cluster ('auto': the one running here) instead of starting one"
    )
    p.add_argument("--num-cpus", type=int, help="CPUs of a Ray started here (default: all)")
    p.add_argument("--no-llm", action="store_true", help="direct without the LLM (cues and templates only)")
    p.add_argument("--stop", action="store_true", help="remove the app from the cluster (and stop Serve)")


def serving_config(host=None, port=None, no_llm=False, **overrides):
    """The active configuration with the command line's serving options laid over it."""
    from ground.config import get_config

    cfg = get_config()
    s = cfg.serving
    update = {k: v for k, v in {"host": host, "port": port, **overrides}.items() if v is not None}
    if no_llm:
        update["use_llm"] = False
    return cfg.model_copy(update={"serving": s.model_copy(update=update)})


def start_ray(address: str | None, num_cpus: int | None = None):
    import ray

    if address is not None:
        ray.init(address=address, logging_level="WARNING")
        return
    from ground.runtime import start_local_ray

    start_local_ray(num_cpus)


def deploy(cfg) -> str:
    """Start Serve's proxy on the configured address and run the app; returns its websocket URL."""
    from ray import serve

    from ground.security import check_security
    from serving.app import build_app

    s = cfg.serving
    check_security(s.host, s.token)
    serve.start(http_options={"host": s.host, "port": s.port})
    serve.run(build_app(cfg), name=s.app_name, route_prefix="/", blocking=False)
    return f"ws://{s.host}:{s.port}/v1/session"


def _cluster_reachable(address: str, timeout: float = 3.0) -> bool:
    """Whether a Ray head answers at ``host:port`` (Ray's own client retries for a minute and more)."""
    import socket

    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def stop(app_name: str, address: str) -> int:
    """Remove the app from the cluster at ``address`` and stop Serve there; the cluster itself keeps running."""
    import ray
    from ray import serve

    from ground.errors import DubberError

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if address != "auto" and not _cluster_reachable(address):
        raise DubberError(f"no Ray cluster answers at {address}: nothing to stop")
    try:
        ray.init(address=address, logging_level="WARNING")
    except ConnectionError as exc:
        raise DubberError(f"no Ray cluster is running here ({exc}): nothing to stop") from exc
    try:
        running = serve.status().applications
        if app_name not in running:
            print(f"{app_name} is not running on this cluster (apps: {', '.join(running) or 'none'})")
            return 0
        serve.delete(app_name)
        serve.shutdown()
    finally:
        ray.shutdown()
    print(f"stopped {app_name}")
    return 0


def run(args: argparse.Namespace) -> int:
    import ray
    from ray import serve

    cfg = serving_config(args.host, args.port, args.no_llm)
    if args.stop:
        return stop(cfg.serving.app_name, args.address or "auto")
    from ground.security import check_security

    check_security(cfg.serving.host, cfg.serving.token)  # before starting anything
    start_ray(args.address, args.num_cpus)
    url = deploy(cfg)
    print(f"serving on {url} (REST: http://{cfg.serving.host}:{cfg.serving.port}/healthz)", flush=True)
    if args.address is not None:
        return 0
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping", flush=True)
    finally:
        serve.shutdown()
        ray.shutdown()
    return 0
