"""The console under test: the bundled sample day (rules, no model: fast) in a real database on
SQLite and PostgreSQL, a second group of another admin, and three console users.

``console`` is the app with an HTTP client (``starlette.testclient``: real requests through the
ASGI app, cookies kept); ``login(client, name)`` logs a client in and returns its CSRF token.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.adapters.replay import read_jsonl
from bot.cli import DEMO_DIR
from bot.config import Config, load_config
from bot.message import GroupMessage, MessageKind
from bot.store import accounts as accounts_db
from bot.web.app import create_app
from bot.web.security import hash_password
from bot.wiring import Store, build_pipeline, open_store

DEMO_GROUP = "ai-dev-2026@chatroom"
OTHER_GROUP = "other-group@chatroom"
# the demo config's groups (bot/demo/demo.toml): the AI group and the briefing's two smaller ones
DEMO_GROUPS = frozenset({DEMO_GROUP, "sunshine-3-2-parents@chatroom", "cuihu-neighbours@chatroom"})
PASSWORD = "correct horse battery"
USERS = {"root": ("superadmin", []), "ann": ("admin", [DEMO_GROUP]), "bob": ("admin", [OTHER_GROUP])}


def console_config(db_url: str) -> Config:
    """The demo's settings on ``db_url``, judged by the rules (no model), in dry run."""
    base = load_config(DEMO_DIR / "demo.toml")
    return base.model_copy(
        update={
            "database": base.database.model_copy(update={"url": db_url}),
            "models": base.models.model_copy(update={"use": False}),
        }
    )


def other_group_messages() -> list[GroupMessage]:
    t0 = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)
    texts = ["周末去爬山吗", "加我微信 wx123456 代开发票 低价", "好啊，周六早上八点出发"]
    return [
        GroupMessage(
            id=f"other-{i}",
            source="test",
            group_id=OTHER_GROUP,
            sender_id=f"wxid_other{i % 2}",
            sender_name=f"路人{i % 2}",
            sent_at=t0 + timedelta(minutes=i),
            kind=MessageKind.TEXT,
            text=text,
        )
        for i, text in enumerate(texts)
    ]


@dataclass
class Console:
    config: Config
    store: Store
    client: TestClient

    def new_client(self) -> TestClient:
        return TestClient(self.client.app, base_url="http://127.0.0.1")


@pytest.fixture(scope="session")
def password_hash() -> str:
    """The users' password hash, made once (argon2 takes a tenth of a second on purpose)."""
    return hash_password(PASSWORD)


def fill(store: Store, config: Config, password_hash: str) -> None:
    """The sample day and the other group, analysed (dry run), and the three users."""
    pipeline = build_pipeline(config, store, dry_run=True)
    pipeline.ingest(read_jsonl(DEMO_DIR / "sample_day.jsonl").messages)
    pipeline.ingest(other_group_messages())
    with store.sessions.begin() as session:
        for name, (role, groups) in USERS.items():
            accounts_db.add_user(session, name, password_hash, role, groups)


@pytest.fixture(scope="session")
def filled_sqlite_file(tmp_path_factory: pytest.TempPathFactory, password_hash: str) -> Path:
    """A SQLite file filled once per run; each SQLite console test works on its own copy."""
    path = tmp_path_factory.mktemp("console") / "template.db"
    config = console_config(f"sqlite:///{path}")
    store = open_store(config)
    try:
        fill(store, config, password_hash)
    finally:
        store.close()
    return path


@pytest.fixture
def console_store(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Config, Store]]:
    """The filled database on SQLite (a copy of the template) and on PostgreSQL (filled anew)."""
    if db_url.startswith("sqlite"):
        path = tmp_path / "console.db"
        shutil.copyfile(request.getfixturevalue("filled_sqlite_file"), path)
        config = console_config(f"sqlite:///{path}")
        store = open_store(config)
    else:
        config = console_config(db_url)
        store = open_store(config)
        fill(store, config, request.getfixturevalue("password_hash"))
    try:
        yield config, store
    finally:
        store.close()


def _console(config: Config, store: Store) -> Iterator[Console]:
    app = create_app(config, store)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield Console(config, store, client)


@pytest.fixture
def console(console_store: tuple[Config, Store]) -> Iterator[Console]:
    """The console on SQLite and on PostgreSQL (the security tests, and whatever writes)."""
    yield from _console(*console_store)


@pytest.fixture
def sqlite_console(filled_sqlite_file: Path, tmp_path: Path) -> Iterator[Console]:
    """The console on a SQLite copy only: for what reads pages (the store's queries are tested on
    both backends elsewhere)."""
    path = tmp_path / "console.db"
    shutil.copyfile(filled_sqlite_file, path)
    config = console_config(f"sqlite:///{path}")
    store = open_store(config)
    try:
        yield from _console(config, store)
    finally:
        store.close()


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def login(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Log ``client`` in as ``name``; return the CSRF token its pages carry."""
    r = client.post("/login", data={"username": name, "password": password, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get("/")
    assert page.status_code == 200
    found = CSRF.search(page.text)
    assert found, "the overview carries a CSRF token"
    return found.group(1)
