"""The pull-source runner: ``qunzhi sync --once`` with a fake source and a real folder, the cursor
saved only after what it covers is stored, the failure policy, and pull sources inside the live
bot (under asyncio debug mode: the pulls never block the loop, the DB work runs on the worker)."""

import asyncio
import os
import sqlite3
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import bot.sync as sync_mod
from bot.adapters.errors import RowError
from bot.adapters.source import PullResult, SourceError
from bot.cli import main
from bot.config import Config
from bot.live import LiveBot
from bot.message import GroupMessage, MessageKind, RoomInfo
from bot.store import cursors as cursors_db, groups as groups_db
from bot.sync import PullReport, SyncRunner, build_pull_sources, run_blocking
from bot.wiring import build_pipeline, build_rule_analyzers, open_store
from tests.bot.live_helpers import RecordingPlatform, asyncio_debug, off_loop  # noqa: F401 - a fixture

T0 = datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc)
AD = "兼职刷单日赚500，加V：abc12345 详询"


def msg(n: int, text: str = "") -> GroupMessage:
    return GroupMessage(
        id=f"p{n}",
        source="fakepull",
        group_id="g@chatroom",
        sender_id=f"wxid_{n % 3}",
        sender_name=f"成员{n % 3}",
        sent_at=T0 + timedelta(minutes=n),
        kind=MessageKind.TEXT,
        text=text or f"第{n}条：LoRA 的学习率怎么设？",
    )


class FakePull:
    """A source whose history grows by ``step`` messages per pull; the cursor is the last number."""

    def __init__(self, name: str = "fake", step: int = 3, fail: list[Exception] | None = None) -> None:
        self.name, self.step, self.fail = name, step, list(fail or [])
        self.every = timedelta(minutes=1)
        self.seen: list[dict[str, Any]] = []
        self.available = 0

    def pull(self, cursor: Mapping[str, Any]) -> PullResult:
        self.seen.append(dict(cursor))
        if self.fail:
            raise self.fail.pop(0)
        self.available += self.step
        last = int(cursor.get("last", 0))
        new = [msg(n) for n in range(max(1, last - 1), self.available + 1)]  # overlaps by 2, as re-pulls do
        return PullResult(
            messages=new,
            rooms=[RoomInfo("g@chatroom", "拉取的群名", "wxid_owner", ("wxid_admin",))],
            errors=[RowError("api", 7, "message 7: time: missing")],
            cursor={"last": self.available},
        )


def config_for(tmp_path: Path, extra: str = "") -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "q.db"}"\n[models]\nuse = false\n' + extra, "utf-8")
    return cfg


def test_sync_once_pulls_each_source_and_resumes_from_the_stored_cursor(tmp_path, capsys, caplog, monkeypatch):
    cfg = config_for(tmp_path, f'[[sources]]\nkind = "folder"\nname = "fake"\npath = "{tmp_path}"\n')
    fake = FakePull()
    monkeypatch.setattr(sync_mod, "build_pull_sources", lambda config, only=None: [fake])
    assert main(["--config", str(cfg), "sync", "--once"]) == 0
    out = capsys.readouterr()
    assert "sync fake: 3 messages read, 1 malformed records skipped; 3 stored, 0 already stored, 1 rooms" in out.out
    assert "source fake: skipped api:7: message 7" in caplog.text
    assert main(["--config", str(cfg), "sync", "--once"]) == 0  # a new process: the cursor from the database
    assert "5 messages read, 1 malformed records skipped; 3 stored, 2 already stored" in capsys.readouterr().out
    assert fake.seen == [{}, {"last": 3}]
    with sqlite3.connect(tmp_path / "q.db") as db:
        assert db.execute("select count(*) from messages where source = 'fakepull'").fetchone() == (6,)
        assert db.execute("select name, owner_id from groups").fetchall() == [("拉取的群名", "wxid_owner")]


