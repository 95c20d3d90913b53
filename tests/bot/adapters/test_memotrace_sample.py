"""The MemoTrace sample export (our own writing: a reading club's Saturday evening) passes the check
every export format passes: the same messages as its JSON Lines twin, the same digest."""

from __future__ import annotations

from datetime import date

from bot.adapters.memotrace import read_memotrace_csv
from tests.bot.adapters.equivalence import SAMPLES, assert_same_digest

GROUP = "36912345678@chatroom"


def test_the_memotrace_sample_renders_the_same_digest_as_its_json_lines_twin(tmp_path):
    imported = read_memotrace_csv(
        SAMPLES / "memotrace.csv", group_id=GROUP, self_id="wxid_me0self", group_name="读书会·人类简史共读"
    )
    assert len(imported.messages) == 21
    assert_same_digest(imported, SAMPLES / "memotrace.jsonl", GROUP, date(2026, 11, 21), tmp_path, topic="读书 历史")
