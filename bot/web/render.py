"""The console's pages: Jinja2 templates under ``templates/web`` with the catalogue's words as ``t``.

Templates hold layout only; every word is :data:`bot.catalogue.CONSOLE` (a test holds this).
Autoescaping is on: message texts are members' words and are never trusted as markup.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from bot import catalogue
from bot.config import Config
from bot.digest.render import TEMPLATES_DIR

WEB_TEMPLATES = TEMPLATES_DIR / "web"
STATIC_DIR = WEB_TEMPLATES / "static"


class Words(dict[str, str]):
    """The catalogue's console words; a key it lacks fails loudly instead of rendering empty."""

    def __getattr__(self, key: str) -> str:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"catalogue.CONSOLE has no {key!r}") from None


def make_environment(templates_dir: Path = WEB_TEMPLATES) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["t"] = Words(catalogue.CONSOLE)
    env.globals["reason_text"] = catalogue.reason_text
    env.globals["label_name"] = catalogue.label_name
    env.globals["action_name"] = catalogue.action_name
    env.globals["audit_name"] = catalogue.audit_name
    return env


def local_time(value: datetime | None, config: Config, fmt: str = "%m-%d %H:%M") -> str:
    """An aware datetime as the operator's local time ("12-04 21:30"); "" for None."""
    if value is None:
        return ""
    return value.astimezone(config.digest_timezone()).strftime(fmt)


def page(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a console page. Every page gets the viewer, the CSRF token for its forms, the config
    and ``when`` (local time formatting)."""
    env: jinja2.Environment = request.app.state.templates
    config: Config = request.app.state.config
    viewer = getattr(request.state, "viewer", None)
    html = env.get_template(template).render(
        request=request,
        viewer=viewer,
        csrf=viewer.csrf_token if viewer is not None else "",
        config=config,
        when=lambda value, fmt="%m-%d %H:%M": local_time(value, config, fmt),
        **context,
    )
    return HTMLResponse(html, status_code=status_code)