def test_sync_once_on_a_folder_source_end_to_end(tmp_path, capsys):
    inbox = tmp_path / "exports"
    inbox.mkdir()
    f = inbox / "chat.csv"
    header = "localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,NickName,Sender"
    f.write_text(f"{header}\n1,g@chatroom,1,0,0,1764032400,2,早上好,x,,阿杰,wxid_a\n", "utf-8")
    os.utime(f, (1764032400, 1764032400))
    cfg = config_for(tmp_path, f'[[sources]]\nkind = "folder"\nname = "exports"\npath = "{inbox}"\n')
    assert main(["--config", str(cfg), "sync", "--once", "--source", "exports"]) == 0
    assert "sync exports: 1 messages read" in capsys.readouterr().out
    assert main(["--config", str(cfg), "sync", "--once"]) == 0
    assert "sync exports: 0 messages read" in capsys.readouterr().out
    assert main(["--config", str(cfg), "sync", "--once", "--source", "nope"]) == 2
    assert "no [[sources]] entry named 'nope' (configured: exports)" in capsys.readouterr().err
    assert main(["--config", str(config_for(tmp_path)), "sync", "--once"]) == 2
    assert "no [[sources]]" in capsys.readouterr().err


def runner_on(tmp_path: Path) -> SyncRunner:
    config = Config.model_validate({"database": {"url": f"sqlite:///{tmp_path / 'q.db'}"}, "models": {"use": False}})
    store = open_store(config)
    return SyncRunner(config, store, build_pipeline(config, store, dry_run=True, analyzers=build_rule_analyzers()))


def test_the_cursor_is_saved_only_after_the_messages_are_stored(tmp_path, monkeypatch):
    runner = runner_on(tmp_path)
    fake = FakePull()

    def broken(messages):  # noqa: ANN001, ANN202
        raise RuntimeError("disk full")

    monkeypatch.setattr(runner.pipeline, "ingest", broken)
    with pytest.raises(RuntimeError):
        runner.pull_once(fake)
    with runner.store.sessions() as s:
        assert cursors_db.cursor(s, "fake") == {}  # the next pull starts over: nothing lost
    monkeypatch.undo()
    assert runner.pull_once(fake).stored == 6
    runner.store.close()


def test_failures_retry_next_period_or_stop_the_source_loudly(tmp_path, caplog):
    runner = runner_on(tmp_path)
    flaky = FakePull("flaky", fail=[SourceError("connection refused"), ValueError("bug")])
    dead = FakePull("dead", fail=[SourceError("wrong secret", retry=False)])
    reports: list[PullReport] = []
    now = [0.0]
    run_blocking(
        runner,
        [flaky, dead],
        on_report=reports.append,
        clock=lambda: now[0],
        sleep=lambda s: now.__setitem__(0, now[0] + s),
        rounds=5,
    )
    by_source = [(r.source, bool(r.failure), r.stop) for r in reports]
    assert by_source[:2] == [("flaky", True, False), ("dead", True, True)]
    assert [r for r in by_source if r[0] == "dead"] == [("dead", True, True)]  # never pulled again
    assert [r.stored for r in reports if r.source == "flaky"] == [0, 0, 3, 3]  # retried each period
    assert "this source stops until qunzhi is restarted" in caplog.text and "wrong secret" in caplog.text
    assert now[0] == pytest.approx(180.0)  # one period apart
    runner.store.close()


def test_build_pull_sources_loads_the_configured_kinds(tmp_path):
    config = Config.model_validate(
        {
            "sources": [
                {"kind": "folder", "name": "f", "path": str(tmp_path)},
                {"kind": "folder", "name": "g", "path": "x"},
            ]
        }
    )
    built = build_pull_sources(config)
    assert [s.name for s in built] == ["f", "g"] and type(built[0]).__name__ == "FolderWatch"
    assert [s.name for s in build_pull_sources(config, "g")] == ["g"]
    assert build_pull_sources(Config()) == []


