"""A1111's error handlers for the FastAPI app when it runs with ``--api``
(``modules/api/api.py``, ``api_middleware``, 1.6–1.10), which also answer the routes an extension
adds in ``on_app_started``: an ``HTTPException`` (and any other exception) becomes
``{"error": class name, "detail": …, "body": …, "errors": str(exception)}``. FastAPI's own
handler of a ``RequestValidationError`` is more specific than A1111's ``Exception`` handler, so it
is left in place. The timing and logging middleware is left out: it changes no answer.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import HTTPException
from fastapi.responses import JSONResponse


def api_middleware(app: FastAPI) -> None:
    def handle_exception(request: Request, e: Exception) -> JSONResponse:
        err = {
            "error": type(e).__name__,
            "detail": vars(e).get("detail", ""),
            "body": vars(e).get("body", ""),
            "errors": str(e),
        }
        return JSONResponse(status_code=vars(e).get("status_code", 500), content=jsonable_encoder(err))

    @app.middleware("http")
    async def exception_handling(request: Request, call_next):
        try:
            return await call_next(request)
        except Exception as e:
            return handle_exception(request, e)

    @app.exception_handler(Exception)
    async def fastapi_exception_handler(request: Request, e: Exception):
        return handle_exception(request, e)

    @app.exception_handler(HTTPException)
    async def http_exception_handler(request: Request, e: HTTPException):
        return handle_exception(request, e)
