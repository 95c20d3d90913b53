"""Shared fixtures: real databases, one clean database per test, on SQLite and on PostgreSQL.

``db_url`` is parametrised over ``sqlite`` (a file under the test's tmp_path) and ``postgresql`` (a
fresh schema, reached through ``search_path``, on the server named by ``QUNZHI_TEST_PG_URL``), so a
test that asks for it — or for ``engine``/``session``, which build on it — runs on both. Start a
throwaway server with::

    export QUNZHI_TEST_PG_URL=$(scripts/pg-test-server start /tmp/qunzhi-pg 54329)

Without ``QUNZHI_TEST_PG_URL`` the PostgreSQL cases are skipped, except under ``CI=true`` where they
fail: CI must never pass by skipping the real database. ``-m "not postgres"`` deselects them.

Tests marked ``slow`` (seconds each, covered in kind by a faster one: the bf16 and fp32 traced
encoders beside the int8 one) run under CI=true or QUNZHI_TEST_SLOW=1 and are skipped otherwise.

Property-based tests (hypothesis) run under the ``qunzhi`` profile set here: few examples, a
deadline, no example database, and under CI=true a fixed seed (the same
examples every run, so CI never fails by chance; run locally to explore new ones).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from bot.store.db import make_engine, session_factory, upgrade

PG_ENV = "QUNZHI_TEST_PG_URL"
PG_HINT = f"start one with: export {PG_ENV}=$(scripts/pg-test-server start /tmp/qunzhi-pg 54329)"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _in_ci() or os.environ.get("QUNZHI_TEST_SLOW", "").strip() not in ("", "0"):
        return
    skip = pytest.mark.skip(reason="slow: runs under CI=true or QUNZHI_TEST_SLOW=1")
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(skip)


settings.register_profile(
    "qunzhi",
    max_examples=40,
    deadline=timedelta(seconds=2),  # generous: two shared cores; a parser that hangs still fails
    database=None,
    derandomize=_in_ci(),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", parent=settings.get_profile("qunzhi"), max_examples=1000, derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "qunzhi"))  # HYPOTHESIS_PROFILE=thorough explores


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[tuple[Engine, str]]:
    """An engine on the PostgreSQL test database, for creating and dropping per-test schemas."""
    url = os.environ.get(PG_ENV, "").strip()
    if not url:
        if _in_ci():
            pytest.fail(f"CI=true but {PG_ENV} is not set; PostgreSQL tests must run in CI ({PG_HINT})", pytrace=False)
        pytest.skip(f"PostgreSQL tests skipped: {PG_ENV} is not set ({PG_HINT})")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as e:
        engine.dispose()
        pytest.fail(f"{PG_ENV} is set but PostgreSQL cannot be reached: {e.orig} ({PG_HINT})", pytrace=False)
    yield engine, url
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # noqa: ANN001 - pytest's tmp_path
    """The URL of an empty, unmigrated database that only this test uses."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'qunzhi.db'}"
        return
    admin, base_url = request.getfixturevalue("pg_admin")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with admin.begin() as conn:
        # A test that leaked an open transaction must not hang the whole run here.
        conn.execute(text("SET LOCAL lock_timeout = '5s'"))
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on the test's database, migrated to head."""
    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """The session factory on the migrated database (for tests that need two sessions)."""
    return session_factory(engine)


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session on the migrated database; whatever the test leaves uncommitted is rolled back."""
    with sessions() as s:
        yield s
