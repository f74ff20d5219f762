"""``/docs`` (Swagger UI) and ``/redoc``, with every script, style and icon served by the service itself.

FastAPI's own pages load Swagger UI and ReDoc from a CDN (and ReDoc's fonts from Google): behind a firewall, or on
a laptop offline, a user gets a blank page. The assets come instead from the ``fastapi-offline`` package (part of
the ``serve`` extra), which ships Swagger UI, ReDoc and a favicon as plain files; they are served under
:data:`ASSETS_PATH`. Nothing on either page points off the host: Swagger UI's online validator badge is off too.

Example:
    >>> app = FastAPI(docs_url=None, redoc_url=None)  # doctest: +SKIP
    >>> add_docs(app, assets_dir())                   # doctest: +SKIP
"""

# No `from __future__ import annotations` in this module: FastAPI reads the endpoints' annotations at runtime.

import importlib.util
from pathlib import Path
from typing import Final

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from reprise.errors import MissingExtraError

__all__ = ["ASSETS_PATH", "add_docs", "assets_dir"]

#: Where the documentation pages' scripts, styles and icon are served.
ASSETS_PATH: Final = "/docs-assets"
_ASSETS_PACKAGE: Final = "fastapi_offline"
_FILES: Final = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
#: The pages may load nothing from another host: ReDoc's sidebar shows a logo from its CDN whatever its options say,
#: and the browser, told so, does not even ask for it. Inline scripts and styles are the pages' own (FastAPI's
#: templates); ReDoc runs its search in a worker built from a blob.
_POLICY: Final = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)


def assets_dir() -> Path:
    """The folder holding Swagger UI, ReDoc and the favicon (``fastapi_offline/static``).

    Raises:
        MissingExtraError: ``fastapi-offline`` is not installed, or its folder lacks one of the files.
    """
    spec = importlib.util.find_spec(_ASSETS_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    folder = Path(locations[0]) / "static" if locations else None
    if folder is None or not all((folder / name).is_file() for name in _FILES):
        raise MissingExtraError("fastapi-offline (the API docs' Swagger UI and ReDoc files)", "serve")
    return folder


def add_docs(app: FastAPI, folder: Path) -> None:
    """Add ``/docs``, its OAuth2 redirect page, ``/redoc`` and the assets they load to ``app``.

    Args:
        app: An app built with ``docs_url=None, redoc_url=None`` (these routes replace FastAPI's CDN ones).
        folder: Where the assets are (:func:`assets_dir`).
    """
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"
    # validatorUrl: null keeps Swagger UI from sending the document to swagger.io for its validity badge.
    parameters = {**(app.swagger_ui_parameters or {}), "validatorUrl": None}
    app.mount(ASSETS_PATH, StaticFiles(directory=folder), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _own_only(
            get_swagger_ui_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} - Swagger UI",
                oauth2_redirect_url=f"{root}{redirect_url}",
                swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
                swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
                swagger_ui_parameters=parameters,
            )
        )

    @app.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _own_only(
            get_redoc_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
                with_google_fonts=False,
            )
        )


def _own_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = _POLICY
    return page
