"""``dubber logs serve DIR``: the inspector on its own, a plain FastAPI app under uvicorn (no Ray), reading
the logs of DIR (sessions, plain ``dubber dub --log`` logs, batch-job folders)."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from inspector.router import router
from inspector.store import LogStore, NotFound

log = logging.getLogger(__name__)


def build_app(directory: str | Path, token: str | None = None, library: str | None = None) -> FastAPI:
    """The inspector's routes over the logs of ``directory``; ``token``: the bearer token every route wants;
    ``library``: the reference library whose clips' audio the page plays (default: the configured one)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise NotFound("no such log folder", source=directory)
    app = FastAPI(title="Authentic Dubber: message logs", docs_url=None, redoc_url=None)
    app.state.inspector_store = LogStore(directory, library_uri=library)
    app.state.inspector_token = token
    app.include_router(router)

    @app.get("/", include_in_schema=False)
    async def root():
        return RedirectResponse("/logs")

    return app


def serve(
    directory: str | Path, host: str | None = None, port: int | None = None, library: str | None = None
) -> int:
    import uvicorn

    from ground.config import get_config
    from ground.security import check_security

    cfg = get_config()
    host = host or cfg.inspector.host
    port = port or cfg.inspector.port
    check_security(host, cfg.serving.token)  # the server's rule: no public address without a token
    app = build_app(directory, cfg.serving.token, library)
    print(
        f"message logs of {Path(directory).resolve()}: http://{host}:{port}/logs (Ctrl-C stops)", flush=True
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0
