"""``/healthz``: the console answers and its database does."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from bot.store import db
from bot.web import auth

router = APIRouter()


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    try:
        db.ping(auth.store_of(request).engine)
    except SQLAlchemyError as e:
        return JSONResponse({"status": "error", "database": type(e).__name__}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})
