"""The watched folder: new and grown exports are read exactly once, across a restart (the cursor
read back from a real SQLite file); files being written wait; unreadable files are named, never a stop."""

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest

from bot.adapters import folder as folder_mod, formats
from bot.adapters.errors import ReadResult
from bot.adapters.folder import FolderWatch
from bot.adapters.source import SourceError
from bot.config import Config, FolderSource
from bot.sync import SyncRunner
from bot.wiring import build_pipeline, build_rule_analyzers, open_store

HEADER = "localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,NickName,Sender"


def row(n: int) -> str:
    return f"{n},g@chatroom,1,0,0,{1764032400 + 60 * n},2,第{n}条：RAG 怎么评估召回？,2025-11-25 09:00:00,,阿杰,wxid_a"


def export(path: Path, first: int, last: int, *, age: float = 60.0) -> Path:
    """A MemoTrace export of messages first..last, last modified ``age`` seconds ago."""
    path.write_bytes(("\ufeff" + "\r\n".join([HEADER, *(row(n) for n in range(first, last + 1))]) + "\r\n").encode())
    settle(path, age)
    return path


def settle(path: Path, age: float = 60.0) -> None:
    t = time.time() - age
    os.utime(path, (t, t))


def source(folder: Path, **kw) -> FolderSource:  # noqa: ANN003
    return FolderSource(kind="folder", name="exports", path=str(folder), **kw)


class Runner:
    """A sync runner on a SQLite file, opened afresh for each pull (a restart every time)."""

    def __init__(self, tmp_path: Path) -> None:
        self.config = Config.model_validate(
            {"database": {"url": f"sqlite:///{tmp_path / 'q.db'}"}, "models": {"use": False}}
        )
        self.db = tmp_path / "q.db"

    def pull(self, watch: FolderWatch):  # noqa: ANN201
        store = open_store(self.config)
        try:
            pipeline = build_pipeline(self.config, store, dry_run=True, analyzers=build_rule_analyzers(), extractors=())
            return SyncRunner(self.config, store, pipeline).pull_once(watch)
        finally:
            store.close()

    def ids(self) -> list[str]:
        with sqlite3.connect(self.db) as db:
            return sorted(r[0] for r in db.execute("select source_id from messages"))


@pytest.fixture
def runner(tmp_path: Path) -> Runner:
    return Runner(tmp_path)


def test_a_new_file_and_a_grown_file_are_read_exactly_once_across_restarts(tmp_path, runner):
    inbox = tmp_path / "exports"
    inbox.mkdir()
    watch = FolderWatch(source(inbox))
    assert runner.pull(watch).read == 0

    week1 = export(inbox / "群聊_utf8.csv", 1, 3)
    first = runner.pull(watch)
    assert (first.read, first.stored, first.errors) == (3, 3, [])
    assert runner.pull(FolderWatch(source(inbox))).read == 0  # restarted: the stored cursor says it was read

    export(week1, 1, 5)  # the export grew (exported again, same name)
    grown = runner.pull(FolderWatch(source(inbox)))
    assert (grown.read, grown.stored, grown.duplicates) == (5, 2, 3)

    export(inbox / "later_utf8.csv", 4, 7)  # an overlapping later export beside it
    later = runner.pull(FolderWatch(source(inbox)))
    assert (later.read, later.stored, later.duplicates) == (4, 2, 2)
    assert runner.pull(FolderWatch(source(inbox))).read == 0
    assert len(runner.ids()) == 7
    with sqlite3.connect(runner.db) as db:
        (cursor,) = db.execute("select cursor from source_cursors where name = 'exports'").fetchone()
    assert sorted(json.loads(cursor)) == ["later_utf8.csv", "群聊_utf8.csv"]


def test_a_file_being_written_waits_for_the_next_pull(tmp_path, runner):
    inbox = tmp_path / "exports"
    inbox.mkdir()
    fresh = export(inbox / "chat.csv", 1, 2, age=0.0)  # modified just now
    (inbox / "chat2.csv.part").write_text("partial download", "utf-8")
    (inbox / ".hidden.csv").write_text("x", "utf-8")
    (inbox / "media").mkdir()
    waited = runner.pull(FolderWatch(source(inbox)))
    assert (waited.read, waited.errors) == (0, [])
    settle(fresh)
    assert runner.pull(FolderWatch(source(inbox))).stored == 2


def test_a_file_that_changes_while_it_is_read_is_left_whole_for_the_next_pull(tmp_path, runner, monkeypatch):
    inbox = tmp_path / "exports"
    inbox.mkdir()
    f = export(inbox / "chat.csv", 1, 2)
    memotrace = formats.get_format("memotrace")

    class Growing:
        name, description = "memotrace", "grows while read"

        def sniff(self, path: Path, head: bytes) -> bool:
            return True

        def read(self, path: Path, *, group_id=None, self_id=None) -> ReadResult:  # noqa: ANN001
            result = memotrace.read(path, group_id=group_id, self_id=self_id)
            with path.open("ab") as out:  # the exporter is still writing
                out.write((row(3) + "\r\n").encode())
            return result

    monkeypatch.setattr(folder_mod.formats, "detect", lambda path: Growing())
    assert runner.pull(FolderWatch(source(inbox))).read == 0
    monkeypatch.undo()
    settle(f)
    assert runner.pull(FolderWatch(source(inbox))).stored == 3


def test_an_unreadable_file_is_named_once_and_the_rest_goes_on(tmp_path, runner):
    inbox = tmp_path / "exports"
    inbox.mkdir()
    junk = inbox / "README.txt"
    junk.write_text("这是导出文件夹\n", "utf-8")
    settle(junk)
    broken = inbox / "broken.csv"
    broken.write_text("localId,Type\n1,1\n", "utf-8")  # a MemoTrace header lacking columns
    settle(broken)
    export(inbox / "chat.csv", 1, 2)
    report = runner.pull(FolderWatch(source(inbox, format="auto")))
    assert report.stored == 2
    named = sorted(str(e) for e in report.errors)
    assert len(named) == 2 and any("README.txt:0: file: not a known export format" in e for e in named)
    assert runner.pull(FolderWatch(source(inbox))).errors == []  # named once, until it changes
    junk.write_text("这是导出文件夹，改过了\n", "utf-8")
    settle(junk)
    assert len(runner.pull(FolderWatch(source(inbox))).errors) == 1


def test_a_fixed_format_and_the_folders_group_id_are_used(tmp_path, runner):
    inbox = tmp_path / "exports"
    inbox.mkdir()
    f = inbox / "chat.csv"
    f.write_bytes(("\ufeff" + HEADER + "\r\n" + row(1).replace("g@chatroom", "5", 1) + "\r\n").encode())
    settle(f)
    runner.pull(FolderWatch(source(inbox, format="memotrace", group_id="real@chatroom")))
    with sqlite3.connect(runner.db) as db:
        assert db.execute("select group_id from messages").fetchall() == [("real@chatroom",)]


def test_a_missing_folder_or_unknown_format_is_a_source_error(tmp_path):
    with pytest.raises(SourceError) as e:
        FolderWatch(source(tmp_path / "nowhere")).pull({})
    assert e.value.retry and "nowhere" in str(e.value)
    with pytest.raises(SourceError) as e:
        FolderWatch(source(tmp_path, format="html"))
    assert not e.value.retry and "unknown export format 'html'" in str(e.value)
