"""The HTTP API under /api/v1 (being built)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
