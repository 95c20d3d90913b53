"""Several bot accounts on one database, one ``qunzhi run`` each (issue 21): every outbox row is
sent once, by the account that is in its group, on real SQLite and PostgreSQL.

A group's rows go to the account last seen in the room (``groups.account``, kept by the live bot
from the rooms the platform reports); a row queued for a contact, or for a group no account has
reported yet, is claimed by the first sender that takes it (one atomic UPDATE).
"""

from __future__ import annotations

import asyncio
import random
import threading
from datetime import datetime, timedelta, timezone

from bot.config import Send
from bot.outbox import Outbox, OutboxSender, RateLimiter
from bot.store import groups as groups_db, outgoing as outgoing_db
from tests.bot.live_helpers import RecordingPlatform
from tests.bot.test_outbox import FakeTime, drain_all, rows

GA = "a@chatroom"
GB = "b@chatroom"
GN = "nobody-yet@chatroom"


class AccountPlatform(RecordingPlatform):
    def __init__(self, account: str) -> None:
        super().__init__()
        self.account = account

    @property
    def self_id(self) -> str:
        return self.account


def fake_time() -> FakeTime:
    """A fake clock a minute after now: the rows here are queued at the real time."""
    return FakeTime(datetime.now(timezone.utc) + timedelta(minutes=1))


def sender_for(sessions, platform: AccountPlatform, ft: FakeTime) -> OutboxSender:
    return OutboxSender(
        sessions,
        platform,
        Send(jitter_seconds=(0.0, 0.0)),
        clock=ft.clock,
        sleep=ft.sleep,
        rng=random.Random(7),
        limiter=RateLimiter(100, 100, clock=ft.monotonic, sleep=ft.sleep),
        account=lambda: platform.self_id or None,
    )


def test_a_groups_rows_are_queued_for_the_account_in_it(sessions):
    with sessions.begin() as s:
        groups_db.set_group_account(s, GA, "wxid_bot_a")
        groups_db.set_group_account(s, GB, "wxid_bot_b")
        groups_db.set_group_account(s, GB, "wxid_bot_b")  # again: no change
        outbox = Outbox()
        outbox.say(s, GA, "给 A 群")
        outbox.say(s, GB, "给 B 群")
        outbox.say(s, GN, "还没有账号报告过的群")
        outbox.tell(s, "wxid_someone", "私聊")
    got = {(r.group_id or r.contact_id): r.account for r in rows(sessions)}
    assert got == {GA: "wxid_bot_a", GB: "wxid_bot_b", GN: None, "wxid_someone": None}


async def test_two_accounts_send_every_row_once_each_groups_by_its_own_account(sessions):
    with sessions.begin() as s:
        groups_db.set_group_account(s, GA, "wxid_bot_a")
        groups_db.set_group_account(s, GB, "wxid_bot_b")
        outbox = Outbox()
        for i in range(5):
            outbox.say(s, GA, f"A 群第 {i} 条")
            outbox.say(s, GB, f"B 群第 {i} 条")
            outbox.tell(s, f"wxid_contact_{i}", f"私聊 {i}")
            outbox.say(s, GN, f"无主群第 {i} 条")
    a, b = AccountPlatform("wxid_bot_a"), AccountPlatform("wxid_bot_b")
    ft = fake_time()
    await asyncio.gather(drain_all(sender_for(sessions, a, ft)), drain_all(sender_for(sessions, b, ft)))

    assert {g for g, _, _ in a.sent} <= {GA, GN} and {g for g, _, _ in b.sent} <= {GB, GN}
    assert [t for g, t, _ in a.sent if g == GA] == [f"A 群第 {i} 条" for i in range(5)]
    assert [t for g, t, _ in b.sent if g == GB] == [f"B 群第 {i} 条" for i in range(5)]
    texts = [t for _, t, _ in a.sent + b.sent] + [t for _, t in a.private + b.private]
    assert len(texts) == len(set(texts)) == 20  # every row once, by one of them
    assert all(r.sent_at is not None for r in rows(sessions))
    # whoever sent an unclaimed row is now its account; a group's unclaimed rows stay in order
    by_account = {r.account for r in rows(sessions) if r.group_id == GN}
    assert len(by_account) == 1 or [t for g, t, _ in a.sent + b.sent if g == GN]


async def test_a_sender_without_an_account_sends_everything_as_before(sessions):
    with sessions.begin() as s:
        groups_db.set_group_account(s, GA, "wxid_bot_a")
        Outbox().say(s, GA, "一个进程时照常发送")
    platform = RecordingPlatform()
    ft = fake_time()
    sender = OutboxSender(sessions, platform, Send(jitter_seconds=(0.0, 0.0)), clock=ft.clock, sleep=ft.sleep)
    assert await drain_all(sender) == 1
    assert [t for _, t, _ in platform.sent] == ["一个进程时照常发送"]


def test_of_two_accounts_claiming_one_row_at_once_one_wins(sessions):
    with sessions.begin() as s:
        pk = Outbox().tell(s, "wxid_contact", "只发一次")[0]
    won: list[bool] = []
    start = threading.Barrier(2)

    def claim(account: str) -> None:
        start.wait()
        with sessions.begin() as s:
            won.append(outgoing_db.claim_outgoing(s, pk, account))

    threads = [threading.Thread(target=claim, args=(name,)) for name in ("wxid_bot_a", "wxid_bot_b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won) == [False, True]
    with sessions.begin() as s:
        account = next(r.account for r in outgoing_db.outgoing(s) if r.pk == pk)
        assert outgoing_db.claim_outgoing(s, pk, account or "")  # its own account may claim it again
        assert not outgoing_db.claim_outgoing(s, pk, "wxid_bot_c")