async def test_the_live_bot_pulls_its_sources_as_a_dry_run_without_blocking_the_loop(asyncio_debug, tmp_path):  # noqa: F811
    config = Config.model_validate(
        {
            "database": {"url": f"sqlite:///{tmp_path / 'q.db'}"},
            "models": {"use": False},
            "groups": [
                {"id": "g@chatroom", "moderation": {"mode": "kick", "kick_after_strikes": 1, "ad_threshold": 0.6}}
            ],
        }
    )
    store = await off_loop(open_store, config)

    class AdPull(FakePull):
        def pull(self, cursor: Mapping[str, Any]) -> PullResult:
            result = super().pull(cursor)
            result.messages.append(msg(100, AD))
            return result

    fake = AdPull(step=4)
    platform = RecordingPlatform()
    bot = await off_loop(LiveBot, config, store, platform, analyzers=build_rule_analyzers(), pull_sources=[fake])
    task = asyncio.create_task(bot.run())
    try:
        saved: dict[str, Any] = {}
        for _ in range(300):  # the cursor is saved last, after the messages are stored and analysed
            await asyncio.sleep(0.02)
            saved = await off_loop(saved_cursor, store)
            if saved:
                break
        assert saved == {"last": 4}
        assert await off_loop(analysed_count, tmp_path / "q.db") == (5, 5)  # by the pull's own pipeline
        with store.sessions() as s:
            assert groups_db.group(s, "g@chatroom").name == "拉取的群名"  # type: ignore[union-attr]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        store.close()
    assert platform.kicks == [] and platform.sent == []  # history is never acted on
    with sqlite3.connect(tmp_path / "q.db") as db:  # ... only judged: what would have been done is recorded
        assert db.execute("select count(*), min(dry_run) from moderation_actions").fetchone() == (1, 1)


def saved_cursor(store) -> dict[str, Any]:  # noqa: ANN001
    with store.sessions() as s:
        return cursors_db.cursor(s, "fake")


def analysed_count(db: Path) -> tuple[int, int]:
    with sqlite3.connect(db) as conn:
        total, done = conn.execute(
            "select count(*), sum(analysis_status = 'done') from messages where source = 'fakepull'"
        ).fetchone()
    return int(total), int(done or 0)


def test_qunzhi_sync_against_a_chatlog_server_takes_each_message_once_across_a_restart(tmp_path, capsys):
    """The issue's check, end to end through the command: `qunzhi sync --once` against a local
    chatlog-compatible server; messages added between pulls (one in the very second of the last
    pulled message) are stored exactly once, and a new process (the second and third commands)
    resumes from the stored cursor."""
    from tests.bot.adapters.chatlog_server import ChatlogServer

    server = ChatlogServer()
    try:
        room = "44455566677@chatroom"
        server.add_room(room, "跑步打卡群", owner="wxid_run1", users=[("wxid_run1", "阿跑"), ("wxid_run2", "小慢")])
        t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=2)
        server.add(t0, room, "wxid_run1", "阿跑", "今天五公里打卡")
        server.add(t0 + timedelta(minutes=1), room, "wxid_run2", "小慢", "我跑了三公里，配速七分")
        cfg = config_for(
            tmp_path,
            f'[[sources]]\nkind = "chatlog"\nname = "pc"\nurl = "{server.url}"\ntalkers = ["{room}"]\n',
        )

        def stored() -> list[tuple[str, str]]:
            with sqlite3.connect(tmp_path / "q.db") as db:
                return db.execute("select source_id, text from messages order by sent_at, pk").fetchall()

        assert main(["--config", str(cfg), "sync", "--once"]) == 0
        assert [t for _, t in stored()] == ["今天五公里打卡", "我跑了三公里，配速七分"]
        # between the pulls: one more in the same second as the last one pulled, and a later one
        server.add(t0 + timedelta(minutes=1), room, "wxid_run1", "阿跑", "厉害，明天一起")
        server.add(t0 + timedelta(minutes=5), room, "wxid_run2", "小慢", "好，早上七点公园门口")
        assert main(["--config", str(cfg), "sync", "--once"]) == 0  # a new process: the cursor from the store
        assert main(["--config", str(cfg), "sync", "--once"]) == 0  # and again: nothing new
        texts = [t for _, t in stored()]
        assert texts == ["今天五公里打卡", "我跑了三公里，配速七分", "厉害，明天一起", "好，早上七点公园门口"]
        assert len({sid for sid, _ in stored()}) == 4
        with sqlite3.connect(tmp_path / "q.db") as db:
            assert db.execute("select name from groups where id = ?", (room,)).fetchone() == ("跑步打卡群",)
        capsys.readouterr()
    finally:
        server.stop()
