"""Small text helpers every offline reader uses the same way (stdlib only), so the same record
reads the same whatever the format: whitespace folded, a file's name from a path, and a JSON
value's type named in an error message."""

from __future__ import annotations

import re
from typing import Any


def clean(value: str) -> str:
    """Whitespace runs (newlines included) folded to one space, ends trimmed."""
    return " ".join(value.split())


def basename(value: str) -> str:
    """The last part of a path written with / or \\ ("" for "")."""
    return re.split(r"[\\/]", value)[-1].strip() if value else ""


def json_type(value: Any) -> str:
    """What a JSON value is, for "expected a list, got a string"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
