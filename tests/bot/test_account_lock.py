"""One ``qunzhi run`` per account on a database (bot/account_lock.py), on real SQLite and PostgreSQL:
a second process logged in as the same account is refused with one line and sends nothing."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from bot.account_lock import AccountInUse, AccountLock
from bot.config import Send
from bot.outbox import Outbox, OutboxSender
from tests.bot.live_helpers import RecordingPlatform
from tests.bot.test_outbox_accounts import fake_time

HOLD = """
import sys, time
from bot.account_lock import AccountLock
from bot.store.db import make_engine
lock = AccountLock(make_engine(sys.argv[1]))
lock.hold(sys.argv[2])
print("held", flush=True)
time.sleep(60)
"""


def holder(url: str, account: str) -> subprocess.Popen[str]:
    """Another process holding ``account`` (it prints "held" once it does)."""
    p = subprocess.Popen([sys.executable, "-c", HOLD, url, account], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "held"
    return p


def test_a_second_process_cannot_take_an_account_another_holds(engine, db_url) -> None:  # noqa: ANN001
    other = holder(db_url, "wxid_bot_a")
    try:
        lock = AccountLock(engine)
        with pytest.raises(AccountInUse, match="account wxid_bot_a is already served by another qunzhi run"):
            lock.hold("wxid_bot_a")
        assert not lock.holds("wxid_bot_a")
        lock.hold("wxid_bot_b")  # another account is free
        lock.hold("wxid_bot_b")  # and holding it again is a no-op
        assert lock.holds("wxid_bot_b")
    finally:
        other.kill()  # like kill -9: the server (or the OS) lets the lock go with the process
        other.wait()
    lock.hold("wxid_bot_a")
    assert lock.holds("wxid_bot_a")
    lock.release()
    assert not lock.holds("wxid_bot_a")


async def test_a_sender_whose_account_is_held_elsewhere_sends_nothing(sessions, engine, db_url) -> None:  # noqa: ANN001
    with sessions.begin() as s:
        Outbox().tell(s, "wxid_contact", "只由持有账号的进程发送")
    other = holder(db_url, "wxid_bot_a")
    try:
        lock = AccountLock(engine)

        def account() -> str:
            lock.hold("wxid_bot_a")
            return "wxid_bot_a"

        platform = RecordingPlatform()
        ft = fake_time()
        sender = OutboxSender(sessions, platform, Send(jitter_seconds=(0.0, 0.0)), clock=ft.clock, account=account)
        with pytest.raises(AccountInUse):
            await sender.drain_once()
        assert platform.private == []
    finally:
        other.kill()
        other.wait()
    assert await sender.drain_once() == 1  # the other process is gone: this one takes the account and sends
    assert platform.private == [("wxid_contact", "只由持有账号的进程发送")]
    await sender.close()
    lock.release()


async def test_a_live_bot_logged_in_as_an_account_another_process_serves_stops_with_one_line(db_url) -> None:  # noqa: ANN001
    from bot.live import LiveBot
    from bot.wiring import build_rule_analyzers, open_store
    from tests.bot.live_helpers import BOT, off_loop
    from tests.bot.test_live import make_config

    config = make_config(db_url)
    store = await off_loop(open_store, config)
    other = AccountLock(store.engine)  # another process's hold (its own connection, its own file)
    await off_loop(other.hold, BOT)
    platform = RecordingPlatform()
    bot = await off_loop(LiveBot, config, store, platform, analyzers=build_rule_analyzers())
    try:
        with pytest.raises(AccountInUse, match=f"account {BOT} is already served by another qunzhi run"):
            async with asyncio.timeout(30):
                await bot.run()
        assert platform.sent == [] and platform.private == []
    finally:
        await off_loop(other.release)
        store.close()
